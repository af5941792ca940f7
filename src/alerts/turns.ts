/**
 * The turns of an instance's alert transactions on a shared store, one at a time (postgres-alert-store.ts), with
 * alarms first: a raise waiting behind escalation steps, must-reach rungs and delivery records waits for work
 * whose deadlines are minutes away. When an instance dies, the survivors take over its steps and replay its
 * presses at the same moment, and in a first-come queue the steps' burst stood in front of those presses.
 *
 * Routine work is not starved: after ALARMS_IN_A_ROW alarms in a row while routine work waits, the oldest routine
 * transaction goes next (a delivery whose record never commits keeps its claim until its lease runs out, and is
 * then sent again).
 */
export type TurnKind = 'alarm' | 'routine';

export const ALARMS_IN_A_ROW = 8;

export interface Turns {
  /** Run `fn` when its turn comes; the next turn starts when it settles. */
  run<T>(kind: TurnKind, fn: () => Promise<T>): Promise<T>;
  /** Transactions waiting for their turn, by kind (not the one running). */
  waiting(): { alarm: number; routine: number };
}

export function createTurns(): Turns {
  const queues: Record<TurnKind, (() => void)[]> = { alarm: [], routine: [] };
  let running = false;
  let alarmsInARow = 0;

  const next = (): void => {
    const routineDue = queues.routine.length > 0 && alarmsInARow >= ALARMS_IN_A_ROW;
    const start = (!routineDue && queues.alarm.shift()) || queues.routine.shift() || queues.alarm.shift();
    running = start !== undefined;
    start?.();
  };

  return {
    async run(kind, fn) {
      if (running) await new Promise<void>((resolve) => queues[kind].push(resolve));
      running = true;
      alarmsInARow = kind === 'alarm' ? alarmsInARow + 1 : 0;
      try {
        return await fn();
      } finally {
        next();
      }
    },
    waiting: () => ({ alarm: queues.alarm.length, routine: queues.routine.length }),
  };
}
