import { afterEach, describe, expect, it } from 'vitest';
import type { EventReading } from '../../src/domain/reading.ts';
import { type Harness, removeDir, startHarness } from './harness.ts';
import { ackOf, connectRaw, publishPacket, type RawClient } from './raw-mqtt.ts';

/**
 * One press, one reading: every way a device redelivers an event (design §3) is recognised and acknowledged
 * without being taken again, and counted; a new press is never mistaken for one. Each "not taken" is checked
 * after the hub acknowledged the redelivery: ingest hands an event on before it acknowledges it, so a reading
 * that was going to come would be there by then.
 */
let h: Harness | undefined;
const raws: RawClient[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const r of raws.splice(0)) r.socket.destroy();
  await h?.close();
  h = undefined;
  for (const d of dirs.splice(0)) removeDir(d);
});

const PRESS = '{"event":"press"}';

function presses(t: Harness): EventReading[] {
  return t.readings.filter((r): r is EventReading => r.kind === 'event');
}

async function raw(t: Harness, opts: { clean?: boolean; clientId?: string } = {}): Promise<RawClient> {
  const d = t.devices.call_button;
  const c = await connectRaw(t.port, { username: d.id, password: d.secret, ...opts });
  raws.push(c);
  return c;
}

async function publishAcked(
  c: RawClient,
  topic: string,
  messageId: number,
  opts: { dup?: boolean; payload?: string; qos?: 1 | 2 } = {},
): Promise<void> {
  const qos = opts.qos ?? 1;
  const from = c.received.length;
  c.publish({ topic, payload: opts.payload ?? PRESS, qos, messageId, dup: opts.dup ?? false });
  await c.next(ackOf(qos === 1 ? 'puback' : 'pubrec', messageId), from);
}

const duplicates = (t: Harness, reason: string) => t.counter('gridhub_ingest_duplicates_total', { reason });

