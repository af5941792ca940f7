import type { Awaitable } from './domain/awaitable.ts';
import type { Reading } from './domain/reading.ts';
import type { RuleOutcome, RuleResult } from './domain/rule-result.ts';

export interface FlowDeps {
  /** The rules: evaluate a reading (their state advances tentatively), or undo that evaluation. */
  rules: { evaluate(reading: Reading): RuleOutcome; rollback(): void };
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
 * are recorded before its point is stored; when recording fails, the rules' state is rolled back and the error
 * reaches ingest, which keeps a QoS 1 event in its journal and feeds it again. So an event whose alert could not
 * be recorded is neither lost nor, on the retry, doubled, and a rule never advances past a result nobody recorded.
 *
 * Recording awaits the alert store, so readings are taken one at a time: the next reading is evaluated only once
 * the results of the one before are recorded (or rolled back), because the rules' rollback undoes only the
 * evaluation in progress. That also keeps every device's results in order. A reading with no results, while
 * nothing waits, is taken at once and answers undefined; on SQLite a recording settles in microtasks, so the
 * queue is empty again before the next socket read or timer.
 */
export function createFlow(deps: FlowDeps): (reading: Reading) => Promise<void> | undefined {
  const { rules, record, store } = deps;
  /** Settles when the readings taken so far are recorded; never rejects. Undefined when none waits. */
  let tail: Promise<void> | undefined;

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
      rules.rollback();
      throw err;
    }
    if (!(recorded instanceof Promise)) {
      store(outcome.point);
      return undefined;
    }
    return recorded.then(
      () => store(outcome.point),
      (err: unknown) => {
        rules.rollback();
        throw err;
      },
    );
  }

  function behind(taken: Promise<void>): void {
    const settled = taken.then(
      () => {},
      () => {},
    );
    tail = settled;
    void settled.then(() => {
      if (tail === settled) tail = undefined;
    });
  }

  return (reading) => {
    if (tail === undefined) {
      const taken = take(reading);
      if (taken !== undefined) behind(taken);
      return taken;
    }
    const taken = tail.then(() => take(reading));
    behind(taken);
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
