import type { Clock, TimerHandle } from '../clock/clock.ts';

export interface DueTimer {
  /** Arm (or move) the timer to the earliest due time; nothing is armed while stopped or when nothing is due. */
  arm(): void;
  cancel(): void;
}

/**
 * One clock timer for a schedule kept in SQLite (escalation steps, must-reach rungs, outbox retries): it sleeps
 * until the earliest due time, so a hub restart loses nothing and virtual time drives it in tests.
 */
export function dueTimer(
  clock: Clock,
  o: {
    next: () => number | null;
    fire: () => void;
    stopped: () => boolean;
    /** Leave due times already past to whoever is running now (the outbox loop re-arms when it finishes). */
    onlyFuture?: boolean;
  },
): DueTimer {
  let armed: { handle: TimerHandle; at: number } | null = null;
  const cancel = () => {
    if (armed) clock.clearTimeout(armed.handle);
    armed = null;
  };
  return {
    arm() {
      if (o.stopped()) return;
      const next = o.next();
      if (armed && (next === null || armed.at !== next)) cancel();
      if (next === null || armed || (o.onlyFuture && next <= clock.now())) return;
      armed = {
        handle: clock.setTimeout(
          () => {
            armed = null;
            o.fire();
          },
          Math.max(0, next - clock.now()),
        ),
        at: next,
      };
    },
    cancel,
  };
}
