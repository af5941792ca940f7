import { escape as lp } from '@influxdata/influxdb-client';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { PlacePath } from '../domain/places.ts';
import type { AlertChangePoint } from '../domain/ports.ts';
import type { FieldValue, Reading } from '../domain/reading.ts';

/** The place levels written as tags (a unit is too fine-grained to be worth a series per unit). */
export const PLACE_TAGS = ['street', 'community', 'grid', 'estate', 'building'] as const;

/** Measurements that are not a device type's own. */
export const EVENTS_MEASUREMENT = 'events';
export const STATUS_MEASUREMENT = 'status';
export const ALERTS_MEASUREMENT = 'alerts';

function tagPair(key: string, value: string | undefined): string {
  // InfluxDB refuses empty tag values: an absent level is simply not a tag.
  return value === undefined || value === '' ? '' : `,${key}=${lp.tag(value)}`;
}

function placeTags(place: PlacePath): string {
  let s = '';
  for (const level of PLACE_TAGS) s += tagPair(level, place[level]);
  return s;
}

/**
 * One field as line protocol, or '' when it cannot be written (NaN, ±Infinity). Numbers are always floats:
 * a device sending `87` then `87.5` must not cause an integer/float type conflict in InfluxDB. Newlines in
 * strings are escaped because the spool and the batch body are newline-delimited.
 */
function fieldPair(key: string, value: FieldValue): string {
  const k = lp.tag(key);
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? `${k}=${value}` : '';
    case 'boolean':
      return `${k}=${value ? 'true' : 'false'}`;
    case 'string':
      return `${k}=${lp.quoted(value.replace(/\r?\n|\r/g, '\\n'))}`;
    default:
      return '';
  }
}

function fieldSet(values: Record<string, FieldValue>, extra = ''): string {
  let s = extra;
  for (const key of Object.keys(values)) {
    const v = values[key];
    if (v === undefined) continue;
    const pair = fieldPair(key, v);
    if (pair) s = s ? `${s},${pair}` : pair;
  }
  return s;
}

function line(measurement: string, tags: string, fields: string, ts: number): string | undefined {
  if (!fields) return undefined;
  return `${lp.measurement(measurement)}${tags} ${fields} ${Math.trunc(ts)}`;
}

/**
 * Line protocol (millisecond precision) for one reading, per design §5:
 * - telemetry → measurement = the catalogue entry's `measurement`, tags device + place levels, the values as fields;
 * - event → `events`, tags as above + `type` and `event`, fields = event data + `count=1i`;
 * - status → `status`, tags as above + `type` and `source`, field `online`.
 * Undefined when nothing can be written (e.g. every value was non-finite).
 */
export function readingToLine(reading: Reading, catalogue: Catalogue): string | undefined {
  const tags = `,device=${lp.tag(reading.deviceId)}${placeTags(reading.place)}`;
  switch (reading.kind) {
    case 'telemetry':
      return line(catalogue.get(reading.deviceType).measurement, tags, fieldSet(reading.values), reading.ts);
    case 'event': {
      const extra = 'count' in reading.data ? '' : 'count=1i';
      return line(
        EVENTS_MEASUREMENT,
        `${tags}${tagPair('type', reading.deviceType)}${tagPair('event', reading.event)}`,
        fieldSet(reading.data, extra),
        reading.ts,
      );
    }
    case 'status':
      return line(
        STATUS_MEASUREMENT,
        `${tags}${tagPair('type', reading.deviceType)}${tagPair('source', reading.source)}`,
        `online=${reading.status === 'online' ? 'true' : 'false'}`,
        reading.ts,
      );
  }
}

/** `alerts` measurement: tags severity, category, change, status, device, place levels; fields alert_id, age_s. */
export function alertChangeToLine(c: AlertChangePoint): string {
  const tags =
    tagPair('severity', c.severity) +
    tagPair('category', c.category) +
    tagPair('change', c.change) +
    tagPair('status', c.status) +
    tagPair('device', c.deviceId) +
    placeTags(c.place);
  const age = Number.isFinite(c.ageSeconds) ? c.ageSeconds : 0;
  return `${ALERTS_MEASUREMENT}${tags} alert_id=${lp.quoted(c.alertId)},age_s=${age} ${Math.trunc(c.at)}`;
}
