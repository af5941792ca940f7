/**
 * The turns of an instance's alert transactions on a shared store, one at a time (postgres-alert-store.ts), rule
 * results first: a raise waited behind escalation steps, must-reach rungs, delivery records and maintenance,
 * whose deadlines are minutes away, and under load that queue was most of an alarm's delay (the failover bench of
 * issue 18: alarm latency p50 2.8–2.9 s → 0.7–1.9 s, and after a kill the survivors' first alarm of the dead
 * instance's share 4.8–4.9 s → 0.3–0.8 s, A/B twice each). Results keep their order among themselves (a device's
 * clear is never overtaken by its next raise), as routine transactions do among theirs.
 *
 * Routine work is not starved: after RESULTS_IN_A_ROW results in a row while routine work waits, the oldest
 * routine transaction goes next (a delivery whose record never commits keeps its claim until its lease runs out,
 * and is then sent again; a step's lateness stays bounded).
 */
export type TurnKind = 'result' | 'routine';

export const RESULTS_IN_A_ROW = 8;

export interface Turns {
  /** Run `fn` when its turn comes; the next turn starts when it settles. */
  run<T>(kind: TurnKind, fn: () => Promise<T>): Promise<T>;
  /** Transactions waiting for their turn, by kind (not the one running). */
  waiting(): Record<TurnKind, number>;
}

export function createTurns(): Turns {
  const queues: Record<TurnKind, (() => void)[]> = { result: [], routine: [] };
  let running = false;
  let resultsInARow = 0;

  const next = (): void => {
    const routineDue = queues.routine.length > 0 && resultsInARow >= RESULTS_IN_A_ROW;
    const start = (!routineDue && queues.result.shift()) || queues.routine.shift() || queues.result.shift();
    running = start !== undefined;
    start?.();
  };

  return {
    async run(kind, fn) {
      if (running) await new Promise<void>((resolve) => queues[kind].push(resolve));
      running = true;
      resultsInARow = kind === 'result' ? resultsInARow + 1 : 0;
      try {
        return await fn();
      } finally {
        next();
      }
    },
    waiting: () => ({ result: queues.result.length, routine: queues.routine.length }),
  };
}
