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
 * (default: now). Timers are scheduled on real time scaled down by `speed`.
 */
export function createSystemClock(options: { speed?: number; startAt?: number } = {}): Clock {
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new RangeError(`clock speed must be > 0, got ${speed}`);
  const realStart = Date.now();
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

/** A clock that moves only when told to: `advance` fires due timers in time order. For tests. */
export class ManualClock implements Clock {
  readonly speed = 1;
  #now: number;
  #timers: ManualTimer[] = [];
  #seq = 0;

  constructor(start: number | string | Date = Date.UTC(2026, 0, 5, 8, 0, 0)) {
    this.#now = typeof start === 'number' ? start : new Date(start).getTime();
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextId++;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), seq: this.#seq++, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle.id);
  }

  /** Pending timers, for assertions. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  advanceTo(target: number): void {
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = Math.max(this.#now, target);
  }

  /** Like advance, but lets promise callbacks run between timers (for async code under test). */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.#now = Math.max(this.#now, target);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
