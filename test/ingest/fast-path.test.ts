import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../src/domain/reading.ts';
import { topics } from '../../src/domain/wire.ts';
import { type Harness, startHarness, until } from './harness.ts';
import { ackOf, connectRaw, publishPacket, type RawClient } from './raw-mqtt.ts';

/**
 * Events take the fast path past queued telemetry (design §10, issue #13), and under overload QoS 0 telemetry
 * is shed first — counted — while nothing acknowledged at QoS 1 goes missing.
 */
let h: Harness | undefined;
const raws: RawClient[] = [];

afterEach(async () => {
  for (const r of raws.splice(0)) r.socket.destroy();
  await h?.close();
  h = undefined;
});

async function rawSmoke(t: Harness): Promise<RawClient> {
  const d = t.devices.smoke;
  const c = await connectRaw(t.port, { username: d.id, password: d.secret });
  raws.push(c);
  return c;
}

/** Keep the CPU busy for `ms`: a slow stage, without timers (the hub's clock is virtual, the event loop is not). */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy on purpose
  }
}

const label = (r: Reading) => (r.kind === 'event' ? r.event : r.kind);

describe('the fast path for events', () => {
  it('an event behind a telemetry flood in one socket read is handed on before the flood, events in order', async () => {
    const t = await startHarness();
    h = t;
    const c = await rawSmoke(t);
    const id = t.devices.smoke.id;
    const flood = Array.from({ length: 400 }, (_, i) =>
      publishPacket({ topic: `gh/${id}/telemetry`, payload: `{"smoke":0.0${i % 10}}`, qos: 0 }),
    );
    c.sendAll([
      ...flood,
      publishPacket({ topic: `gh/${id}/event`, payload: '{"event":"alarm"}', qos: 1, messageId: 1 }),
      ...flood,
      publishPacket({ topic: `gh/${id}/event`, payload: '{"event":"tamper"}', qos: 1, messageId: 2 }),
    ]);
    await c.next(ackOf('puback', 2), 0);
    await until(() => t.readings.length === 802, 5_000, 'every reading');
    const order = t.readings.map(label);
    const alarm = order.indexOf('alarm');
    const tamper = order.indexOf('tamper');
    // before the change the alarm waited for the 400 readings ahead of it, and the tamper for 800
    expect(alarm).toBeLessThan(400);
    expect(tamper).toBeLessThan(800);
    expect(alarm).toBeLessThan(tamper);
  });

  it('an event on another socket overtakes a telemetry flood that is still queued', async () => {
    const t = await startHarness();
    h = t;
    const flooder = await rawSmoke(t);
    const id = t.devices.smoke.id;
    const button = t.devices.call_button;
    const presser = await connectRaw(t.port, { username: button.id, password: button.secret });
    raws.push(presser);
    // a downstream that takes 0.2 ms a reading (a busy rules stage or sink), so that the flood is still queued
    // when the press comes in however fast this machine is: with the bare sink the hub could take all 3 000
    // before the press was even sent, and the press came last without anything being overtaken
    t.sink.onReading = (r) => {
      if (r.kind === 'telemetry') spin(0.2);
      t.readings.push(r);
    };
    const n = 3_000;
    flooder.sendAll(
      Array.from({ length: n }, (_, i) =>
        publishPacket({ topic: `gh/${id}/telemetry`, payload: `{"smoke":0.0${i % 10}}`, qos: 0 }),
      ),
    );
    // once the hub has started on the flood, the press comes in on its own connection
    await until(() => t.readings.length > 0, 5_000, 'the flood to start');
    presser.publish({ topic: `gh/${button.id}/event`, payload: '{"event":"press"}', qos: 1, messageId: 9 });
    await presser.next(ackOf('puback', 9), 0);
    const takenWhenAcked = t.readings.length;
    await until(() => t.readings.length === n + 1, 10_000, 'every reading');
    // the press was acknowledged while most of the flood was still waiting, and went ahead of it
    expect(takenWhenAcked).toBeLessThan(n / 2);
    expect(t.readings.map(label).indexOf('press')).toBeLessThan(n / 2);
  });

  it('a worker’s alarm handed to the broker is written before the telemetry slice queued ahead of it', async () => {
    const t = await startHarness();
    h = t;
    const phone = await t.connect(t.worker.username, t.worker.token, { clientId: 'phone-li' });
    await phone.subscribeAsync(topics.workerAlarms(t.worker.personId), { qos: 1 });
    const flooder = await rawSmoke(t);
    const id = t.devices.smoke.id;
    const button = t.devices.call_button;
    const presser = await connectRaw(t.port, { username: button.id, password: button.secret });
    raws.push(presser);
    // 0.2 ms a reading, so a slice of the queue takes its full 4 ms and a flood stays queued behind it
    let takenAtPublish = -1;
    t.sink.onReading = (r) => {
      if (r.kind === 'telemetry') spin(0.2);
      t.readings.push(r);
      // as the dispatcher does once the press's alert has committed: the worker's alarm goes to the broker
      if (r.kind === 'event') {
        takenAtPublish = t.readings.length;
        void t.ingest.publishToWorker(t.worker.personId, { kind: 'alarm', deviceId: button.id });
      }
    };
    let takenAtAlarm = -1;
    phone.on('message', () => {
      takenAtAlarm = t.readings.length;
    });
    const n = 3_000;
    flooder.sendAll(
      Array.from({ length: n }, (_, i) =>
        publishPacket({ topic: `gh/${id}/telemetry`, payload: `{"smoke":0.0${i % 10}}`, qos: 0 }),
      ),
    );
    await until(() => t.readings.length > 0, 5_000, 'the flood to start');
    presser.publish({ topic: `gh/${button.id}/event`, payload: '{"event":"press"}', qos: 1, messageId: 3 });
    await until(() => takenAtAlarm >= 0, 10_000, 'the alarm');
    expect(takenAtPublish).toBeGreaterThan(0);
    expect(takenAtPublish).toBeLessThan(n / 2);
    // not one reading was taken between the alarm's publish and its arrival: the slice queued ahead of the
    // broker's write stepped aside (before, a whole slice, about 20 readings here, went first)
    expect(takenAtAlarm).toBe(takenAtPublish);
    await until(() => t.readings.length === n + 1, 20_000, 'every reading');
  });
});

