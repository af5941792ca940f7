import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock/clock.ts';
import { LoginThrottle } from './auth.ts';

describe('LoginThrottle', () => {
  it('answers the free failures at once, then doubles up to the maximum', () => {
    const clock = new ManualClock();
    const t = new LoginThrottle(clock, { free: 2, baseDelayMs: 500, maxDelayMs: 3_000 });
    expect([1, 2, 3, 4, 5, 6, 7].map(() => t.fail('10.0.0.1'))).toEqual([
      0, 0, 500, 1_000, 2_000, 3_000, 3_000,
    ]);
    expect(t.fail('10.0.0.2')).toBe(0);
  });

  it('forgets an address after 15 quiet minutes', () => {
    const clock = new ManualClock();
    const t = new LoginThrottle(clock, { free: 0, baseDelayMs: 100, maxDelayMs: 10_000 });
    t.fail('a');
    t.fail('a');
    expect(t.failures('a')).toBe(2);
    clock.advance(15 * 60_000);
    expect(t.fail('a')).toBe(100);
    expect(t.failures('a')).toBe(1);
  });
});
