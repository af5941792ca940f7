import type { Clock, TimerHandle } from '../clock/clock.ts';
import type { Awaitable } from '../domain/awaitable.ts';

export interface DueTimer {
  /**
   * Arm (or move) the timer to the earliest due time; nothing is armed while stopped or when nothing is due.
   * Resolves once the due time has been read and the timer set.
   */
  arm(): Promise<void>;
  cancel(): void;
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
  // Arms may overlap now that reading the due time can wait on the store: only the last one asked decides,
  // since it read the schedule last.
  let asked = 0;
  const cancel = () => {
    if (armed) clock.clearTimeout(armed.handle);
    armed = null;
  };
  return {
    async arm() {
      if (o.stopped()) return;
      const mine = ++asked;
      const next = await o.next();
      if (mine !== asked || o.stopped()) return;
      if (armed && (next === null || armed.at !== next)) cancel();
      if (next === null || armed || (o.onlyFuture && next <= clock.now())) return;
      armed = {
        handle: clock.setTimeout(
          () => {
            armed = null;
            o.fire().catch(o.failed);
          },
          Math.max(0, next - clock.now()),
        ),
        at: next,
      };
    },
    cancel() {
      // an arm still reading the due time must not set a timer after this
      asked++;
      cancel();
    },
  };
}
