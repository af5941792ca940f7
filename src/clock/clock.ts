/**
 * The hub's only source of time. Every duration, timer and SLA goes through a Clock so that tests can run in
 * virtual time and the simulator can run the whole hub accelerated.
 */
export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Current time, epoch milliseconds (virtual when scaled or manual). */
  now(): number;
  /** Run `fn` once `ms` clock-milliseconds from now. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** How many clock milliseconds pass per real millisecond (1 for the system clock). */
  readonly speed: number;
}

let nextId = 1;

/**
 * Wall-clock time, optionally accelerated: `speed` virtual ms pass per real ms, starting from `startAt`
 * (default: now). Timers are scheduled on real time scaled down by `speed`. `anchorAt` (epoch ms) fixes the
 * real instant at which the clock read that same instant instead of the process's start: processes given the
 * same anchor and speed read the same time, however far apart they started.
 */
export function createSystemClock(
  options: { speed?: number; startAt?: number; anchorAt?: number } = {},
): Clock {
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new RangeError(`clock speed must be > 0, got ${speed}`);
  const realStart = options.anchorAt ?? Date.now();
  const virtualStart = options.startAt ?? realStart;
  const timers = new Map<number, NodeJS.Timeout>();
  return {
    speed,
    now:
      speed === 1 && options.startAt === undefined
        ? () => Date.now()
        : () => virtualStart + (Date.now() - realStart) * speed,
    setTimeout(fn, ms) {
      const id = nextId++;
      const t = setTimeout(
        () => {
          timers.delete(id);
          fn();
        },
        Math.max(0, ms / speed),
      );
      t.unref();
      timers.set(id, t);
      return { id };
    },
    clearTimeout(handle) {
      const t = timers.get(handle.id);
      if (t) clearTimeout(t);
      timers.delete(handle.id);
    },
  };
}

interface ManualTimer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * Due timers in (at, seq) order: a binary heap, so that advancing over n timers costs n log n, not n² (the rule
 * sandbox runs 10 000 devices' absence timers on a ManualClock). Cleared timers are dropped lazily.
 */
class TimerHeap {
  readonly #items: ManualTimer[] = [];
  get size(): number {
    return this.#items.length;
  }
  peek(): ManualTimer | undefined {
    return this.#items[0];
  }
  push(t: ManualTimer): void {
    const a = this.#items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i] as ManualTimer, a[parent] as ManualTimer)) break;
      [a[i], a[parent]] = [a[parent] as ManualTimer, a[i] as ManualTimer];
      i = parent;
    }
  }
  pop(): ManualTimer | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l] as ManualTimer, a[m] as ManualTimer)) m = l;
        if (r < a.length && before(a[r] as ManualTimer, a[m] as ManualTimer)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as ManualTimer, a[i] as ManualTimer];
        i = m;
      }
    }
    return top;
  }
}

const before = (x: ManualTimer, y: ManualTimer) => x.at < y.at || (x.at === y.at && x.seq < y.seq);

/** A clock that moves only when told to: `advance` fires due timers in time order. For tests and the sandbox. */
export class ManualClock implements Clock {
  readonly speed = 1;
  #now: number;
  readonly #heap = new TimerHeap();
  /** Live timers by id; a heap entry without one here was cleared. */
  readonly #live = new Map<number, ManualTimer>();
  #seq = 0;

  constructor(start: number | string | Date = Date.UTC(2026, 0, 5, 8, 0, 0)) {
    this.#now = typeof start === 'number' ? start : new Date(start).getTime();
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextId++;
    const t = { id, at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#live.set(id, t);
    this.#heap.push(t);
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.#live.delete(handle.id);
  }

  /** Pending timers, for assertions. */
  get pending(): number {
    return this.#live.size;
  }

  /** The next live timer due at or before `target`, taken off the heap. */
  #takeDue(target: number): ManualTimer | undefined {
    for (;;) {
      const top = this.#heap.peek();
      if (!top) return undefined;
      if (this.#live.get(top.id) !== top) {
        this.#heap.pop();
        continue;
      }
      if (top.at > target) return undefined;
      this.#heap.pop();
      this.#live.delete(top.id);
      return top;
    }
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  advanceTo(target: number): void {
    for (let due = this.#takeDue(target); due; due = this.#takeDue(target)) {
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = Math.max(this.#now, target);
  }

  /** Like advance, but lets promise callbacks run between timers (for async code under test). */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (let due = this.#takeDue(target); due; due = this.#takeDue(target)) {
      this.#now = Math.max(this.#now, due.at);
      due.fn();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.#now = Math.max(this.#now, target);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
