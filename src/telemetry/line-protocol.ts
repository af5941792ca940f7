import type { Catalogue } from '../catalogue/catalogue.ts';
import type { FieldSpec } from '../catalogue/types.ts';
import type { PlacePath } from '../domain/places.ts';
import type { AlertChangePoint } from '../domain/ports.ts';
import type { FieldValue, Reading } from '../domain/reading.ts';
import { nanosString, type PointTime } from './timestamps.ts';

/**
 * InfluxDB line protocol, written to the InfluxDB line-protocol reference (1.x and 2.x agree on these rules):
 *
 *   <measurement>[,<tag_key>=<tag_value>…] <field_key>=<field_value>[,…] <timestamp ns>
 *
 * - measurement: commas and spaces are escaped with a backslash;
 * - tag keys, tag values and field keys: commas, equals signs and spaces are escaped;
 * - string field values are double-quoted, with `"` and `\` escaped; newlines and carriage returns stay as they
 *   are inside the quotes (InfluxDB reads them back unchanged; the spool frames them, see spool.ts);
 * - floats are written as JavaScript prints them (`21`, `0.02`, `1e-7`), integers with the `i` suffix where the
 *   catalogue says integer, booleans as `true`/`false`; timestamps in nanoseconds.
 *
 * Anything the format cannot carry exactly is refused with a `LineProtocolError` naming the reason, never
 * written as something else.
 */

/** Why a value cannot be written as line protocol. Stable codes: they appear in logs and metric labels. */
export type LineProtocolRefusal =
  /** NaN or ±Infinity: no line-protocol float can say it. */
  | 'NON_FINITE_NUMBER'
  /** An integer field whose value has a fractional part. */
  | 'NOT_AN_INTEGER'
  /** An integer beyond ±(2⁵³−1) held as a JavaScript number: its exact value is already lost. */
  | 'INTEGER_NOT_EXACT'
  /** An integer outside the int64 range InfluxDB stores. */
  | 'INTEGER_OUT_OF_RANGE'
  /** A newline or carriage return in a measurement, tag or field key, or tag value (the reference forbids it). */
  | 'NEWLINE_IN_NAME'
  /** A backslash at the end of a name, or before a character that is escaped there: it would change the parse. */
  | 'AMBIGUOUS_BACKSLASH'
  /** An empty measurement or key. */
  | 'EMPTY_NAME'
  /** `time` (and InfluxDB 2.x's `_field`, `_measurement`) cannot be a tag or field key. */
  | 'RESERVED_KEY'
  /** A measurement starting with `#` would be read as a comment line. */
  | 'COMMENT_MEASUREMENT'
  /** A string field longer than the 64 KiB InfluxDB stores. */
  | 'STRING_TOO_LONG'
  /** A point needs at least one field. */
  | 'NO_FIELDS'
  /** Before 1970 or after 2262 (int64 nanoseconds). */
  | 'TIMESTAMP_OUT_OF_RANGE';

export class LineProtocolError extends Error {
  constructor(
    readonly reason: LineProtocolRefusal,
    message: string,
  ) {
    super(`${reason}: ${message}`);
    this.name = 'LineProtocolError';
  }
}

export type FieldType = 'float' | 'integer' | 'boolean' | 'string';

/** The place levels written as tags (a unit is too fine-grained to be worth a series per unit). */
export const PLACE_TAGS = ['street', 'community', 'grid', 'estate', 'building'] as const;

/** Measurements that are not a device type's own. */
export const EVENTS_MEASUREMENT = 'events';
export const STATUS_MEASUREMENT = 'status';
export const ALERTS_MEASUREMENT = 'alerts';

const MAX_STRING_BYTES = 64 * 1024;
const RESERVED_KEYS = new Set(['time', '_field', '_measurement']);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Largest epoch ms whose nanoseconds fit int64 (2262-04-11). */
const MAX_MS = 9_223_372_036_853;

const NEEDS_NAME_CHECK = /[\\\n\r]/;
const MEASUREMENT_SPECIAL = /[, ]/g;
const KEY_SPECIAL = /[,= ]/g;

