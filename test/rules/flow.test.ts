/**
 * The one flow with a recording that awaits the store (issue #18): a device's reading is evaluated only once the
 * results of its reading before are recorded or undone; other devices' readings do not wait (issue #13), and
 * each evaluation undoes only itself. Real rule engine and default pack; the recording is held open by the test,
 * as a store round trip would.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RuleResult } from '../../src/domain/rule-result.ts';
import { createFlow } from '../../src/flow.ts';
import { createHarness, type Harness, telemetry } from './helpers.ts';

let h: Harness;

afterEach(async () => {
  await h?.engine.close();
  h?.db.close();
});

interface Recording {
  results: readonly RuleResult[];
  settle(ok: boolean): void;
}

function flowWithHeldRecording() {
  h = createHarness();
  const recordings: Recording[] = [];
  const recorded: RuleResult[] = [];
  const flow = createFlow({
    rules: h.engine,
    record: (results) =>
      new Promise<void>((resolve, reject) => {
        recordings.push({
          results,
          settle(ok) {
            if (!ok) return reject(new Error('the alert store refused the write'));
            recorded.push(...results);
            resolve();
          },
        });
      }),
    store: () => {},
  });
  return { flow, recordings, recorded };
}

// battery-low keeps state: the first low reading raises, the next ones while it is active raise nothing.
const lowBattery = (deviceId = 'bin-1') => telemetry(deviceId, 'bin', { battery: 15 });

describe('the flow with an asynchronous recording', () => {
  it('evaluates the next reading only after the one before was recorded', async () => {
    const { flow, recordings, recorded } = flowWithHeldRecording();
    const first = flow(lowBattery());
    const second = flow(lowBattery());
    expect(recordings).toHaveLength(1);
    expect(recordings[0]?.results.map((r) => r.kind)).toEqual(['raise']);
    recordings[0]?.settle(true);
    await first;
    await second;
    // The second reading met the alarm already active, as recorded: nothing more to record.
    expect(recordings).toHaveLength(1);
    expect(recorded.map((r) => r.kind)).toEqual(['raise']);
  });

  it('rolls a refused recording back before the next reading is evaluated, so its alarm is raised again', async () => {
    const { flow, recordings, recorded } = flowWithHeldRecording();
    const first = flow(lowBattery());
    const second = flow(lowBattery());
    recordings[0]?.settle(false);
    await expect(first).rejects.toThrow('refused');
    // Evaluated against the state before the refused raise: the low battery is raised again, not taken as known.
    await Promise.resolve();
    expect(recordings).toHaveLength(2);
    expect(recordings[1]?.results.map((r) => r.kind)).toEqual(['raise']);
    recordings[1]?.settle(true);
    await second;
    expect(recorded.map((r) => r.kind)).toEqual(['raise']);
  });

  it('takes another device’s readings while one device’s recording awaits the store', async () => {
    const { flow, recordings, recorded } = flowWithHeldRecording();
    const held = flow(lowBattery('bin-1'));
    const meanwhile = flow(telemetry('bin-2', 'bin', { fill: 40, battery: 80 }));
    // nothing to record for bin-2: taken at once, not behind bin-1's write
    expect(meanwhile).toBeUndefined();
    const other = flow(lowBattery('bin-2'));
    expect(recordings.map((r) => r.results[0]?.deviceId)).toEqual(['bin-1', 'bin-2']);
    recordings[1]?.settle(true);
    await other;
    recordings[0]?.settle(true);
    await held;
    expect(recorded.map((r) => r.deviceId)).toEqual(['bin-2', 'bin-1']);
  });

  it('undoes only the refused device’s evaluation when another’s ran meanwhile', async () => {
    const { flow, recordings, recorded } = flowWithHeldRecording();
    const a = flow(lowBattery('bin-1'));
    const b = flow(lowBattery('bin-2'));
    recordings[0]?.settle(false);
    await expect(a).rejects.toThrow('refused');
    recordings[1]?.settle(true);
    await b;
    // bin-1 is raised again (its raise was undone); bin-2's alarm is active, as recorded: nothing more
    const again = flow(lowBattery('bin-1'));
    await flow(lowBattery('bin-2'));
    await vi.waitUntil(() => recordings.length === 3);
    expect(recordings[2]?.results.map((r) => [r.kind, r.deviceId])).toEqual([['raise', 'bin-1']]);
    recordings[2]?.settle(true);
    await again;
    expect(recordings).toHaveLength(3);
    expect(recorded.map((r) => r.deviceId)).toEqual(['bin-2', 'bin-1']);
  });
});
