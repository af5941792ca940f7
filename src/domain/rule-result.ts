import type { DeviceTypeId } from '../catalogue/types.ts';
import type { PlacePath } from './places.ts';
import type { Reading } from './reading.ts';
import type { Severity } from './severity.ts';

/** What a rule decided, handed to the dispatcher. One reading may yield several results. */
export type RuleResult = AlertRaise | AlertUpdate | AlertClear | AlertFact;

interface ResultBase {
  ruleId: string;
  deviceId: string;
  deviceType: DeviceTypeId;
  placeId: string;
  place: PlacePath;
  floor: number | null;
  /** Clock time of the decision (for absence rules, when the silence was noticed). */
  at: number;
  /** The reading that triggered the result, when there was one (absence has none). */
  reading?: Reading;
}

export interface AlertRaise extends ResultBase {
  kind: 'raise';
  severity: Severity;
  category: string;
  title: string;
  detail: string;
  /** Evidence for people acting on it, e.g. a camera clip id. */
  evidence?: Record<string, string | number | boolean>;
  /**
   * `per-device`: one open alert per (rule, device), repeats raise its count (the default).
   * `per-occurrence`: every raise is its own alert (every one-key press).
   */
  dedup: 'per-device' | 'per-occurrence';
}

export interface AlertUpdate extends ResultBase {
  kind: 'update';
  detail?: string;
  severity?: Severity;
  evidence?: Record<string, string | number | boolean>;
}

export interface AlertClear extends ResultBase {
  kind: 'clear';
  /** Why the condition went away: `auto` (the reading cleared it), `prevented` (cleared fast enough to count as prevented). */
  resolution: 'auto' | 'prevented';
  note: string;
}

/** A recorded fact on the open alert of (rule, device), e.g. the resident cancelled a call. */
export interface AlertFact extends ResultBase {
  kind: 'fact';
  fact: 'cancelled_by_resident';
  note: string;
}

/**
 * What the rules made of one reading: the results to record, and the point to store (the reading with any
 * fields the rules derived). The flow records the results first and stores the point only once they are
 * recorded; if recording throws, it calls `rollback` and the rules' state is as if the reading had not come,
 * so the same reading can be fed again (ingest re-feeds a QoS 1 event from its journal) without doubling.
 */
export interface RuleOutcome {
  readonly results: readonly RuleResult[];
  readonly point: Reading;
  /**
   * Undo what this evaluation did to the rules' state, when its results could not be recorded. Each evaluation
   * has its own: another device's reading may be evaluated while this one's recording awaits the store.
   */
  undo(): void;
}