describe('overload: bounded queue, QoS 0 shed first', () => {
  it('sheds QoS 0 telemetry over mqtt.telemetryQueueReadings, counted; QoS 1 telemetry and events are all taken', async () => {
    const t = await startHarness({ telemetryBackpressureReadings: 10, telemetryQueueReadings: 50 });
    h = t;
    const c = await rawSmoke(t);
    const id = t.devices.smoke.id;
    const burst = Array.from({ length: 300 }, () =>
      publishPacket({ topic: `gh/${id}/telemetry`, payload: '{"smoke":0.01}', qos: 0 }),
    );
    const qos1 = Array.from({ length: 5 }, (_, i) =>
      publishPacket({ topic: `gh/${id}/telemetry`, payload: '{"smoke":0.02}', qos: 1, messageId: 100 + i }),
    );
    c.sendAll([
      ...burst,
      ...qos1,
      publishPacket({ topic: `gh/${id}/event`, payload: '{"event":"alarm"}', qos: 1, messageId: 200 }),
    ]);
    // the last QoS 1 telemetry is acknowledged only once handed on, after everything queued before it
    await c.next(ackOf('puback', 104), 0);
    await c.next(ackOf('puback', 200), 0);
    const telemetry = t.readings.filter((r) => r.kind === 'telemetry');
    const shed = await t.counter('gridhub_ingest_shed_total', { channel: 'telemetry', qos: '0' });
    expect(shed).toBeGreaterThan(0);
    expect(telemetry.filter((r) => r.qos === 0).length + shed).toBe(300);
    expect(telemetry.filter((r) => r.qos === 1)).toHaveLength(5);
    expect(t.readings.filter((r) => r.kind === 'event')).toHaveLength(1);
  });

  it('below the bound nothing is shed: a full socket read waits (backpressure) instead', async () => {
    const t = await startHarness({ telemetryBackpressureReadings: 10, telemetryQueueReadings: 10_000 });
    h = t;
    const c = await rawSmoke(t);
    const id = t.devices.smoke.id;
    c.sendAll([
      ...Array.from({ length: 300 }, () =>
        publishPacket({ topic: `gh/${id}/telemetry`, payload: '{"smoke":0.01}', qos: 0 }),
      ),
      publishPacket({ topic: `gh/${id}/telemetry`, payload: '{"smoke":0.02}', qos: 1, messageId: 1 }),
    ]);
    await c.next(ackOf('puback', 1), 0);
    expect(t.readings).toHaveLength(301);
    expect(await t.counter('gridhub_ingest_shed_total')).toBe(0);
  });
});
