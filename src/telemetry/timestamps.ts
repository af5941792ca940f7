/**
 * One accepted reading = one stored point. A store keeps one point per series and timestamp (InfluxDB: the
 * measurement and tag set; the embedded store: the device), so two readings of a device stamped with the same
 * receive millisecond — a burst, or the elements of an array payload without `ts` — would collapse into one.
 *
 * The stamper gives every hub-stamped reading a nanosecond timestamp that no other reading of its series has:
 * its receive millisecond plus a per-series tie-break in the sub-millisecond digits, in arrival order. Readings
 * that carry their own `ts` keep it exactly (the device's word); two of them with the same `ts` are the same
 * instant, so the later replaces the earlier, as InfluxDB does — the stamper reports it so that it is counted.
 */

/** A point's time: epoch milliseconds and the nanoseconds within that millisecond (0 … 999 999). */
export interface PointTime {
  ms: number;
  ns: number;
}

export interface Stamped extends PointTime {
  /** The reading carried its own `ts` and an earlier reading of its series had the same one. */
  replaces: boolean;
}

interface SeriesState {
  /** The latest point time handed out to a hub-stamped reading, as ms and sub-ms ns. */
  ms: number;
  ns: number;
  /** Recent device timestamps (ms) of the series, newest last: how a repeated `ts` is recognised. */
  recent: number[] | undefined;
  /** Receive time of the last reading, for the idle sweep. */
  seen: number;
}

/** How many recent device timestamps per series are compared with a new one. */
const RECENT_DEVICE_TS = 8;
/** Series idle this long (by receive time) are forgotten; see `createStamper`. */
const IDLE_MS = 60_000;

export interface Stamper {
  /**
   * The point time of a reading of `series`: `deviceTs` true when `tsMs` came from the payload, else `tsMs` is
   * the receive time and the result is unique in the series and after every earlier hub stamp of it.
   * `receivedAt` (hub time) only ages out idle series.
   */
  stamp(series: string, tsMs: number, receivedAt: number, deviceTs: boolean): Stamped;
  /** Number of series remembered (for tests and the memory note). */
  readonly size: number;
}

/**
 * Hub stamps never fall on a whole millisecond (the sub-ms part starts at 1): device timestamps are whole
 * milliseconds, so a hub-stamped reading can never take the place of a device-stamped one in the same series.
 * When the clock steps back, the series goes on from its last stamp, so order and uniqueness still hold.
 *
 * Memory is one small entry per active series; series idle for a minute are dropped (a clock step back of more
 * than a minute after such a pause is the one case where a hub stamp could meet an older point again).
 */
export function createStamper(): Stamper {
  const series = new Map<string, SeriesState>();
  let sweepAt = 0;

  function sweep(now: number): void {
    for (const [k, s] of series) if (now - s.seen > IDLE_MS) series.delete(k);
    sweepAt = now + IDLE_MS;
  }

  return {
    get size() {
      return series.size;
    },
    stamp(key, tsMs, receivedAt, deviceTs) {
      const ms = Math.trunc(tsMs);
      if (receivedAt >= sweepAt) sweep(receivedAt);
      let s = series.get(key);
      if (!s) {
        s = { ms: 0, ns: 0, recent: undefined, seen: receivedAt };
        series.set(key, s);
      } else s.seen = receivedAt;
      if (deviceTs) {
        s.recent ??= [];
        const recent = s.recent;
        const replaces = recent.includes(ms);
        if (!replaces) {
          recent.push(ms);
          if (recent.length > RECENT_DEVICE_TS) recent.shift();
        }
        return { ms, ns: 0, replaces };
      }
      let outMs = ms;
      let outNs = 1;
      if (ms < s.ms || (ms === s.ms && s.ns >= 1)) {
        // Same millisecond as the last stamp (or the clock went back): the next nanosecond after it.
        outMs = s.ms;
        outNs = s.ns + 1;
        if (outNs > 999_999) {
          outMs += 1;
          outNs = 1;
        }
      }
      s.ms = outMs;
      s.ns = outNs;
      return { ms: outMs, ns: outNs, replaces: false };
    },
  };
}

/** Nanoseconds since the epoch as decimal digits (ms × 10⁶ + ns does not fit a double exactly). */
export function nanosString(t: PointTime): string {
  if (t.ns === 0) return `${t.ms}000000`;
  const ns = String(t.ns);
  return `${t.ms}${'000000'.slice(ns.length)}${ns}`;
}
