import type { Awaitable } from './domain/awaitable.ts';
import type { Reading } from './domain/reading.ts';
import type { RuleOutcome, RuleResult } from './domain/rule-result.ts';

export interface FlowDeps {
  /** The rules: evaluate a reading (their state advances tentatively; the outcome can undo it). */
  rules: { evaluate(reading: Reading): RuleOutcome };
  /**
   * Record results durably, in order (the dispatcher); throws or rejects when one could not be. Rule timers
   * (absence, `for`) hand their results to the same function, so both paths record alike.
   */
  record(results: readonly RuleResult[]): Awaitable<void>;
  /** Store a reading's point (the telemetry sink); never throws, never blocks. */
  store(point: Reading): void;
}

/**
 * The one path a reading takes between the stages: ingest → rules → dispatcher and telemetry sink. Its results
 * are recorded before its point is stored; when recording fails, the evaluation is undone and the error reaches
 * ingest, which keeps a QoS 1 event in its journal and feeds it again. So an event whose alert could not be
 * recorded is neither lost nor, on the retry, doubled, and a rule never advances past a result nobody recorded.
 *
 * Recording may await the alert store (PostgreSQL: round trips). A device's readings are taken one at a time:
 * its next reading is evaluated only once the results of the one before are recorded (or undone), which keeps
 * its results in order and its rule state true. Other devices do not wait: a press's alert being written holds
 * up neither the telemetry flood nor another device's alarm (issue #13). A reading with no results, while
 * nothing of its device waits, is taken at once and answers undefined; on SQLite a recording settles in
 * microtasks, so nothing waits there at all.
 */
export function createFlow(deps: FlowDeps): (reading: Reading) => Promise<void> | undefined {
  const { rules, record, store } = deps;
  /** Per device with a recording under way: settles when its readings so far are recorded; never rejects. */
  const tails = new Map<string, Promise<void>>();

  function take(reading: Reading): Promise<void> | undefined {
    const outcome = rules.evaluate(reading);
    if (outcome.results.length === 0) {
      store(outcome.point);
      return undefined;
    }
    let recorded: Awaitable<void>;
    try {
      recorded = record(outcome.results);
    } catch (err) {
      outcome.undo();
      throw err;
    }
    if (!(recorded instanceof Promise)) {
      store(outcome.point);
      return undefined;
    }
    return recorded.then(
      () => store(outcome.point),
      (err: unknown) => {
        outcome.undo();
        throw err;
      },
    );
  }

  function behind(deviceId: string, taken: Promise<void>): void {
    const settled = taken.then(
      () => {},
      () => {},
    );
    tails.set(deviceId, settled);
    void settled.then(() => {
      if (tails.get(deviceId) === settled) tails.delete(deviceId);
    });
  }

  return (reading) => {
    const tail = tails.get(reading.deviceId);
    if (tail === undefined) {
      const taken = take(reading);
      if (taken !== undefined) behind(reading.deviceId, taken);
      return taken;
    }
    const taken = tail.then(() => take(reading));
    behind(reading.deviceId, taken);
    return taken;
  };
}

/** Record each result with `recordOne`, in order, each after the one before; the first that fails stops the rest. */
export function recordEach(
  recordOne: (result: RuleResult) => Promise<void>,
): (results: readonly RuleResult[]) => Promise<void> {
  return async (results) => {
    for (let i = 0; i < results.length; i++) await recordOne(results[i] as RuleResult);
  };
}
