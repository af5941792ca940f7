import { describe, expect, it } from 'vitest';
import { createStamper, nanosString } from './timestamps.ts';

const T = Date.UTC(2026, 0, 5, 8, 0, 0);

describe('point times', () => {
  it('gives hub-stamped readings of one series in one millisecond distinct, ordered nanoseconds', () => {
    const s = createStamper();
    const got = Array.from({ length: 5 }, () => nanosString(s.stamp('a', T, T, false)));
    expect(got).toEqual([1, 2, 3, 4, 5].map((n) => `${T}00000${n}`));
    // Another series starts its own count; the next millisecond starts again after the whole millisecond.
    expect(s.stamp('b', T, T, false)).toEqual({ ms: T, ns: 1, replaces: false });
    expect(s.stamp('a', T + 1, T + 1, false)).toEqual({ ms: T + 1, ns: 1, replaces: false });
  });

  it('keeps order and uniqueness when the clock steps back', () => {
    const s = createStamper();
    s.stamp('a', T + 5, T + 5, false);
    expect(s.stamp('a', T, T, false)).toEqual({ ms: T + 5, ns: 2, replaces: false });
  });

  it('carries over into the next millisecond, never onto a whole one (where device stamps live)', () => {
    const s = createStamper();
    s.stamp('a', T, T, false);
    for (let i = 2; i < 999_999; i++) s.stamp('a', T, T, false);
    expect(s.stamp('a', T, T, false)).toEqual({ ms: T, ns: 999_999, replaces: false });
    expect(s.stamp('a', T, T, false)).toEqual({ ms: T + 1, ns: 1, replaces: false });
  });

  it('keeps a device ts exactly and reports a repeat of it in the same series', () => {
    const s = createStamper();
    expect(s.stamp('a', T, T, true)).toEqual({ ms: T, ns: 0, replaces: false });
    expect(s.stamp('a', T - 1000, T, true).replaces).toBe(false);
    expect(s.stamp('a', T, T, true)).toEqual({ ms: T, ns: 0, replaces: true });
    expect(s.stamp('b', T, T, true).replaces).toBe(false);
    // A hub stamp in the same millisecond is not the device's point.
    expect(s.stamp('a', T, T, false)).toEqual({ ms: T, ns: 1, replaces: false });
  });

  it('forgets series idle for a minute', () => {
    const s = createStamper();
    s.stamp('a', T, T, false);
    s.stamp('b', T + 30_000, T + 30_000, false);
    expect(s.size).toBe(2);
    s.stamp('b', T + 61_000, T + 61_000, false);
    expect(s.size).toBe(1); // a: idle since T
    expect(s.stamp('a', T + 61_000, T + 61_000, false)).toEqual({ ms: T + 61_000, ns: 1, replaces: false });
  });

  it('writes nanoseconds as exact decimal digits', () => {
    expect(nanosString({ ms: T, ns: 0 })).toBe(`${T}000000`);
    expect(nanosString({ ms: T, ns: 42 })).toBe(`${T}000042`);
    expect(nanosString({ ms: T, ns: 999_999 })).toBe(`${T}999999`);
  });
});
