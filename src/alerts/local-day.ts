/**
 * Local days of the hub's time zone as integer arithmetic a database can do: within a stretch of time where the
 * zone keeps one UTC offset, the local day of `t` is ⌊(t + offset) / 1 day⌋. The zone's rules stay in JavaScript
 * (Intl); the SQL only adds and divides, the same on SQLite and PostgreSQL.
 */
import { dateFormat } from '../clock/date-format.ts';

export const DAY_MS = 86_400_000;

function formatter(timeZone: string): Intl.DateTimeFormat {
  return dateFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
}

/** The zone's offset from UTC at `ms`, in ms (east positive): local wall time − UTC. */
export function zoneOffset(timeZone: string, ms: number): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(ms)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const local = Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
  return local - Math.floor(ms / 1000) * 1000;
}

/** One offset from the previous stretch's end up to `until` (exclusive; null: to the end of the range). */
export interface OffsetStretch {
  until: number | null;
  offset: number;
}

/**
 * The stretches of one offset that cover [from, to]. Offsets change a few times a year at most, so the range is
 * walked in 12-hour steps and each change is found by bisection to the millisecond.
 */
export function offsetStretches(timeZone: string, from: number, to: number): OffsetStretch[] {
  const STEP = 12 * 3_600_000;
  const out: OffsetStretch[] = [];
  let offset = zoneOffset(timeZone, from);
  let t = from;
  while (t < to) {
    const next = Math.min(t + STEP, to);
    const there = zoneOffset(timeZone, next);
    if (there !== offset) {
      let lo = t;
      let hi = next;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (zoneOffset(timeZone, mid) === offset) lo = mid;
        else hi = mid;
      }
      out.push({ until: hi, offset });
      offset = zoneOffset(timeZone, hi);
      t = hi;
    } else {
      t = next;
    }
  }
  out.push({ until: null, offset });
  return out;
}

/** The local date (YYYY-MM-DD) of a day number ⌊(t + offset) / 1 day⌋. */
export function dateOfDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}
