import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { createSystemClock, ManualClock } from '../clock/clock.ts';
import { dueTimer } from './due-timer.ts';

function setup(o: { onlyFuture?: boolean } = {}) {
  const clock = new ManualClock(0);
  const schedule: number[] = [];
  const fired: number[] = [];
  let stopped = false;
  let reads = 0;
  /** While set, a read of the schedule waits for it (a read under way on a slow store). */
  let gate: Promise<void> | undefined;
  const timer = dueTimer(clock, {
    next: async () => {
      reads++;
      // what the store holds when the read reaches it, not when it began
      const at = schedule.length ? Math.min(...schedule) : null;
      await gate;
      return at;
    },
    fire: async () => {
      fired.push(clock.now());
      schedule.splice(0, schedule.length, ...schedule.filter((t) => t > clock.now()));
      await timer.arm();
    },
    failed: (err) => {
      throw err;
    },
    stopped: () => stopped,
    ...o,
  });
  return {
    clock,
    schedule,
    fired,
    timer,
    stop: () => (stopped = true),
    reads: () => reads,
    hold: (p: Promise<void> | undefined) => (gate = p),
  };
}

describe('dueTimer', async () => {
  it('fires in the context it was made in, not in that of the transaction that armed it', async () => {
    // The PostgreSQL alert store keeps its open transaction in an AsyncLocalStorage: a firing that inherited a
    // raise's context would run its reads on that raise's connection. The system clock's timers carry the
    // context they were set in (the manual clock's run in the advancer's), so this one is due at once.
    const open = new AsyncLocalStorage<string>();
    const clock = createSystemClock();
    const seen = new Promise<string | undefined>((resolve, reject) => {
      const timer = dueTimer(clock, {
        next: () => null,
        fire: async () => resolve(open.getStore()),
        failed: reject,
        stopped: () => false,
      });
      open.run('raise transaction', () => timer.armBy(clock.now()));
    });
    expect(await seen).toBeUndefined();
  });

  it('sleeps until the earliest due time and moves when an earlier one is scheduled', async () => {
    const { clock, schedule, fired, timer } = setup();
    schedule.push(5_000);
    await timer.arm();
    schedule.push(2_000);
    await timer.arm();
    expect(clock.pending).toBe(1);
    await clock.advanceAsync(10_000);
    expect(fired).toEqual([2_000, 5_000]);
    expect(clock.pending).toBe(0);
  });

  it('arms nothing while stopped, and cancel drops the armed timer', async () => {
    const { clock, schedule, fired, timer, stop } = setup();
    schedule.push(1_000);
    await timer.arm();
    timer.cancel();
    expect(clock.pending).toBe(0);
    stop();
    await timer.arm();
    await clock.advanceAsync(5_000);
    expect(fired).toEqual([]);
  });

  it('fires an overdue time at once, unless told to leave due times to the caller', async () => {
    const a = setup();
    await a.clock.advanceAsync(3_000);
    a.schedule.push(1_000);
    await a.timer.arm();
    await a.clock.advanceAsync(0);
    expect(a.fired).toEqual([3_000]);

    const b = setup({ onlyFuture: true });
    await b.clock.advanceAsync(3_000);
    b.schedule.push(1_000);
    await b.timer.arm();
    expect(b.clock.pending).toBe(0);
  });

  it('wakes by a due time a commit wrote earlier than the one armed, without reading the schedule', async () => {
    const { clock, schedule, fired, timer, reads } = setup();
    schedule.push(60_000);
    await timer.arm();
    expect(reads()).toBe(1);
    // a transaction wrote a row due at 10 s: the timer moves there from what it wrote
    schedule.push(10_000);
    timer.armBy(10_000);
    expect(reads()).toBe(1);
    expect(clock.pending).toBe(1);
    await clock.advanceAsync(10_000);
    expect(fired).toEqual([10_000]);
    // its firing read the schedule and armed for the rest
    await clock.advanceAsync(50_000);
    expect(fired).toEqual([10_000, 60_000]);
  });

  it('keeps a sooner timer when a later due time is written, and arms one when none was', async () => {
    const a = setup();
    a.schedule.push(5_000);
    await a.timer.arm();
    a.schedule.push(30_000);
    a.timer.armBy(30_000);
    await a.clock.advanceAsync(5_000);
    expect(a.fired).toEqual([5_000]);
    await a.clock.advanceAsync(25_000);
    expect(a.fired).toEqual([5_000, 30_000]);

    const b = setup();
    await b.timer.arm();
    expect(b.clock.pending).toBe(0);
    b.schedule.push(2_000);
    b.timer.armBy(2_000);
    await b.clock.advanceAsync(2_000);
    expect(b.fired).toEqual([2_000]);
    expect(b.reads()).toBe(2); // the arm before, and the firing's own
  });

  it('reads the schedule again when a due time is written while a read is under way (it may have missed it)', async () => {
    const { clock, schedule, fired, timer, reads, hold } = setup();
    schedule.push(60_000);
    let open = () => {};
    hold(new Promise<void>((resolve) => (open = resolve)));
    const slow = timer.arm(); // reads 60 s, then waits
    schedule.push(10_000);
    timer.armBy(10_000);
    hold(undefined);
    open();
    await slow;
    await clock.advanceAsync(0);
    expect(reads()).toBe(2);
    await clock.advanceAsync(10_000);
    expect(fired).toEqual([10_000]);
  });

  it('sets nothing from a written due time while stopped', async () => {
    const { clock, timer, stop } = setup();
    stop();
    timer.armBy(1_000);
    expect(clock.pending).toBe(0);
  });
});

describe('StepRetries.busy', () => {
  it('looks again at a step another instance holds after a second, not at once, and counts no attempt', async () => {
    const clock = new ManualClock(0);
    // the step due at 0, held by another instance's transaction until it commits at 400 ms
    let pending = true;
    const fired: number[] = [];
    const timer = dueTimer(clock, {
      next: () => (pending ? 0 : null),
      fire: async () => {
        fired.push(clock.now());
        // as a firing does: what the read found due is all the retries keep
        timer.retries.keepOnly(pending ? ['step'] : []);
        if (pending) timer.retries.busy('step');
        await timer.arm();
      },
      failed: (err) => {
        throw err;
      },
      stopped: () => false,
    });
    await timer.arm();
    await clock.advanceAsync(0);
    expect(fired).toEqual([0]);
    expect(timer.retries.ready('step')).toBe(false);
    // no busy loop while the other instance's transaction runs
    await clock.advanceAsync(400);
    expect(fired).toEqual([0]);
    pending = false;
    await clock.advanceAsync(600);
    expect(fired).toEqual([0, 1_000]);
    await clock.advanceAsync(60_000);
    expect(fired).toEqual([0, 1_000]);
    // busy was no failure: the first failure still waits the base back-off
    expect(timer.retries.failed('other').attempts).toBe(1);
    timer.retries.busy('again');
    expect(timer.retries.failed('again')).toEqual({ attempts: 1, retryInMs: 1_000 });
  });
});
