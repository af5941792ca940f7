import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSystemClock } from './clock.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('accelerated system clock', () => {
  it('anchored at one instant, two clocks created apart read the same time', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const anchorAt = Date.now();
    const first = createSystemClock({ speed: 60, anchorAt });
    vi.advanceTimersByTime(5_000);
    // a second instance started 5 s later: unanchored it would run 5 min (4 min 55 s) behind the first
    const second = createSystemClock({ speed: 60, anchorAt });
    const unanchored = createSystemClock({ speed: 60 });
    vi.advanceTimersByTime(1_000);
    expect(first.now()).toBe(anchorAt + 6_000 * 60);
    expect(second.now()).toBe(first.now());
    expect(first.now() - unanchored.now()).toBe(5_000 * 59);
  });

  it('at speed 1 an anchor changes nothing', () => {
    vi.useFakeTimers({ now: 2_000_000 });
    const clock = createSystemClock({ speed: 1, anchorAt: 1_000 });
    expect(clock.now()).toBe(Date.now());
  });
});
