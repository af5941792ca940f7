import { expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { runOnce } from '../../src/storage/once.ts';
import { describeStores, until } from './stores.ts';

/**
 * Work done once per database (src/storage/once.ts), on both stores: instances starting together run it once,
 * the others wait for it and then go on; work that fails is tried again by the next start; work whose instance
 * died in the middle is taken over once it is stale. (On SQLite the "instances" are two connections to one file.)
 */
const T0 = Date.parse('2026-12-01T08:00:00+08:00');

/** Wait until the waiting instance has armed its next look on the clock, then let that look happen. */
async function nextPoll(clock: ManualClock, ms = 500): Promise<void> {
  await until(() => clock.pending > 0);
  clock.advance(ms);
}

describeStores('work done once', ({ fresh }) => {
  it('runs once for instances starting together; the others wait until it is done', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T0);
    const runs: string[] = [];
    let finish: () => void = () => {};
    const slow = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const first = runOnce(
      sut.store,
      'demo-seed',
      async () => {
        runs.push('a');
        await slow;
      },
      { clock },
    );
    // let the first one claim the task before the second looks
    while (runs.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    let secondDone = false;
    const second = runOnce(sut.reopen(), 'demo-seed', async () => void runs.push('b'), { clock }).then(
      (o) => {
        secondDone = true;
        return o;
      },
    );
    // the second looks, finds the work running and waits on the clock: three times over, it waits again
    for (let i = 0; i < 3; i++) await nextPoll(clock);
    expect(secondDone).toBe(false);
    finish();
    expect(await first).toBe('ran');
    // the second goes on at its next look: armed on the clock, or already under way as the work finished (a
    // single advance could come before it armed the look, and the look would never come)
    while (!secondDone) {
      if (clock.pending > 0) clock.advance(500);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await second).toBe('done');
    expect(runs).toEqual(['a']);
    expect(await runOnce(sut.store, 'demo-seed', async () => void runs.push('c'), { clock })).toBe('done');
  });

  it('work that failed is tried again by the next start', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T0);
    const failing = runOnce(
      sut.store,
      'demo-seed',
      async () => {
        throw new Error('disk full');
      },
      { clock },
    );
    await expect(failing).rejects.toThrow('disk full');
    expect(await runOnce(sut.store, 'demo-seed', async () => {}, { clock })).toBe('ran');
  });

  it('work left unfinished by an instance that died is taken over once stale', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T0);
    // the dead instance: it claimed the task and never came back
    let claimed = false;
    void runOnce(
      sut.store,
      'demo-seed',
      () => {
        claimed = true;
        return new Promise<void>(() => {});
      },
      { clock, staleMs: 60_000 },
    );
    await until(() => claimed);
    let ran = false;
    let outcome: string | undefined;
    void runOnce(
      sut.reopen(),
      'demo-seed',
      async () => {
        ran = true;
      },
      { clock, staleMs: 60_000, pollMs: 10_000 },
    ).then((o) => {
      outcome = o;
    });
    // it looks at 0, 10 s, … 50 s: not stale yet, so each time it waits again
    for (let i = 0; i < 5; i++) await nextPoll(clock, 10_000);
    await until(() => clock.pending > 0);
    expect(ran).toBe(false);
    // at 60 s the claim is stale: taken over
    clock.advance(10_000);
    await until(() => outcome !== undefined);
    expect(outcome).toBe('ran');
    expect(clock.now()).toBeGreaterThanOrEqual(T0 + 60_000);
  });
});
