import type { Reading } from './domain/reading.ts';
import type { RuleOutcome, RuleResult } from './domain/rule-result.ts';

export interface FlowDeps {
  /** The rules: evaluate a reading (their state advances tentatively), or undo that evaluation. */
  rules: { evaluate(reading: Reading): RuleOutcome; rollback(): void };
  /**
   * Record results durably, in order (the dispatcher); throws when one could not be. Rule timers (absence,
   * `for`) hand their results to the same function, so both paths record alike.
   */
  record(results: readonly RuleResult[]): void;
  /** Store a reading's point (the telemetry sink); never throws, never blocks. */
  store(point: Reading): void;
}

/**
 * The one path a reading takes between the stages: ingest → rules → dispatcher and telemetry sink. Its results
 * are recorded before its point is stored; when recording throws, the rules' state is rolled back and the error
 * reaches ingest, which keeps a QoS 1 event in its journal and feeds it again. So an event whose alert could not
 * be recorded is neither lost nor, on the retry, doubled, and a rule never advances past a result nobody recorded.
 */
export function createFlow(deps: FlowDeps): (reading: Reading) => void {
  const { rules, record, store } = deps;
  return (reading) => {
    const outcome = rules.evaluate(reading);
    if (outcome.results.length > 0) {
      try {
        record(outcome.results);
      } catch (err) {
        rules.rollback();
        throw err;
      }
    }
    store(outcome.point);
  };
}

/** Record each result with `recordOne`, in order; the first that throws stops the rest. */
export function recordEach(
  recordOne: (result: RuleResult) => void,
): (results: readonly RuleResult[]) => void {
  return (results) => {
    for (let i = 0; i < results.length; i++) recordOne(results[i] as RuleResult);
  };
}
