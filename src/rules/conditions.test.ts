import { describe, expect, it } from 'vitest';
import type { Reading } from '../domain/reading.ts';
import {
  type CompiledCondition,
  compileCondition,
  type EvalContext,
  fieldsOf,
  MAX_WINDOW_SAMPLES,
  newCompileOptions,
} from './conditions.ts';

const tele = (values: Record<string, number | boolean | string>): Reading => ({
  kind: 'telemetry',
  deviceId: 'd',
  deviceType: 'bin',
  placeId: 'p',
  place: {},
  floor: null,
  ts: 0,
  receivedAt: 0,
  qos: 0,
  values,
});
const ev = (event: string, data: Record<string, number | boolean | string> = {}): Reading => ({
  ...tele({}),
  kind: 'event',
  event,
  data,
});

function run(c: CompiledCondition, reading: Reading): boolean | undefined {
  const ctx: EvalContext = { reading, fields: fieldsOf(reading), now: 0, ops: {}, opsChanged: false };
  return c(ctx);
}
const compile = (node: unknown) => compileCondition(node, 'condition', newCompileOptions());

describe('operator table', () => {
  it.each([
    [{ field: 'x', eq: 5 }, { x: 5 }, true],
    [{ field: 'x', eq: 5 }, { x: 6 }, false],
    [{ field: 'x', eq: true }, { x: true }, true],
    [{ field: 'x', ne: 'a' }, { x: 'b' }, true],
    [{ field: 'x', gt: 5 }, { x: 5 }, false],
    [{ field: 'x', gte: 5 }, { x: 5 }, true],
    [{ field: 'x', lt: 5 }, { x: 5 }, false],
    [{ field: 'x', lte: 5 }, { x: 5 }, true],
    [{ field: 'x', gte: 5 }, { x: '9' }, false], // no coercion
    [{ field: 'x', between: [1, 3] }, { x: 1 }, true],
    [{ field: 'x', between: [1, 3] }, { x: 3 }, true],
    [{ field: 'x', between: [1, 3] }, { x: 3.01 }, false],
    [{ field: 'x', in: ['a', 'b'] }, { x: 'b' }, true],
    [{ field: 'x', notIn: ['a', 'b'] }, { x: 'b' }, false],
    [{ field: 'x', exists: true }, {}, false],
    [{ field: 'x', exists: false }, {}, true],
    [{ field: 'x', gte: 5 }, {}, undefined], // a reading without the field says nothing
    [{ field: 'constructor', exists: true }, {}, false], // only own fields
  ])('%j on %j → %s', (node, values, want) => {
    expect(run(compile(node), tele(values))).toBe(want);
  });

  it('event equals / in: undefined on non-event readings', () => {
    expect(run(compile({ event: 'press' }), ev('press'))).toBe(true);
    expect(run(compile({ event: 'press' }), ev('cancel'))).toBe(false);
    expect(run(compile({ event: ['press', 'fall'] }), ev('fall'))).toBe(true);
    expect(run(compile({ event: 'press' }), tele({ battery: 50 }))).toBeUndefined();
  });

  it('combinators follow Kleene logic', () => {
    const yes = { field: 'a', eq: 1 };
    const no = { field: 'a', eq: 2 };
    const unknown = { field: 'zz', eq: 1 };
    const r = (node: unknown) => run(compile(node), tele({ a: 1 }));
    expect(r({ any: [unknown, yes] })).toBe(true);
    expect(r({ any: [unknown, no] })).toBeUndefined();
    expect(r({ any: [no, no] })).toBe(false);
    expect(r({ all: [unknown, no] })).toBe(false);
    expect(r({ all: [unknown, yes] })).toBeUndefined();
    expect(r({ all: [yes, yes] })).toBe(true);
    expect(r({ not: yes })).toBe(false);
    expect(r({ not: unknown })).toBeUndefined();
  });

  it.each([
    [{ field: 'x' }, 'condition', 'needs one comparison'],
    [{ field: 'x', gt: 1, lt: 5 }, 'condition', 'several comparisons'],
    [{ field: 'x', between: [5, 1] }, 'condition.between', 'low ≤ high'],
    [{ all: [{ field: 'x', gt: 1 }, { bogus: 1 }] }, 'condition.all[1]', 'expected one of'],
    [{ count: { event: 'a' }, within: 'soon', gte: 1 }, 'condition.within', 'duration'],
    [{ count: { event: 'a' }, within: '1m', in: [1] }, 'condition.in', 'not a numeric comparison'],
    [{ rate: 'x', within: '1m', gte: 1, extra: 1 }, 'condition.extra', 'not a known key'],
    ['x > 5', 'condition', 'expected a condition object'],
  ])('refuses %j at %s', (node, path, why) => {
    expect(() => compile(node)).toThrow(
      expect.objectContaining({ path, message: expect.stringContaining(why) }),
    );
  });

  it('window memory is bounded', () => {
    const count = compile({ count: { event: 'x' }, within: '1h', gte: 10 });
    const rate = compile({ rate: 'v', within: '1h', gte: 10 });
    const ctx: EvalContext = { reading: ev('x'), fields: {}, now: 0, ops: {}, opsChanged: false };
    for (let i = 0; i < 5000; i++) {
      ctx.now = i;
      count(ctx);
    }
    expect(ctx.ops[0]?.length).toBe(MAX_WINDOW_SAMPLES);
    const rctx: EvalContext = {
      reading: tele({ v: 1 }),
      fields: { v: 1 },
      now: 0,
      ops: {},
      opsChanged: false,
    };
    for (let i = 0; i < 10_000; i++) {
      rctx.now = i * 100; // every 100 ms for 1000 s: one sample kept per 3600000 / 4096 ≈ 879 ms
      rate(rctx);
    }
    expect((rctx.ops[0]?.length ?? 0) / 2).toBeLessThan(1200);
    expect(() => compile({ count: { event: 'x' }, within: '1h', gte: MAX_WINDOW_SAMPLES + 1 })).toThrow(
      /not supported/,
    );
  });
});
