import { describe, expect, it } from 'vitest';
import { localWeekMinute, shiftCovers } from './people.ts';

const fmt = (tz: string) =>
  new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });

describe('duty time', () => {
  it('reads weekday and minute in the community time zone', () => {
    // Sunday 2026-01-04 23:30 UTC is Monday 07:30 in Shanghai.
    const at = Date.UTC(2026, 0, 4, 23, 30);
    expect(localWeekMinute(fmt('Asia/Shanghai'), at)).toEqual({ weekday: 1, minute: 7 * 60 + 30 });
    expect(localWeekMinute(fmt('UTC'), at)).toEqual({ weekday: 0, minute: 23 * 60 + 30 });
  });

  it.each([
    [{ weekday: 1, startMinute: 540, endMinute: 1080 }, 1, 540, true],
    [{ weekday: 1, startMinute: 540, endMinute: 1080 }, 1, 1080, false],
    [{ weekday: 1, startMinute: 540, endMinute: 1080 }, 2, 600, false],
    // Night shift Saturday 22:00 → Sunday 06:00.
    [{ weekday: 6, startMinute: 1320, endMinute: 1800 }, 6, 1400, true],
    [{ weekday: 6, startMinute: 1320, endMinute: 1800 }, 0, 300, true],
    [{ weekday: 6, startMinute: 1320, endMinute: 1800 }, 0, 360, false],
  ])('shift %o covers weekday %i minute %i: %s', (shift, weekday, minute, covered) => {
    expect(shiftCovers(shift, weekday, minute)).toBe(covered);
  });
});
