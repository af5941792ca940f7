import { readFile } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createConnectQueue } from './connect-queue.ts';

/** One check phase later: an immediate queued now runs after the turn already scheduled. */
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // a CONNECT's set-up holding the thread
  }
}

describe('connect queue', () => {
  it('runs nothing at push time, then at most maxPerTurn tasks a turn, in order', async () => {
    const ran: number[] = [];
    const q = createConnectQueue({ maxPerTurn: 3, budgetMs: 1_000, onError: () => undefined });
    for (let i = 0; i < 7; i++) q.push(() => ran.push(i));
    expect(ran).toEqual([]);
    expect(q.waiting).toBe(7);
    await nextTurn(); // the first turn plans its steps for the next iteration
    await nextTurn();
    expect(ran).toEqual([0, 1, 2]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(q.waiting).toBe(0);
  });

  it('ends a turn once its tasks took budgetMs', async () => {
    let t = 0;
    let ran = 0;
    const q = createConnectQueue({ maxPerTurn: 100, budgetMs: 4, now: () => t, onError: () => undefined });
    for (let i = 0; i < 6; i++)
      q.push(() => {
        t += 3;
        ran++;
      });
    await nextTurn();
    await nextTurn();
    // 3 ms, then 6 ms ≥ 4: the turn ends after the second task
    expect(ran).toBe(2);
    await nextTurn();
    expect(ran).toBe(4);
  });

  it('lets I/O in between turns: a file read finishes before a long queue does', async () => {
    const q = createConnectQueue({ maxPerTurn: 4, budgetMs: 1_000, onError: () => undefined });
    let done = 0;
    let ioAt: number | undefined;
    q.push(() => {
      readFile(import.meta.filename, () => {
        ioAt = done;
      });
    });
    for (let i = 0; i < 100; i++)
      q.push(() => {
        busy(1);
        done++;
      });
    await new Promise<void>((resolve) => {
      const poll = () => (q.waiting === 0 ? resolve() : setImmediate(poll));
      poll();
    });
    expect(done).toBe(100);
    // everything in one go would have answered the read after all 100 (what aedes' own set-up does)
    expect(ioAt).toBeDefined();
    expect(ioAt as number).toBeLessThan(100);
  });

  it('reports a failing task and goes on with the next', async () => {
    const errors: unknown[] = [];
    const ran: string[] = [];
    const q = createConnectQueue({ onError: (err) => errors.push(err) });
    q.push(() => {
      throw new Error('bad connect');
    });
    q.push(() => ran.push('next'));
    await nextTurn();
    await nextTurn();
    expect((errors[0] as Error).message).toBe('bad connect');
    expect(ran).toEqual(['next']);
  });

  it('drain runs everything waiting at once (shutdown)', () => {
    const ran: number[] = [];
    const q = createConnectQueue({ maxPerTurn: 1, onError: () => undefined });
    for (let i = 0; i < 5; i++) q.push(() => ran.push(i));
    q.drain();
    expect(ran).toEqual([0, 1, 2, 3, 4]);
    expect(q.waiting).toBe(0);
  });
});

describe('connect queue and promises', () => {
  it("lets each task's promise callbacks finish before the next task starts (as aedes' own set-up did)", async () => {
    const ran: string[] = [];
    const q = createConnectQueue({ maxPerTurn: 100, onError: () => undefined });
    for (let i = 0; i < 3; i++)
      q.push(() => {
        ran.push(`task ${i}`);
        // a credential check's settle comes two promise hops later
        void Promise.resolve()
          .then(() => undefined)
          .then(() => ran.push(`settled ${i}`));
      });
    while (q.waiting > 0) await nextTurn();
    await nextTurn();
    expect(ran).toEqual(['task 0', 'settled 0', 'task 1', 'settled 1', 'task 2', 'settled 2']);
  });
});

describe('connect queue stages', () => {
  it('runs logins before accepts, each stage in order', async () => {
    const ran: string[] = [];
    const q = createConnectQueue({ maxPerTurn: 100, onError: () => undefined });
    q.push(() => ran.push('accept 1'), 'accept');
    q.push(() => {
      ran.push('accept 2');
      // the socket accepted first has sent its CONNECT meanwhile: it goes before the next accept
      q.push(() => ran.push('login 1'));
    }, 'accept');
    q.push(() => ran.push('accept 3'), 'accept');
    q.push(() => ran.push('login 0'));
    while (q.waiting > 0) await nextTurn();
    expect(ran).toEqual(['login 0', 'accept 1', 'accept 2', 'login 1', 'accept 3']);
  });
});
