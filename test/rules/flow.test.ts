/**
 * The one flow with a recording that awaits the store (issue #18): the rules' rollback undoes only the evaluation
 * in progress, so the flow evaluates a reading only once the results of the one before are recorded or rolled
 * back. Real rule engine and default pack; the recording is held open by the test, as a store round trip would.
 */
import { afterEach, describe, expect, it } from 'vitest';
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
const lowBattery = () => telemetry('bin-1', 'bin', { battery: 15 });

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
});
