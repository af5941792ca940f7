/**
 * CONNECT work in bounded slices. After a restart every device reconnects at once: aedes reads a few hundred
 * CONNECTs in one poll of the event loop and runs all their set-ups (ours: credential check, session; its own:
 * subscriptions, CONNACK, the offline queue, clientReady) back to back in the next check phase, 0.3–0.5 s in
 * which a call-button press of a device already connected waits. Here each CONNECT's set-up is a task; a turn
 * runs at most `maxPerTurn` tasks or `budgetMs` of them, then yields with setImmediate, so the poll phase (the
 * presses, the alarms going out) comes between two turns.
 *
 * Two stages, the later first: a login (credential check and the rest of the set-up) goes before setting up
 * the broker's side of a newly accepted socket. In a storm of 10 000 the sockets arrive long before their
 * CONNECTs are through; in one line, every device would wait for every accept before its own CONNACK, and the
 * first ones would give up (30 s in mqtt.js) while the last were still being accepted. Finishing what was
 * started keeps CONNACKs coming from the first second on. FIFO within a stage.
 */
export type ConnectStage = 'accept' | 'login';

export interface ConnectQueue {
  /** Run `task` in a later turn: logins before accepts, each after those of its stage queued before it. */
  push(task: () => void, stage?: ConnectStage): void;
  /** Tasks waiting (tests read it). */
  readonly waiting: number;
  /** Run everything queued now (shutdown). */
  drain(): void;
}

export interface ConnectQueueOptions {
  /** Tasks per turn (16). */
  maxPerTurn?: number;
  /**
   * Time per turn, ms (3): checked before each task, so it counts the promise callbacks of the tasks before
   * (aedes continues each CONNECT in them); a turn ends at the first task that finds it spent.
   */
  budgetMs?: number;
  /** Called with a task's error: one bad CONNECT must not stop the queue. */
  onError(err: unknown): void;
  now?: () => number;
}

/** FIFO without shift(): shift() on a large array is O(n) a call in a 10 000-connection storm. */
class Line {
  #tasks: (() => void)[] = [];
  #head = 0;
  get size(): number {
    return this.#tasks.length - this.#head;
  }
  push(task: () => void): void {
    this.#tasks.push(task);
  }
  take(): () => void {
    const task = this.#tasks[this.#head] as () => void;
    this.#tasks[this.#head] = noop;
    this.#head++;
    if (this.#head === this.#tasks.length) {
      this.#tasks = [];
      this.#head = 0;
    } else if (this.#head > 1_024 && this.#head * 2 > this.#tasks.length) {
      this.#tasks = this.#tasks.slice(this.#head);
      this.#head = 0;
    }
    return task;
  }
}

export function createConnectQueue(o: ConnectQueueOptions): ConnectQueue {
  const maxPerTurn = o.maxPerTurn ?? 16;
  const budgetMs = o.budgetMs ?? 3;
  const now = o.now ?? (() => performance.now());
  const logins = new Line();
  const accepts = new Line();
  let scheduled: NodeJS.Immediate | undefined;
  /** When the current turn's first task started. */
  let turnStart: number | undefined;

  const waiting = () => logins.size + accepts.size;

  function runOne(): void {
    const task = logins.size > 0 ? logins.take() : accepts.take();
    try {
      task();
    } catch (err) {
      o.onError(err);
    }
  }

  /**
   * One task in an immediate of its own: Node runs the promise callbacks a task started (aedes' next connect
   * steps, the login gate's settle) before the next immediate, so every CONNECT is through before the next one
   * begins, as without the queue. The time budget is checked at each step, with those callbacks included.
   */
  function step(): void {
    if (waiting() === 0) return;
    turnStart ??= now();
    if (now() - turnStart >= budgetMs) return;
    runOne();
  }

  /**
   * Plans the next turn: its steps and then itself again, all run in the next check phase of the event loop,
   * after that iteration's poll (the presses).
   */
  function turn(): void {
    scheduled = undefined;
    turnStart = undefined;
    const n = Math.min(maxPerTurn, waiting());
    if (n === 0) return;
    for (let i = 0; i < n; i++) setImmediate(step);
    scheduled = setImmediate(turn);
  }

  return {
    push(task, stage = 'login') {
      (stage === 'login' ? logins : accepts).push(task);
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
