import { afterEach, describe, expect, it } from 'vitest';
import type { AlertsConfig } from '../../src/alerts/config.ts';
import { Receiver } from '../channels/receiver.ts';
import { addGridRobot, createHarness, type Harness, raise, seedCommunity } from './fixtures.ts';

/**
 * The work after a commit (dispatcher.ts `wake`): the outbox passes over its lanes only when a transaction left
 * rows for them to claim. A delivery's outcome, or an alarm whose rows were all claimed at their insert, costs no
 * pass (on PostgreSQL each is several statements on the connection every transaction of the instance waits for);
 * a row given back to retry still is claimed on time, and rows another instance left due are found by the
 * heartbeat's sweep.
 */
let h: Harness | undefined;
let rx: Receiver | undefined;

afterEach(async () => {
  await rx?.stop();
  await h?.close();
  h = undefined;
  rx = undefined;
});

/** The statement that lists the lanes with due rows (outbox-claims.ts `dueLanes`): one per pass. */
const LANE_SCAN = "max(CASE WHEN severity = 'critical' THEN 1 ELSE 0 END)";

function setup(config: Partial<AlertsConfig> = {}): { hh: Harness; passes: () => number } {
  let passes = 0;
  const hh = createHarness({
    config: { retryJitter: 0, instanceId: 'hub-a', ...config },
    verbose: (sql) => {
      if (sql.includes(LANE_SCAN)) passes++;
    },
  });
  h = hh;
  seedCommunity(hh.registry);
  return { hh, passes: () => passes };
}

const otherInstanceQueues = (hh: Harness, target: string) =>
  hh.db
    .prepare(
      `INSERT INTO alert_outbox (alert_id, channel, target, payload, created_at, next_at, attempts, state,
         idempotency_key, digestible)
       SELECT alert_id, 'mqtt', ?, payload, ?, ?, 0, 'pending', 'gh-other-' || ?, 0
       FROM alert_outbox WHERE channel = 'mqtt' AND target = 'w1' LIMIT 1`,
    )
    .run(target, hh.clock.now(), hh.clock.now(), target);

const states = (hh: Harness) =>
  hh.db
    .prepare<[], { target: string; state: string }>(
      "SELECT target, state FROM alert_outbox WHERE channel = 'mqtt' ORDER BY id",
    )
    .all();

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('not reached within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('the outbox after a commit', () => {
  it('passes over no lane for alarms claimed at their insert, nor for their outcomes', async () => {
    const { hh, passes } = setup();
    await hh.dispatcher.start();
    await hh.dispatcher.drain();
    const before = passes();
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1' }));
    await until(() => states(hh).length > 0 && states(hh).every((r) => r.state === 'done'));
    // the outcomes are written; let any wake they caused run
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
    await hh.dispatcher.drain();
    expect(hh.publisher.to('w1')).toHaveLength(1);
    // drain() itself is one pass; the raise and its outcomes added none
    expect(passes() - before).toBe(1);
  });

  it('claims a row given back to retry at its time: the failed outcome passes over the lanes and arms for it', async () => {
    const { hh, passes } = setup();
    await hh.dispatcher.start();
    await hh.dispatcher.drain();
    hh.publisher.failNext = 1; // the first alarm fails
    const before = passes();
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1' }));
    await until(() => states(hh).some((r) => r.state === 'pending') && passes() > before);
    expect(hh.publisher.sent).toHaveLength(states(hh).length - 1);
    // virtual time: the retry falls due after its back-off, and the timer armed by that pass sends it
    await hh.clock.advanceAsync(hh.config.retryBaseMs);
    await until(() => states(hh).every((r) => r.state === 'done'));
    expect(hh.publisher.sent).toHaveLength(states(hh).length);
  });

  it('delivers a row another instance left due and unclaimed at the next sweep, with no commit here', async () => {
    const { hh } = setup();
    await hh.dispatcher.start();
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1' }));
    await until(() => states(hh).length > 0 && states(hh).every((r) => r.state === 'done'));
    expect(hh.publisher.to('w1')).toHaveLength(1);
    // Another instance queued a message for w1 and died before its own pass: nobody claimed it.
    otherInstanceQueues(hh, 'w1');
    // no orphaned claim to count, yet the sweep's pass finds the row
    expect(await hh.dispatcher.takeOver(hh.clock.now())).toBe(0);
    await until(() => hh.publisher.to('w1').length === 2);
  });

  it('passes after every commit while the last pass left rows without a slot: other instances’ rows are taken', async () => {
    rx = await new Receiver().start();
    rx.script('/robot', 'hang');
    const { hh } = setup({
      laneConcurrency: 1,
      webhooks: { robot: { url: rx.url('/robot') } },
      laneTimeoutsMs: { webhook: 60_000 },
    });
    await addGridRobot(hh);
    await hh.dispatcher.start();
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1', deviceId: 'smoke-1' }));
    await until(() => rx?.at('/robot').length === 1);
    // the robot's one slot hangs: the second alarm's robot message waits without one
    await hh.dispatcher.handle(raise(hh.registry, hh.clock, { placeId: 'b1', deviceId: 'smoke-2' }));
    // (not drain(): it would wait for the hanging attempt) the pass after that commit found the robot's lane full
    await until(() => hh.publisher.to('w1').length === 2);
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
    // Another instance queues a message for w2 and has no slot for it; no commit here queues anything.
    otherInstanceQueues(hh, 'w2');
    const first = (await hh.dispatcher.list({})).items.find((a) => a.deviceId === 'smoke-1');
    await hh.dispatcher.acknowledge(first?.id ?? '', 'w1');
    // the acknowledgement's commit passed over the lanes (the robot's backlog is still there) and took it
    await until(() => hh.publisher.to('w2').length === 1);
  });
});
