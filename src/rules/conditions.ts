import type { FieldValue, Reading } from '../domain/reading.ts';
import { parseDuration } from '../settings/fields.ts';

/**
 * Conditions are structured data evaluated through an operator table, never code:
 *
 *   { all: [C, ...] }  { any: [C, ...] }  { not: C }
 *   { event: 'alarm' }  { event: ['press', 'fall'] }
 *   { field: 'fill', gte: 90 }            comparisons: eq ne gt gte lt lte between in notIn exists
 *   { count: C, within: '10m', gte: 3 }   how many readings satisfied C within the sliding window
 *   { rate: 'temperature', within: '5m', per: '1m', gte: 10 }   change per `per` over the window
 *
 * Evaluation is three-valued: a leaf about something the reading does not carry (a field it lacks, an event
 * test on telemetry) is `undefined` — "no information" — and neither starts nor breaks a `for`. Combinators
 * follow Kleene logic: `any` is true if one part is true, false if all are false, else undefined; `all`
 * the dual; `not` keeps undefined.
 */
export type Tri = boolean | undefined;

/** Per (rule, device) operator memory: window timestamps for `count`, [t, v, t, v, ...] for `rate`. */
export type OpsState = Record<number, number[]>;

export interface EvalContext {
  reading: Reading;
  /** `values` of telemetry, `data` of events, empty for status. */
  fields: Record<string, FieldValue>;
  now: number;
  ops: OpsState;
  /** Set when a stateful operator changed `ops` (so the state is persisted). */
  opsChanged: boolean;
}

/** Most entries one `count` or `rate` operator remembers per device. */
export const MAX_WINDOW_SAMPLES = 4096;

export type CompiledCondition = (ctx: EvalContext) => Tri;

export class ConditionError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

type Comparator = (actual: FieldValue, expected: unknown) => boolean;

const num =
  (f: (a: number, b: number) => boolean): Comparator =>
  (a, b) =>
    typeof a === 'number' && typeof b === 'number' && f(a, b);

/** The operator table. Numeric comparisons are false (not an error) on non-numbers. */
export const COMPARATORS: Record<string, Comparator> = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  gt: num((a, b) => a > b),
  gte: num((a, b) => a >= b),
  lt: num((a, b) => a < b),
  lte: num((a, b) => a <= b),
  between: (a, b) => typeof a === 'number' && Array.isArray(b) && a >= b[0] && a <= b[1],
  in: (a, b) => Array.isArray(b) && b.includes(a),
  notIn: (a, b) => Array.isArray(b) && !b.includes(a),
};

const NUMERIC_OPS = new Set(['gt', 'gte', 'lt', 'lte', 'between']);
const COMPARISON_KEYS = [...Object.keys(COMPARATORS), 'exists'];

/** What a condition refers to, for validation against the catalogue and for indexing by device type. */
export interface ConditionRefs {
  fields: { name: string; path: string; numeric: boolean }[];
  events: { name: string; path: string }[];
}

export interface CompileOptions {
  /** Next index for stateful operators; shared across the rule's conditions so each has its own slot. */
  slot: { next: number };
  refs: ConditionRefs;
  /** Longest window or duration seen, for the test sandbox. */
  maxWindowMs: { value: number };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toDuration(v: unknown, path: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d+(ms|s|m|h|d)?$/.test(v)) return parseDuration(v);
  throw new ConditionError(path, 'expected a duration: milliseconds or e.g. 90s, 10m, 4h');
}