function checkName(s: string, what: string, escaped: string): void {
  if (s === '') throw new LineProtocolError('EMPTY_NAME', `${what} is empty`);
  if (!NEEDS_NAME_CHECK.test(s)) return;
  if (/[\n\r]/.test(s))
    throw new LineProtocolError('NEWLINE_IN_NAME', `${what} ${JSON.stringify(s)} contains a line break`);
  for (let i = s.indexOf('\\'); i >= 0; i = s.indexOf('\\', i + 1)) {
    const next = s[i + 1];
    if (next === undefined || next === '\\' || escaped.includes(next))
      throw new LineProtocolError(
        'AMBIGUOUS_BACKSLASH',
        `${what} ${JSON.stringify(s)}: a backslash at the end or before ${JSON.stringify(next ?? 'the end')} changes how it is read`,
      );
  }
}

export function escapeMeasurement(s: string): string {
  checkName(s, 'measurement', ', ');
  if (s.startsWith('#'))
    throw new LineProtocolError('COMMENT_MEASUREMENT', `measurement ${JSON.stringify(s)} starts with #`);
  return s.replace(MEASUREMENT_SPECIAL, '\\$&');
}

/** Tag keys, tag values and field keys. */
export function escapeKey(s: string, what = 'key'): string {
  checkName(s, what, ',= ');
  return s.replace(KEY_SPECIAL, '\\$&');
}

function escapeTagKey(s: string): string {
  if (RESERVED_KEYS.has(s)) throw new LineProtocolError('RESERVED_KEY', `tag key ${s} is reserved`);
  return escapeKey(s, 'tag key');
}