describe('QoS 1 redeliveries', () => {
  it('a DUP resend with the same packet id after the PUBACK was lost is acknowledged, not taken again', async () => {
    const t = await startHarness();
    h = t;
    const c = await raw(t);
    const topic = `gh/${t.devices.call_button.id}/event`;
    await publishAcked(c, topic, 7);
    // the device did not see that PUBACK and resends (MQTT-4.4.0-1 sets DUP)
    await publishAcked(c, topic, 7, { dup: true });
    expect(presses(t)).toHaveLength(1);
    expect(await duplicates(t, 'dup_flag')).toBe(1);
  });

  it('the same packet id on the same connection without DUP is a new press (ids are free after PUBACK)', async () => {
    const t = await startHarness();
    h = t;
    const c = await raw(t);
    const topic = `gh/${t.devices.call_button.id}/event`;
    // firmware that numbers every publish 1
    await publishAcked(c, topic, 1);
    await publishAcked(c, topic, 1);
    await publishAcked(c, topic, 1);
    expect(presses(t)).toHaveLength(3);
    expect(await t.counter('gridhub_ingest_duplicates_total')).toBe(0);
  });

  it('a DUP flag on another payload is a new message, not a redelivery of the first', async () => {
    const t = await startHarness();
    h = t;
    const c = await raw(t);
    const topic = `gh/${t.devices.call_button.id}/event`;
    await publishAcked(c, topic, 3);
    await publishAcked(c, topic, 3, { dup: true, payload: '{"event":"cancel"}' });
    expect(presses(t).map((r) => r.event)).toEqual(['press', 'cancel']);
  });

  it('a resend in the same socket read as its original is taken once, and acknowledged after the commit', async () => {
    const t = await startHarness();
    h = t;
    const c = await raw(t);
    const topic = `gh/${t.devices.call_button.id}/event`;
    c.sendAll([
      publishPacket({ topic, payload: PRESS, qos: 1, messageId: 4 }),
      publishPacket({ topic, payload: PRESS, qos: 1, messageId: 4, dup: true }),
      publishPacket({ topic, payload: PRESS, qos: 1, messageId: 5 }),
    ]);
    await c.next(ackOf('puback', 5), 0);
    const acks = c.received.filter((p) => p.cmd === 'puback');
    expect(acks).toHaveLength(3);
    expect(presses(t)).toHaveLength(2);
    expect(presses(t).every((r) => typeof r.journalId === 'number')).toBe(true);
    expect(await duplicates(t, 'dup_flag')).toBe(1);
  });

  it('across a reconnect (clean=false): a resend after a dropped connection is recognised with or without DUP', async () => {
    const t = await startHarness();
    h = t;
    const topic = `gh/${t.devices.call_button.id}/event`;
    const first = await raw(t, { clean: false });
    await publishAcked(first, topic, 21);
    await publishAcked(first, topic, 22);
    // the network drops before the device saw those PUBACKs: no DISCONNECT
    await first.drop();
    const second = await raw(t, { clean: false });
    // mqtt.js resends its unacknowledged messages first on reconnect, without DUP; a strict client sets it
    await publishAcked(second, topic, 21);
    await publishAcked(second, topic, 22, { dup: true });
    expect(presses(t)).toHaveLength(2);
    expect(await duplicates(t, 'reconnect')).toBe(1);
    expect(await duplicates(t, 'dup_flag')).toBe(1);
    // and a new press on the new connection is new
    await publishAcked(second, topic, 23);
    expect(presses(t)).toHaveLength(3);
  });

  it('after a clean DISCONNECT the device had its PUBACKs: the same id and payload next time is a new press', async () => {
    const t = await startHarness();
    h = t;
    const topic = `gh/${t.devices.call_button.id}/event`;
    const first = await raw(t, { clean: false });
    await publishAcked(first, topic, 1);
    await first.disconnect();
    const second = await raw(t, { clean: false });
    await publishAcked(second, topic, 1);
    expect(presses(t)).toHaveLength(2);
    expect(await t.counter('gridhub_ingest_duplicates_total')).toBe(0);
  });

  it('a resend older than mqtt.redeliveryWindowMs is a new press', async () => {
    const t = await startHarness({ redeliveryWindowMs: 60_000 });
    h = t;
    const topic = `gh/${t.devices.call_button.id}/event`;
    const first = await raw(t);
    await publishAcked(first, topic, 9);
    await first.drop();
    t.clock.advance(60_001);
    const second = await raw(t);
    await publishAcked(second, topic, 9);
    expect(presses(t)).toHaveLength(2);
    // and what has passed its window is deleted, so the table holds only recent identities
    t.clock.advance(60_001);
    await publishAcked(second, topic, 10);
    const keys = t.db.prepare<[], { key: string }>('SELECT key FROM ingest_seen ORDER BY key').all();
    expect(keys.map((k) => k.key)).toEqual(['p:10']);
  });
});

describe('QoS 2 redeliveries', () => {
  it('a PUBLISH resent with DUP while PUBREL is withheld is answered PUBREC and taken once; the id is free after PUBREL', async () => {
    const t = await startHarness();
    h = t;
    const c = await raw(t);
    const topic = `gh/${t.devices.call_button.id}/event`;
    await publishAcked(c, topic, 5, { qos: 2 });
    // PUBREC "lost": the device resends the PUBLISH with DUP, twice
    await publishAcked(c, topic, 5, { qos: 2, dup: true });
    await publishAcked(c, topic, 5, { qos: 2, dup: true });
    expect(presses(t)).toHaveLength(1);
    expect(await duplicates(t, 'qos2_unreleased')).toBe(2);
    let from = c.received.length;
    c.send({ cmd: 'pubrel', messageId: 5 });
    await c.next(ackOf('pubcomp', 5), from);
    // exchange complete: the same id is a new message now
    await publishAcked(c, topic, 5, { qos: 2 });
    expect(presses(t)).toHaveLength(2);
    from = c.received.length;
    c.send({ cmd: 'pubrel', messageId: 5 });
    await c.next(ackOf('pubcomp', 5), from);
  });

  it('an unreleased QoS 2 press resent on a new connection (clean=false) is taken once', async () => {
    const t = await startHarness();
    h = t;
    const topic = `gh/${t.devices.call_button.id}/event`;
    const first = await raw(t, { clean: false, clientId: 'button-q2' });
    await publishAcked(first, topic, 40, { qos: 2 });
    await first.drop();
    const second = await raw(t, { clean: false, clientId: 'button-q2' });
    await publishAcked(second, topic, 40, { qos: 2, dup: true });
    expect(presses(t)).toHaveLength(1);
    expect(await duplicates(t, 'dup_flag')).toBe(1);
  });
});

