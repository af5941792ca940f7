import { afterEach, describe, expect, it } from 'vitest';
import type { AlertsConfig } from '../../src/alerts/config.ts';
import { Receiver } from '../channels/receiver.ts';
import { addGridRobot, createHarness, type Harness, raise, seedCommunity } from './fixtures.ts';

let h: Harness | undefined;
let rx: Receiver | undefined;

afterEach(async () => {
  await rx?.stop();
  await h?.close();
  h = undefined;
  rx = undefined;
});

function setup(config: Partial<AlertsConfig> = {}): Harness {
  h = createHarness({ config: { retryJitter: 0, instanceId: 'hub-a', ...config } });
  seedCommunity(h.registry);
  return h;
}

const outboxOf = (hh: Harness, channel: string, target: string) =>
  hh.db
    .prepare<[string, string], { state: string; claimed_by: string | null; lease_until: number | null }>(
      'SELECT state, claimed_by, lease_until FROM alert_outbox WHERE channel = ? AND target = ? ORDER BY id',
    )
    .all(channel, target);

describe('claimed outbox rows', () => {
  it('leaves a row claimed by another hub alone until its lease runs out, then takes it over and delivers it', async () => {
    const hh = setup({ claimLeaseMs: 60_000 });
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1' }));
    // Hub B claimed the worker's alarm and died before sending it.
    hh.db
      .prepare(
        "UPDATE alert_outbox SET claimed_by = 'hub-b', lease_until = ? WHERE channel = 'mqtt' AND target = 'w1'",
      )
      .run(hh.clock.now() + 30_000);
    await hh.dispatcher.start();
    await hh.dispatcher.drain();
    expect(hh.publisher.to('p1')).toHaveLength(1); // other lanes are not held up by it
    expect(hh.publisher.to('w1')).toHaveLength(0);

    await hh.clock.advanceAsync(29_999);
    await hh.dispatcher.drain();
    expect(hh.publisher.to('w1')).toHaveLength(0);
    await hh.clock.advanceAsync(1);
    await hh.dispatcher.drain();
    expect(hh.publisher.to('w1')).toHaveLength(1);
    // The outcome clears the claim.
    expect(outboxOf(hh, 'mqtt', 'w1')).toEqual([{ state: 'done', claimed_by: null, lease_until: null }]);
  });

  it('takes back its own claims from before a restart at once instead of waiting out the lease', async () => {
    const hh = setup();
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1' }));
    hh.db
      .prepare(
        "UPDATE alert_outbox SET claimed_by = 'hub-a', lease_until = ? WHERE channel = 'mqtt' AND target = 'w1'",
      )
      .run(hh.clock.now() + 60_000);
    await hh.dispatcher.start();
    await hh.dispatcher.drain();
    expect(hh.publisher.to('w1')).toHaveLength(1);
  });

  it('hands the worker’s MQTT alarm to the broker as the alert’s transaction commits, while another lane hangs', async () => {
    rx = await new Receiver().start();
    rx.script('/robot', 'hang');
    const hh = setup({ webhooks: { robot: { url: rx.url('/robot') } }, laneTimeoutsMs: { webhook: 60_000 } });
    await addGridRobot(hh);
    await hh.dispatcher.start();
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1', deviceId: 'smoke-1' }));
    await until(() => rx?.at('/robot').length === 1);

    // No await, no timer, no clock movement: by the time handle() returns the alarm is with the publisher.
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b2', deviceId: 'smoke-2' }));
    expect(hh.publisher.to('w2')).toHaveLength(1);
    // …and recorded like every delivery once the broker has taken it.
    await until(() => outboxOf(hh, 'mqtt', 'w2')[0]?.state === 'done');
    const id =
      hh.db
        .prepare<[string], { id: string }>(
          'SELECT id FROM alerts WHERE device_id = ? ORDER BY opened_at DESC LIMIT 1',
        )
        .get('smoke-2')?.id ?? '';
    expect(
      (await hh.dispatcher.timeline(id)).some((e) => e.type === 'delivered' && e.data.channel === 'mqtt'),
    ).toBe(true);
    // The robot's attempt is still open.
    expect(outboxOf(hh, 'webhook', 'robot')[0]).toMatchObject({ state: 'pending', claimed_by: 'hub-a' });
  });

  it('sends nothing of a raise that rolled back after queuing its alarms, and frees the lane for the next one', async () => {
    // One slot per lane: a slot kept by the rolled-back raise would hold the worker's phone lane for good.
    const hh = setup({ laneConcurrency: 1 });
    await hh.dispatcher.start();
    await hh.dispatcher.drain();
    // The ladder's timers are written after the alarms are queued: refusing them rolls the whole raise back.
    hh.db.exec(
      "CREATE TRIGGER refuse_timers BEFORE INSERT ON alert_timers BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
    );
    await expect(
      hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1', deviceId: 'smoke-1' })),
    ).rejects.toThrow(/disk says no/);
    expect(hh.db.prepare('SELECT count(*) AS n FROM alert_outbox').get()).toEqual({ n: 0 });

    hh.db.exec('DROP TRIGGER refuse_timers');
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1', deviceId: 'smoke-2' }));
    // With the handle() call returned, the alarm is with the broker: the lane had its slot back.
    const sent = hh.publisher.to('w1');
    expect(sent).toHaveLength(1);
    expect(JSON.stringify(sent[0])).toContain('smoke-2');
    await hh.dispatcher.drain();
    await until(() => outboxOf(hh, 'mqtt', 'w1')[0]?.state === 'done');
    expect(hh.publisher.to('w1')).toHaveLength(1);
  });

  it('gives back the slot its lane reserved for an outbox row whose own insert failed', async () => {
    const hh = setup({ laneConcurrency: 1 });
    await hh.dispatcher.start();
    await hh.dispatcher.drain();
    // The worker's alarm is claimed at its insert (its lane reserves the slot first), and the insert fails.
    hh.db.exec(
      "CREATE TRIGGER refuse_w1 BEFORE INSERT ON alert_outbox WHEN NEW.target = 'w1' BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
    );
    await expect(
      hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1', deviceId: 'smoke-1' })),
    ).rejects.toThrow(/disk says no/);

    hh.db.exec('DROP TRIGGER refuse_w1');
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1', deviceId: 'smoke-2' }));
    // a slot kept for the row that was never written would hold the worker's phone lane for good
    const sent = hh.publisher.to('w1');
    expect(sent).toHaveLength(1);
    expect(JSON.stringify(sent[0])).toContain('smoke-2');
  });

  it('lets a new critical message through a lane backing off from a failure: it may find the target back', async () => {
    rx = await new Receiver().start();
    rx.script('/robot', { status: 500 }, { status: 200, body: { errcode: 0 } });
    const hh = setup({ webhooks: { robot: { url: rx.url('/robot') } } });
    await addGridRobot(hh);
    await hh.dispatcher.start();
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1', deviceId: 'smoke-1' }));
    await until(() => outboxOf(hh, 'webhook', 'robot')[0]?.claimed_by === null);
    expect(outboxOf(hh, 'webhook', 'robot')[0]?.state).toBe('pending'); // failed once, waits its back-off

    // The clock has not moved: the lane is backing off, and the new smoke alarm still goes at once.
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1', deviceId: 'smoke-2' }));
    await until(() => outboxOf(hh, 'webhook', 'robot')[1]?.state === 'done');
    expect(rx.at('/robot')).toHaveLength(2);
    // The first one is retried at its own time.
    await hh.clock.advanceAsync(hh.config.retryBaseMs);
    await hh.dispatcher.drain();
    expect(outboxOf(hh, 'webhook', 'robot').map((r) => r.state)).toEqual(['done', 'done']);
    expect(rx.at('/robot')).toHaveLength(3);
  });

  it('keeps a slot of every lane for critical messages: a smoke alarm passes a hanging major one and its queue', async () => {
    rx = await new Receiver().start();
    // the first message to the robot hangs; the rest are answered
    rx.script('/robot', 'hang', { status: 200, body: { errcode: 0 } });
    const hh = setup({
      laneConcurrency: 2,
      webhooks: { robot: { url: rx.url('/robot') } },
      laneTimeoutsMs: { webhook: 60_000 },
    });
    await addGridRobot(hh);
    await hh.dispatcher.start();
    const major = (deviceId: string) =>
      raise(hh.registry, hh.clock, {
        placeId: 'b1',
        deviceId,
        deviceType: 'throw_camera',
        ruleId: 'throw.detected',
        severity: 'major',
        category: 'throw',
        title: '高空抛物',
      });
    await hh.dispatcher.handle(major('cam-1'));
    await hh.clock.advanceAsync(hh.config.digestWaitMs);
    await until(() => rx?.at('/robot').length === 1);
    await hh.dispatcher.handle(major('cam-2'));
    await hh.clock.advanceAsync(hh.config.digestWaitMs);

    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1', deviceId: 'smoke-9' }));
    await until(() => rx?.at('/robot').length === 2);
    const bodies = rx.at('/robot').map((r) => r.json() as { severity: string; device?: { id: string } });
    expect(bodies.map((b) => b.severity)).toEqual(['major', 'critical']);
    // The second major one waits for the lane's only non-critical slot, which the hanging one holds.
    await until(() => outboxOf(hh, 'webhook', 'robot')[2]?.state === 'done');
    expect(outboxOf(hh, 'webhook', 'robot')).toMatchObject([
      { state: 'pending', claimed_by: 'hub-a' },
      { state: 'pending', claimed_by: null },
      { state: 'done', claimed_by: null },
    ]);
  });
});

async function until(probe: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
