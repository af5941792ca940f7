import { describe, expect, it } from 'vitest';
import { DAY_MS, dateOfDay, offsetStretches, zoneOffset } from './local-day.ts';

const H = 3_600_000;

describe('local days as integer arithmetic', () => {
  it('finds the offset changes of a zone to the millisecond, and none where there are none', () => {
    const from = Date.UTC(2025, 0, 1);
    const to = Date.UTC(2026, 0, 1);
    // Berlin: summer time from 30 Mar 2025 01:00 UTC to 26 Oct 2025 01:00 UTC.
    expect(offsetStretches('Europe/Berlin', from, to)).toEqual([
      { until: Date.UTC(2025, 2, 30, 1), offset: 1 * H },
      { until: Date.UTC(2025, 9, 26, 1), offset: 2 * H },
      { until: null, offset: 1 * H },
    ]);
    expect(offsetStretches('Asia/Shanghai', from, to)).toEqual([{ until: null, offset: 8 * H }]);
    // Quarter-hour zones work the same.
    expect(zoneOffset('Asia/Kathmandu', from)).toBe(5.75 * H);
  });

  it('gives each instant the local date Intl gives it', () => {
    const fmt = (tz: string) => new Intl.DateTimeFormat('en-CA', { timeZone: tz, dateStyle: 'short' });
    for (const tz of ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu']) {
      const local = fmt(tz);
      const stretches = offsetStretches(tz, Date.UTC(2025, 2, 1), Date.UTC(2025, 11, 1));
      for (let t = Date.UTC(2025, 2, 1); t < Date.UTC(2025, 11, 1); t += 7 * H + 13 * 60_000) {
        const s = stretches.find((x) => x.until === null || t < x.until);
        const day = Math.floor((t + (s?.offset ?? 0)) / DAY_MS);
        expect(dateOfDay(day), `${tz} ${new Date(t).toISOString()}`).toBe(local.format(t));
      }
    }
  });
});