describe('across a hub restart', () => {
  it('a press resent after the hub restarted is recognised from SQLite', async () => {
    const t = await startHarness();
    const dir = t.dir;
    dirs.push(dir);
    const device = t.devices.call_button;
    const topic = `gh/${device.id}/event`;
    const c = await raw(t, { clean: false });
    await publishAcked(c, topic, 300);
    expect(presses(t)).toHaveLength(1);
    c.socket.destroy();
    await t.close();

    const again = await startHarness({}, { dir });
    h = again;
    const c2 = await connectRaw(again.port, { username: device.id, password: device.secret, clean: false });
    raws.push(c2);
    // the device never got the PUBACK before the hub went away, and resends (mqtt.js: without DUP)
    await publishAcked(c2, topic, 300);
    expect(presses(again)).toHaveLength(0);
    expect(await duplicates(again, 'reconnect')).toBe(1);
    // a new press after the restart is taken
    await publishAcked(c2, topic, 301);
    expect(presses(again)).toHaveLength(1);
  });
});

describe('eventId', () => {
  it('identifies an event whatever packet id or connection brings it again', async () => {
    const t = await startHarness();
    h = t;
    const topic = `gh/${t.devices.call_button.id}/event`;
    const first = await raw(t);
    await publishAcked(first, topic, 1, { payload: '{"event":"press","eventId":"p-0001"}' });
    await first.disconnect();
    const second = await raw(t);
    // a gateway that replays its buffer with fresh packet ids after a clean reconnect
    await publishAcked(second, topic, 77, { payload: '{"event":"press","eventId":"p-0001"}' });
    await publishAcked(second, topic, 78, { payload: '{"event":"press","eventId":"p-0002"}' });
    expect(presses(t).map((r) => r.eventId)).toEqual(['p-0001', 'p-0002']);
    expect(await duplicates(t, 'event_id')).toBe(1);
  });

  it('in an array, drops only the events already taken', async () => {
    const t = await startHarness();
    h = t;
    const topic = `gh/${t.devices.call_button.id}/event`;
    const c = await raw(t);
    await publishAcked(c, topic, 1, { payload: '{"event":"press","eventId":"a"}' });
    await publishAcked(c, topic, 2, {
      payload:
        '[{"event":"press","eventId":"a"},{"event":"press","eventId":"b"},{"event":"press","eventId":"b"}]',
    });
    expect(presses(t).map((r) => r.eventId)).toEqual(['a', 'b']);
    expect(await duplicates(t, 'event_id')).toBe(2);
  });

  it('is part of the contract: a malformed eventId is answered on the errors topic', async () => {
    const t = await startHarness();
    h = t;
    const id = t.devices.call_button.id;
    const c = await t.connectDevice('call_button');
    const answer = new Promise<string>((resolve) => c.on('message', (_t, p) => resolve(p.toString())));
    await c.subscribeAsync(`gh/${id}/errors`);
    await c.publishAsync(`gh/${id}/event`, '{"event":"press","eventId":"has space"}', { qos: 1 });
    expect(JSON.parse(await answer)).toMatchObject({ code: 'PAYLOAD_INVALID', field: 'eventId' });
    expect(presses(t)).toHaveLength(0);
  });
});
