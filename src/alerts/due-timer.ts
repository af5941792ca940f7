import { AsyncResource } from 'node:async_hooks';
import type { Clock, TimerHandle } from '../clock/clock.ts';
import type { Awaitable } from '../domain/awaitable.ts';

export interface DueTimer {
  /**
   * Arm (or move) the timer to the earliest due time; nothing is armed while stopped or when nothing is due.
   * Resolves once the due time has been read and the timer set.
   */
  arm(): Promise<void>;
  /**
   * A due time `at` has just been written (committed, or in a transaction about to commit): wake by then without
   * reading the schedule (a timer already armed sooner stays; its firing reads the schedule again). While a read
   * is under way it may have missed the row, so the schedule is read again instead.
   */
  armBy(at: number): void;
  cancel(): void;
  /** Steps whose transaction failed, tried again with back-off (see `stepRetries`). */
  readonly retries: StepRetries;
}

/**
 * The steps of a schedule whose transaction failed (the store briefly unreachable, a serialisation failure on
 * PostgreSQL, a bug in one step): each is tried again with exponential back-off instead of being dropped, since a
 * dropped escalation step or must-reach rung is an alarm nobody hears. The row stays due in the store meanwhile,
 * so another instance may take it first; keys no longer due are forgotten at the next read.
 */
export interface StepRetries {
  /** Whether the step may be tried now (it never failed, or its back-off has passed). */
  ready(key: string | number): boolean;
  /** Record a failure; answers the attempt count and the wait before the next one. */
  failed(key: string | number): { attempts: number; retryInMs: number };
  /**
   * Another instance holds the step now (taken, not yet committed): look again after STEP_RETRY_BASE_MS, by when
   * it has committed (and the step is no longer due) or rolled back. Not a failure: no attempt is counted.
   */
  busy(key: string | number): void;
  done(key: string | number): void;
  /** Forget the steps not among those due now (taken elsewhere, or no longer due). */
  keepOnly(due: Iterable<string | number>): void;
  readonly size: number;
}

export const STEP_RETRY_BASE_MS = 1_000;
export const STEP_RETRY_MAX_MS = 60_000;

function stepRetries(clock: Clock): StepRetries & { earliest(): number | null } {
  const waiting = new Map<string | number, { attempts: number; at: number }>();
  return {
    ready: (key) => (waiting.get(key)?.at ?? Number.NEGATIVE_INFINITY) <= clock.now(),
    failed(key) {
      const attempts = (waiting.get(key)?.attempts ?? 0) + 1;
      const retryInMs = Math.min(STEP_RETRY_MAX_MS, STEP_RETRY_BASE_MS * 2 ** (attempts - 1));
      waiting.set(key, { attempts, at: clock.now() + retryInMs });
      return { attempts, retryInMs };
    },
    busy(key) {
      waiting.set(key, { attempts: waiting.get(key)?.attempts ?? 0, at: clock.now() + STEP_RETRY_BASE_MS });
    },
    done: (key) => void waiting.delete(key),
    keepOnly(due) {
      const keep = new Set(due);
      for (const key of waiting.keys()) if (!keep.has(key)) waiting.delete(key);
    },
    get size() {
      return waiting.size;
    },
    earliest() {
      let at: number | null = null;
      for (const w of waiting.values()) at = Math.min(at ?? w.at, w.at);
      return at;
    },
  };
}

/**
 * One clock timer for a schedule kept in the alert store (escalation steps, must-reach rungs, outbox retries): it
 * sleeps until the earliest due time, so a hub restart loses nothing and virtual time drives it in tests.
 */
export function dueTimer(
  clock: Clock,
  o: {
    next: () => Awaitable<number | null>;
    fire: () => Promise<void>;
    /** A firing that failed (its own steps catch what they can: this is the store failing under them). */
    failed: (err: unknown) => void;
    stopped: () => boolean;
    /** Leave due times already past to whoever is running now (the outbox loop re-arms when it finishes). */
    onlyFuture?: boolean;
  },
): DueTimer {
  let armed: { handle: TimerHandle; at: number } | null = null;
  const retries = stepRetries(clock);
  // A due time already past while steps wait out their back-off is one of theirs, or one that fell due since the
  // last firing: look again at the next retry, and at least every RETRY_POLL_MS for the latter.
  const nextDue = async (): Promise<number | null> => {
    const next = await o.next();
    if (!retries.size || (next !== null && next > clock.now())) return next;
    const retry = retries.earliest() ?? Number.POSITIVE_INFINITY;
    return Math.min(retry, next === null ? retry : clock.now() + RETRY_POLL_MS);
  };
  // Arms may overlap now that reading the due time can wait on the store: only the last one asked decides,
  // since it read the schedule last.
  let asked = 0;
  /** Reads of the due time under way. */
  let reading = 0;
  const cancel = () => {
    if (armed) clock.clearTimeout(armed.handle);
    armed = null;
  };
  // Fired in the context this timer was made in, not in the one that armed it: a raise arms its must-reach rung
  // inside its transaction, and a firing that inherited that context before the commit ran its reads on the
  // raise's connection (PostgreSQL: postgres-alert-store.ts).
  const fired = AsyncResource.bind(() => {
    armed = null;
    o.fire().catch(o.failed);
  });
  const set = (at: number) => {
    armed = { handle: clock.setTimeout(fired, Math.max(0, at - clock.now())), at };
  };
  const arm = async (): Promise<void> => {
    if (o.stopped()) return;
    const mine = ++asked;
    reading++;
    let next: number | null;
    try {
      next = await nextDue();
    } finally {
      reading--;
    }
    if (mine !== asked || o.stopped()) return;
    if (armed && (next === null || armed.at !== next)) cancel();
    if (next === null || armed || (o.onlyFuture && next <= clock.now())) return;
    set(next);
  };
  return {
    retries,
    arm,
    armBy(at) {
      if (o.stopped()) return;
      if (reading > 0) {
        arm().catch(o.failed);
        return;
      }
      if (armed && armed.at <= at) return;
      if (o.onlyFuture && at <= clock.now()) return;
      cancel();
      set(at);
    },
    cancel() {
      // an arm still reading the due time must not set a timer after this
      asked++;
      cancel();
    },
  };
}

const RETRY_POLL_MS = 1_000;