/** The one comparison key of a leaf, checked and compiled into a predicate over a value. */
function comparison(
  node: Record<string, unknown>,
  allowed: readonly string[],
  path: string,
  numericOnly: boolean,
): { key: string; test: (v: FieldValue | undefined) => Tri; numeric: boolean } {
  const keys = Object.keys(node).filter((k) => COMPARISON_KEYS.includes(k));
  if (keys.length !== 1) {
    throw new ConditionError(
      path,
      keys.length === 0
        ? `needs one comparison of ${COMPARISON_KEYS.join(', ')}`
        : `has several comparisons (${keys.join(', ')}); use all: [...] to combine them`,
    );
  }
  const key = keys[0] as string;
  const expected = node[key];
  const at = `${path}.${key}`;
  if (numericOnly && !NUMERIC_OPS.has(key) && key !== 'eq' && key !== 'ne') {
    throw new ConditionError(at, `is not a numeric comparison`);
  }
  for (const k of Object.keys(node)) {
    if (!allowed.includes(k) && !COMPARISON_KEYS.includes(k)) {
      throw new ConditionError(`${path}.${k}`, 'is not a known key here');
    }
  }
  if (key === 'exists') {
    if (typeof expected !== 'boolean') throw new ConditionError(at, 'expected true or false');
    return { key, test: (v) => (v !== undefined) === expected, numeric: false };
  }
  if (NUMERIC_OPS.has(key)) {
    if (key === 'between') {
      if (
        !Array.isArray(expected) ||
        expected.length !== 2 ||
        typeof expected[0] !== 'number' ||
        typeof expected[1] !== 'number' ||
        expected[0] > expected[1]
      ) {
        throw new ConditionError(at, 'expected [low, high] numbers with low ≤ high');
      }
    } else if (typeof expected !== 'number' || !Number.isFinite(expected)) {
      throw new ConditionError(at, 'expected a number');
    }
  } else if (key === 'in' || key === 'notIn') {
    if (
      !Array.isArray(expected) ||
      expected.length === 0 ||
      !expected.every((x) => ['number', 'string', 'boolean'].includes(typeof x))
    ) {
      throw new ConditionError(at, 'expected a non-empty list of numbers, strings or booleans');
    }
  } else if (!['number', 'string', 'boolean'].includes(typeof expected)) {
    throw new ConditionError(at, 'expected a number, string or boolean');
  }
  if (numericOnly && typeof expected !== 'number' && key !== 'between') {
    throw new ConditionError(at, 'expected a number');
  }
  const cmp = COMPARATORS[key] as Comparator;
  return {
    key,
    test: (v) => (v === undefined ? undefined : cmp(v, expected)),
    numeric: NUMERIC_OPS.has(key) || typeof expected === 'number',
  };
}

