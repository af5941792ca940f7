/**
 * CONNECT work in bounded slices. After a restart every device reconnects at once: aedes reads a few hundred
 * CONNECTs in one poll of the event loop and runs all their set-ups (ours: credential check, session; its own:
 * subscriptions, CONNACK, the offline queue, clientReady) back to back in the next check phase, 0.3–0.5 s in
 * which a call-button press of a device already connected waits. Here each CONNECT's set-up is a task; a turn
 * runs at most `maxPerTurn` tasks or `budgetMs` of them, then yields with setImmediate, so the poll phase (the
 * presses, the alarms going out) comes between two turns. FIFO: the storm's total time is what it was.
 */
export interface ConnectQueue {
  /** Run `task` in a later turn, after those queued before it. */
  push(task: () => void): void;
  /** Tasks waiting (a gauge and tests read it). */
  readonly waiting: number;
  /** Run everything queued now (shutdown). */
  drain(): void;
}

export interface ConnectQueueOptions {
  /**
   * Tasks per turn. aedes continues each CONNECT in promise callbacks after our task returns, so the budget in
   * time below sees only the synchronous part: the count bounds the rest.
   */
  maxPerTurn?: number;
  /** Synchronous time per turn, ms. */
  budgetMs?: number;
  /** Called with a task's error: one bad CONNECT must not stop the queue. */
  onError(err: unknown): void;
  now?: () => number;
}

export function createConnectQueue(o: ConnectQueueOptions): ConnectQueue {
  const maxPerTurn = o.maxPerTurn ?? 8;
  const budgetMs = o.budgetMs ?? 4;
  const now = o.now ?? (() => performance.now());
  // a ring of tasks: shift() on a large array is O(n) per call in a 10 000-connection storm
  let tasks: (() => void)[] = [];
  let head = 0;
  let scheduled: NodeJS.Immediate | undefined;

  const waiting = () => tasks.length - head;

  function runOne(): void {
    const task = tasks[head] as () => void;
    tasks[head] = noop;
    head++;
    try {
      task();
    } catch (err) {
      o.onError(err);
    }
    if (head === tasks.length) {
      tasks = [];
      head = 0;
    } else if (head > 1_024 && head * 2 > tasks.length) {
      tasks = tasks.slice(head);
      head = 0;
    }
  }

  function turn(): void {
    scheduled = undefined;
    const start = now();
    for (let n = 0; n < maxPerTurn && waiting() > 0; n++) {
      runOne();
      if (now() - start >= budgetMs) break;
    }
    if (waiting() > 0) scheduled = setImmediate(turn);
  }

  return {
    push(task) {
      tasks.push(task);
      scheduled ??= setImmediate(turn);
    },
    get waiting() {
      return waiting();
    },
    drain() {
      if (scheduled) clearImmediate(scheduled);
      scheduled = undefined;
      while (waiting() > 0) runOne();
    },
  };
}

function noop(): void {}