export function quoteString(s: string): string {
  if (s.length > MAX_STRING_BYTES / 4 && Buffer.byteLength(s) > MAX_STRING_BYTES)
    throw new LineProtocolError('STRING_TOO_LONG', `string of ${Buffer.byteLength(s)} bytes (at most 65536)`);
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

/** One field value as line protocol, in the given type. */
export function encodeFieldValue(value: FieldValue | bigint, type: FieldType, key = 'field'): string {
  switch (type) {
    case 'integer': {
      if (typeof value === 'bigint') {
        if (value < INT64_MIN || value > INT64_MAX)
          throw new LineProtocolError('INTEGER_OUT_OF_RANGE', `${key}=${value} is outside int64`);
        return `${value}i`;
      }
      if (typeof value !== 'number')
        return encodeFieldValue(value, typeof value === 'string' ? 'string' : 'boolean');
      if (!Number.isFinite(value)) throw new LineProtocolError('NON_FINITE_NUMBER', `${key}=${value}`);
      if (!Number.isInteger(value)) throw new LineProtocolError('NOT_AN_INTEGER', `${key}=${value}`);
      if (!Number.isSafeInteger(value))
        throw new LineProtocolError(
          'INTEGER_NOT_EXACT',
          `${key}=${value} is beyond ±(2^53-1); pass a bigint`,
        );
      return `${value}i`;
    }
    case 'float':
      if (typeof value === 'bigint') {
        const n = Number(value);
        if (BigInt(n) !== value)
          throw new LineProtocolError('INTEGER_NOT_EXACT', `${key}=${value} has no exact float`);
        return String(n);
      }
      if (typeof value !== 'number')
        return encodeFieldValue(value, typeof value === 'string' ? 'string' : 'boolean');
      if (!Number.isFinite(value)) throw new LineProtocolError('NON_FINITE_NUMBER', `${key}=${value}`);
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return quoteString(String(value));
  }
}

/** The field type of a value: the catalogue's word where there is one (integer fields), else its JS type. */
function typeOf(value: FieldValue, spec: FieldSpec | undefined): FieldType {
  if (typeof value === 'number') return spec?.kind === 'number' && spec.integer ? 'integer' : 'float';
  return typeof value === 'boolean' ? 'boolean' : 'string';
}

function fieldSet(
  values: Record<string, FieldValue>,
  specs: Record<string, FieldSpec> | undefined,
  extra = '',
): string {
  let s = extra;
  for (const key in values) {
    const v = values[key];
    if (v === undefined) continue;
    if (RESERVED_KEYS.has(key)) throw new LineProtocolError('RESERVED_KEY', `field key ${key} is reserved`);
    const pair = `${escapeKey(key, 'field key')}=${encodeFieldValue(v, typeOf(v, specs?.[key]), key)}`;
    s = s ? `${s},${pair}` : pair;
  }
  if (!s) throw new LineProtocolError('NO_FIELDS', 'a point needs at least one field');
  return s;
}

function tagPair(key: string, value: string | undefined): string {
  // InfluxDB refuses empty tag values: an absent level is simply not a tag.
  return value === undefined || value === '' ? '' : `,${escapeTagKey(key)}=${escapeKey(value, 'tag value')}`;
}

function placeTags(place: PlacePath): string {
  let s = '';
  for (const level of PLACE_TAGS) s += tagPair(level, place[level]);
  return s;
}

/** A point without its timestamp: the series (measurement and tag set) and the field set. */
export interface SeriesPoint {
  series: string;
  fields: string;
}

/**
 * The point of one reading, per design §5:
 * - telemetry → measurement = the catalogue entry's `measurement`, tags device + place levels, the values;
 * - event → `events`, tags as above + `type` and `event`, fields = event data + `count=1i`;
 * - status → `status`, tags as above + `type` and `source`, field `online`.
 * Throws a `LineProtocolError` when it cannot be written exactly.
 */
export function readingToPoint(reading: Reading, catalogue: Catalogue): SeriesPoint {
  const tags = `,device=${escapeKey(reading.deviceId, 'tag value')}${placeTags(reading.place)}`;
  switch (reading.kind) {
    case 'telemetry': {
      const entry = catalogue.get(reading.deviceType);
      return {
        series: `${escapeMeasurement(entry.measurement)}${tags}`,
        fields: fieldSet(reading.values, entry.telemetry),
      };
    }
    case 'event': {
      const specs = catalogue.get(reading.deviceType).events[reading.event]?.data;
      return {
        series: `${EVENTS_MEASUREMENT}${tags}${tagPair('type', reading.deviceType)}${tagPair('event', reading.event)}`,
        fields: fieldSet(reading.data, specs, 'count' in reading.data ? '' : 'count=1i'),
      };
    }
    case 'status':
      return {
        series: `${STATUS_MEASUREMENT}${tags}${tagPair('type', reading.deviceType)}${tagPair('source', reading.source)}`,
        fields: `online=${reading.status === 'online' ? 'true' : 'false'}`,
      };
  }
}

/** `alerts` measurement: tags severity, category, change, status, device, place levels; fields alert_id, age_s. */
export function alertChangeToPoint(c: AlertChangePoint): SeriesPoint {
  const tags =
    tagPair('severity', c.severity) +
    tagPair('category', c.category) +
    tagPair('change', c.change) +
    tagPair('status', c.status) +
    tagPair('device', c.deviceId) +
    placeTags(c.place);
  const age = Number.isFinite(c.ageSeconds) ? c.ageSeconds : 0;
  return {
    series: `${ALERTS_MEASUREMENT}${tags}`,
    fields: `alert_id=${quoteString(c.alertId)},age_s=${age}`,
  };
}

export function timestamp(t: PointTime): string {
  if (!(t.ms >= 0 && t.ms <= MAX_MS))
    throw new LineProtocolError('TIMESTAMP_OUT_OF_RANGE', `${t.ms} ms is not between 1970 and 2262`);
  return nanosString(t);
}

export function pointLine(p: SeriesPoint, t: PointTime): string {
  return `${p.series} ${p.fields} ${timestamp(t)}`;
}

/** The line of one reading at `time` (default: its own `ts`, whole milliseconds). */
export function readingToLine(reading: Reading, catalogue: Catalogue, time?: PointTime): string {
  return pointLine(readingToPoint(reading, catalogue), time ?? { ms: Math.trunc(reading.ts), ns: 0 });
}

export function alertChangeToLine(c: AlertChangePoint, time?: PointTime): string {
  return pointLine(alertChangeToPoint(c), time ?? { ms: Math.trunc(c.at), ns: 0 });
}

/** Build one line from parts, each value with its type (the golden tests and tooling use this directly). */
export function encodeLine(p: {
  measurement: string;
  tags?: readonly (readonly [string, string])[];
  fields: readonly (readonly [string, FieldValue | bigint, FieldType])[];
  time: PointTime;
}): string {
  let series = escapeMeasurement(p.measurement);
  for (const [k, v] of p.tags ?? []) series += tagPair(k, v);
  let fields = '';
  for (const [k, v, type] of p.fields) {
    if (RESERVED_KEYS.has(k)) throw new LineProtocolError('RESERVED_KEY', `field key ${k} is reserved`);
    const pair = `${escapeKey(k, 'field key')}=${encodeFieldValue(v, type, k)}`;
    fields = fields ? `${fields},${pair}` : pair;
  }
  if (!fields) throw new LineProtocolError('NO_FIELDS', 'a point needs at least one field');
  return pointLine({ series, fields }, p.time);
}
