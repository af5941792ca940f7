import { beforeAll, describe, expect, it } from 'vitest';
import { type FailoverResult, runFailover } from '../helpers/failover-run.ts';
import { CLUSTER_MISSING } from '../helpers/hub-cluster.ts';

// the reason is the skipped test's name, so the run says why
if (CLUSTER_MISSING) it.skip(CLUSTER_MISSING, () => undefined);

/**
 * Issue #18's first two targets with real parts: three hub processes (`node --import tsx src/main.ts`) on one
 * PostgreSQL behind one Mosquitto (owner routing), presses and telemetry, one instance killed with SIGKILL
 * at half of the load. One run, then one check per target so that a failure names the target it misses.
 *
 * Reduced rates: on CI's 2 cores three hubs, PostgreSQL, Mosquitto and the generators share the machine, and
 * what is measured is failover, not throughput (the full 200 presses/s and 5 000 telemetry/s are the bench's
 * failover case, bench/failover.ts). The hub clock runs 20× (one anchor for all three), so the first escalation
 * step of a critical alert (unacknowledged for 1 min) falls due 3 s after its press and the second (5 min) 15 s
 * after; the lease and the other machinery keep their real-time lengths (test/helpers/hub-cluster.ts).
 */
describe.skipIf(CLUSTER_MISSING !== undefined)('failover of one of three hubs on PostgreSQL', () => {
  let r: FailoverResult;
  beforeAll(async () => {
    r = await runFailover({
      instances: 3,
      pressesPerSec: 8,
      telemetryPerSec: 400,
      seconds: 20,
      clockSpeed: 20,
      // the default: each device evaluated by one owner; under `shared`, Mosquitto keeps handing a killed
      // instance's persistent sessions their round-robin share, and those events wait for it to come back
      routing: 'owner',
      settleMs: 30_000,
      log: (line) => process.stdout.write(`failover: ${line}\n`),
    });
    process.stdout.write(`failover result: ${JSON.stringify(r)}\n`);
    expect(r.presses.acked).toBe(r.presses.sent);
  }, 300_000);

  it('loses no press Mosquitto acknowledged: each has its alert', () => {
    expect(r.lost).toEqual([]);
    expect(r.alerts).toBe(r.presses.acked);
  });

  it('doubles no alert', () => {
    expect(r.doubled).toEqual([]);
  });

  it('fires every escalation step that fell due exactly once, none early', () => {
    // at 20× the first step is due for every alert by the check, the second for the older ones
    expect(r.escalation.expected).toBeGreaterThan(r.alerts);
    expect(r.escalation).toMatchObject({ missing: 0, repeated: 0, early: 0 });
    expect(r.escalation.seenOnce).toBe(r.escalation.expected);
  });

  it('has alarms flowing again within 5 s of the kill, the dead instance’s share in flight included', () => {
    expect(r.failover.firstAlarmAfterKillMs).not.toBeNull();
    expect(r.failover.firstAlarmAfterKillMs).toBeLessThanOrEqual(5_000);
    expect(r.failover.maxStallMs).toBeLessThanOrEqual(5_000);
    expect(r.failover.neverAlarmed).toBe(0);
  });

  it('lists every alert on the board of every surviving instance, and streamed each one live', () => {
    expect(r.boards.map((b) => b.instance)).toEqual(r.instances.filter((i) => i !== r.killed));
    for (const b of r.boards) {
      expect(b).toMatchObject({ missingFromList: 0, missingFromStream: 0 });
      expect(b.listed).toBe(r.alerts);
    }
  });
});