/** Parse and compile one condition tree. Throws ConditionError naming the offending path. */
export function compileCondition(node: unknown, path: string, opts: CompileOptions): CompiledCondition {
  if (!isRecord(node)) throw new ConditionError(path, 'expected a condition object');
  const keys = Object.keys(node);
  const only = (...allowed: string[]) => {
    for (const k of keys) {
      if (!allowed.includes(k)) throw new ConditionError(`${path}.${k}`, 'is not a known key here');
    }
  };

  if ('all' in node || 'any' in node) {
    const op = 'all' in node ? 'all' : 'any';
    only(op);
    const list = node[op];
    if (!Array.isArray(list) || list.length === 0) {
      throw new ConditionError(`${path}.${op}`, 'expected a non-empty list of conditions');
    }
    const parts = list.map((c, i) => compileCondition(c, `${path}.${op}[${i}]`, opts));
    if (op === 'all') {
      return (ctx) => {
        let unknown = false;
        for (const p of parts) {
          const r = p(ctx);
          if (r === false) return false;
          if (r === undefined) unknown = true;
        }
        return unknown ? undefined : true;
      };
    }
    return (ctx) => {
      let unknown = false;
      for (const p of parts) {
        const r = p(ctx);
        if (r === true) return true;
        if (r === undefined) unknown = true;
      }
      return unknown ? undefined : false;
    };
  }

  if ('not' in node) {
    only('not');
    const inner = compileCondition(node.not, `${path}.not`, opts);
    return (ctx) => {
      const r = inner(ctx);
      return r === undefined ? undefined : !r;
    };
  }

  if ('event' in node) {
    only('event');
    const ev = node.event;
    const names = typeof ev === 'string' ? [ev] : ev;
    if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string' && n)) {
      throw new ConditionError(`${path}.event`, 'expected an event name or a non-empty list of them');
    }
    names.forEach((n, i) => {
      opts.refs.events.push({
        name: n,
        path: typeof ev === 'string' ? `${path}.event` : `${path}.event[${i}]`,
      });
    });
    if (names.length === 1) {
      const name = names[0];
      return (ctx) => (ctx.reading.kind === 'event' ? ctx.reading.event === name : undefined);
    }
    const set = new Set(names);
    return (ctx) => (ctx.reading.kind === 'event' ? set.has(ctx.reading.event) : undefined);
  }

  if ('field' in node) {
    const name = node.field;
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new ConditionError(`${path}.field`, 'expected a field name');
    }
    const cmp = comparison(node, ['field'], path, false);
    opts.refs.fields.push({ name, path: `${path}.field`, numeric: cmp.key !== 'exists' && cmp.numeric });
    const test = cmp.test;
    return (ctx) => test(Object.hasOwn(ctx.fields, name) ? ctx.fields[name] : undefined);
  }

  if ('count' in node) {
    const inner = compileCondition(node.count, `${path}.count`, opts);
    const within = toDuration(node.within, `${path}.within`);
    if (within <= 0) throw new ConditionError(`${path}.within`, 'must be longer than 0');
    opts.maxWindowMs.value = Math.max(opts.maxWindowMs.value, within);
    const cmp = comparison(node, ['count', 'within'], path, true);
    const threshold = Object.entries(node).find(([k]) => COMPARATORS[k] && k !== 'in' && k !== 'notIn')?.[1];
    const highest = Array.isArray(threshold) ? Math.max(...(threshold as number[])) : (threshold as number);
    if (highest > MAX_WINDOW_SAMPLES) {
      throw new ConditionError(
        path,
        `counts above ${MAX_WINDOW_SAMPLES} within one window are not supported`,
      );
    }
    const slot = opts.slot.next++;
    // Counted only on readings the inner condition speaks about; the window is (now - within, now].
    return (ctx) => {
      const hit = inner(ctx);
      if (hit === undefined) return undefined;
      let times = ctx.ops[slot];
      if (!times) {
        times = [];
        ctx.ops[slot] = times;
      }
      const before = times.length;
      let drop = 0;
      while (drop < times.length && (times[drop] as number) <= ctx.now - within) drop++;
      if (drop > 0) times.splice(0, drop);
      if (hit) {
        times.push(ctx.now);
        // Bounded memory: the count saturates at the cap, above any threshold a rule may use.
        if (times.length > MAX_WINDOW_SAMPLES) times.shift();
      }
      if (drop > 0 || times.length !== before) ctx.opsChanged = true;
      return cmp.test(times.length);
    };
  }

  if ('rate' in node) {
    const name = node.rate;
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new ConditionError(`${path}.rate`, 'expected a numeric field name');
    }
    const within = toDuration(node.within, `${path}.within`);
    if (within <= 0) throw new ConditionError(`${path}.within`, 'must be longer than 0');
    const per = node.per === undefined ? 60_000 : toDuration(node.per, `${path}.per`);
    if (per <= 0) throw new ConditionError(`${path}.per`, 'must be longer than 0');
    opts.maxWindowMs.value = Math.max(opts.maxWindowMs.value, within);
    const cmp = comparison(node, ['rate', 'within', 'per'], path, true);
    opts.refs.fields.push({ name, path: `${path}.rate`, numeric: true });
    const slot = opts.slot.next++;
    // rate = (v_now - v_oldest) / (t_now - t_oldest) × per, oldest = earliest sample with t ≥ now - within;
    // undefined until an earlier sample exists in the window.
    return (ctx) => {
      const v = Object.hasOwn(ctx.fields, name) ? ctx.fields[name] : undefined;
      if (typeof v !== 'number') return undefined;
      let samples = ctx.ops[slot];
      if (!samples) {
        samples = [];
        ctx.ops[slot] = samples;
      }
      let drop = 0;
      while (drop < samples.length && (samples[drop] as number) < ctx.now - within) drop += 2;
      if (drop > 0) samples.splice(0, drop);
      let result: Tri;
      if (samples.length >= 2 && (samples[0] as number) < ctx.now) {
        const t0 = samples[0] as number;
        const v0 = samples[1] as number;
        result = cmp.test(((v - v0) / (ctx.now - t0)) * per);
      }
      // Bounded memory: keep a sample at most every within / MAX_WINDOW_SAMPLES, so the window stays its
      // full length and the oldest sample is at most that much later than exact.
      const lastT = samples.length >= 2 ? (samples[samples.length - 2] as number) : undefined;
      if (lastT === undefined || ctx.now - lastT >= within / MAX_WINDOW_SAMPLES) samples.push(ctx.now, v);
      ctx.opsChanged = true;
      return result;
    };
  }

  throw new ConditionError(path, 'expected one of all, any, not, event, field, count, rate');
}

export function newCompileOptions(): CompileOptions {
  return { slot: { next: 0 }, refs: { fields: [], events: [] }, maxWindowMs: { value: 0 } };
}

export function fieldsOf(reading: Reading): Record<string, FieldValue> {
  return reading.kind === 'telemetry' ? reading.values : reading.kind === 'event' ? reading.data : EMPTY;
}

const EMPTY: Record<string, FieldValue> = Object.freeze({}) as Record<string, FieldValue>;
