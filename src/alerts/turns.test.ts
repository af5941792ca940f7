import { describe, expect, it } from 'vitest';
import { createTurns, RESULTS_IN_A_ROW, type TurnKind } from './turns.ts';

/** A transaction body that runs until `finish` is called, recording when it started. */
function held(order: string[], name: string) {
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    fn: async () => {
      order.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

describe('transaction turns', () => {
  it('runs one at a time, rule results before routine work that waits, each kind in the order asked', async () => {
    const turns = createTurns();
    const order: string[] = [];
    const first = held(order, 'step-1');
    const running = turns.run('routine', first.fn);
    const asked: [TurnKind, string][] = [
      ['routine', 'step-2'],
      ['result', 'press-1'],
      ['routine', 'step-3'],
      ['result', 'press-2'],
    ];
    const all = asked.map(([kind, name]) => turns.run(kind, async () => void order.push(name)));
    expect(turns.waiting()).toEqual({ result: 2, routine: 2 });
    // nothing else starts while the first runs
    await Promise.resolve();
    expect(order).toEqual(['step-1']);
    first.finish();
    await expect(running).resolves.toBe('step-1');
    await Promise.all(all);
    expect(order).toEqual(['step-1', 'press-1', 'press-2', 'step-2', 'step-3']);
    expect(turns.waiting()).toEqual({ result: 0, routine: 0 });
  });

  it(`lets the oldest routine transaction go after ${RESULTS_IN_A_ROW} results in a row`, async () => {
    const turns = createTurns();
    const order: string[] = [];
    const first = held(order, 'press-0');
    const running = turns.run('result', first.fn);
    const routine = turns.run('routine', async () => void order.push('step'));
    const presses = Array.from({ length: 2 * RESULTS_IN_A_ROW }, (_, i) =>
      turns.run('result', async () => void order.push(`press-${i + 1}`)),
    );
    first.finish();
    await Promise.all([running, routine, ...presses]);
    // press-0 was the first result of the row
    expect(order.indexOf('step')).toBe(RESULTS_IN_A_ROW);
    expect(order).toHaveLength(2 * RESULTS_IN_A_ROW + 2);
  });

  it('passes a failure on and gives the turn to the next', async () => {
    const turns = createTurns();
    const boom = new Error('boom');
    const failed = turns.run('result', async () => {
      throw boom;
    });
    const next = turns.run('routine', async () => 'ran');
    await expect(failed).rejects.toBe(boom);
    await expect(next).resolves.toBe('ran');
  });
});
