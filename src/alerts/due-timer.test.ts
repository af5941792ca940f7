import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock/clock.ts';
import { dueTimer } from './due-timer.ts';

function setup(o: { onlyFuture?: boolean } = {}) {
  const clock = new ManualClock(0);
  const schedule: number[] = [];
  const fired: number[] = [];
  let stopped = false;
  const reads = { n: 0 };
  const timer = dueTimer(clock, {
    next: () => {
      reads.n++;
      return schedule.length ? Math.min(...schedule) : null;
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
  return { clock, schedule, fired, timer, reads, stop: () => (stopped = true) };
}

describe('dueTimer', async () => {
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

  it('takes a new due time without reading the schedule when it wakes by then already, else reads it', async () => {
    const { clock, schedule, fired, timer, reads } = setup();
    schedule.push(2_000);
    await timer.arm();
    expect(reads.n).toBe(1);
    schedule.push(5_000);
    await timer.armFor(5_000);
    expect(reads.n).toBe(1);
    // sooner than the armed one: read, and moved
    schedule.push(1_000);
    await timer.armFor(1_000);
    expect(reads.n).toBe(2);
    // a read under way may move the timer past it: read again
    const under = timer.arm();
    await timer.armFor(9_000);
    await under;
    expect(reads.n).toBe(4);
    await clock.advanceAsync(10_000);
    expect(fired).toEqual([1_000, 2_000, 5_000]);
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
});
