import { isUtf8 } from 'node:buffer';
import type { z } from 'zod';
import type { CompiledEntry, FieldSpec } from '../catalogue/catalogue.ts';
import type { ErrorCode } from '../domain/errors.ts';
import type {
  EventReading,
  FieldValue,
  Reading,
  StatusReading,
  TelemetryReading,
} from '../domain/reading.ts';
import type { DeviceRecord } from '../domain/records.ts';
import { type DeviceChannel, EVENT_ID_PATTERN } from '../domain/wire.ts';
import { type FlatKeys, flatKeys, readFlatObject } from './flat-json.ts';

/** Why one payload (or one element of an array payload) was refused; becomes one `errors` message. */
export interface Rejection {
  code: ErrorCode;
  /** Dotted path of the offending field (`smoke`, `data.confidence`), prefixed `[i].` inside arrays. */
  field?: string;
  message: string;
  index?: number;
}

export interface Decoded {
  readings: Reading[];
  /** null when everything was accepted (the common case allocates nothing for it). */
  rejections: Rejection[] | null;
}

export interface DecodeInput {
  channel: DeviceChannel;
  payload: Buffer;
  device: DeviceRecord;
  entry: CompiledEntry;
  receivedAt: number;
  qos: 0 | 1;
  /** Who published a status: the device itself, or the broker on its behalf (will). */
  statusSource: StatusReading['source'];
  maxFutureSkewMs: number;
}

/** Device clocks that never synced report 1970; anything before this is not a real reading time. */
export const MIN_TIMESTAMP = Date.UTC(2000, 0, 1);
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/** Epoch ms for a `ts` value, or undefined when it is neither ISO 8601 nor epoch ms in a plausible range. */
export function parseTimestamp(
  value: unknown,
  receivedAt: number,
  maxFutureSkewMs: number,
): number | undefined {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return undefined;
    ms = value;
  } else if (typeof value === 'string') {
    if (!ISO_8601.test(value)) return undefined;
    ms = Date.parse(value);
    if (Number.isNaN(ms)) return undefined;
  } else return undefined;
  return ms >= MIN_TIMESTAMP && ms <= receivedAt + maxFutureSkewMs ? ms : undefined;
}

/**
 * Why a `ts` was refused, with the hub's own time so a device with a drifting or unsynced clock can tell; a
 * number that would be plausible ×1000 is called out as epoch seconds, the commonest mistake.
 */
function timestampRejection(value: unknown, receivedAt: number, maxFutureSkewMs: number): Rejection {
  const hub = `the hub's time is ${new Date(receivedAt).toISOString()} (${receivedAt})`;
  const looksLikeSeconds =
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value * 1000 >= MIN_TIMESTAMP &&
    value * 1000 <= receivedAt + maxFutureSkewMs;
  let why = 'ts must be ISO 8601 (e.g. 2026-01-05T08:00:00Z) or epoch milliseconds';
  if (looksLikeSeconds)
    why = `ts ${value} looks like epoch seconds; send epoch milliseconds (${value * 1000})`;
  else if (typeof value === 'number' && Number.isInteger(value) && value > receivedAt + maxFutureSkewMs)
    why = `ts ${value} is in the future`;
  else if (typeof value === 'number' && Number.isInteger(value) && value < MIN_TIMESTAMP)
    why = `ts ${value} is before 2000 (an unsynced clock?)`;
  return { code: 'TIMESTAMP_INVALID', field: 'ts', message: `${why}; ${hub}` };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const p of path) out = out ? `${out}.${String(p)}` : String(p);
  return out;
}

/** The first zod issue as a device-facing rejection; `known` lists the allowed fields for unknown-key errors. */
function issueRejection(error: z.ZodError, prefix: string, known: readonly string[]): Rejection {
  const issue = error.issues[0];
  if (!issue) return { code: 'PAYLOAD_INVALID', message: 'payload does not match the device type schema' };
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const field = joinPath(prefix, [...issue.path, key]);
    return {
      code: 'PAYLOAD_INVALID',
      field,
      message: `unknown field "${key}"; allowed: ${known.length ? known.join(', ') : '(none)'}`,
    };
  }
  const field = joinPath(prefix, issue.path);
  return field
    ? { code: 'PAYLOAD_INVALID', field, message: `${field}: ${issue.message}` }
    : { code: 'PAYLOAD_INVALID', message: issue.message };
}

/**
 * The telemetry check of an entry without zod, for the common case of a valid payload: it accepts only what
 * `telemetrySchema` accepts (known fields of the right kind within their bounds, at least one) and returns the
 * same object, fields in the catalogue's order; anything else returns undefined and zod decides, so refusals and
 * their messages stay zod's. A zod parse costs more than the JSON.parse of the payload (issue #19).
 */
type FastCheck = (fields: Record<string, unknown>) => Record<string, FieldValue> | undefined;

/** What the fast path of an entry needs, built once per entry. */
interface FastPath {
  check: FastCheck;
  keys: FlatKeys;
}

const fastPaths = new WeakMap<CompiledEntry, FastPath>();

function compileFastCheck(specs: Record<string, FieldSpec>): FastCheck {
  const names = Object.keys(specs);
  const order = new Map(names.map((n, i) => [n, i]));
  const required = names.filter((n) => (specs[n] as FieldSpec).required === true);
  const ok = (spec: FieldSpec, v: unknown): boolean => {
    switch (spec.kind) {
      case 'number':
        return (
          typeof v === 'number' &&
          (spec.integer ? Number.isSafeInteger(v) : Number.isFinite(v)) &&
          (spec.min === undefined || v >= spec.min) &&
          (spec.max === undefined || v <= spec.max)
        );
      case 'boolean':
        return typeof v === 'boolean';
      case 'string':
        return typeof v === 'string' && v.length <= spec.maxLength;
    }
  };
  return (fields) => {
    let n = 0;
    let last = -1;
    let ordered = true;
    for (const key in fields) {
      if (!Object.hasOwn(fields, key)) continue;
      const at = order.get(key);
      if (at === undefined || !ok(specs[key] as FieldSpec, fields[key])) return undefined;
      if (at < last) ordered = false;
      last = at;
      n++;
    }
    if (n === 0) return undefined;
    for (const r of required) if (!Object.hasOwn(fields, r)) return undefined;
    // Fields already in the catalogue's order (what devices built from the catalogue send): the parsed object
    // is the result as it is, one allocation fewer per reading.
    if (ordered) return fields as Record<string, FieldValue>;
    const out: Record<string, FieldValue> = {};
    for (const name of names) if (Object.hasOwn(fields, name)) out[name] = fields[name] as FieldValue;
    return out;
  };
}

function fastPathOf(entry: CompiledEntry): FastPath {
  let fast = fastPaths.get(entry);
  if (fast === undefined) {
    fast = { check: compileFastCheck(entry.telemetry), keys: flatKeys(Object.keys(entry.telemetry)) };
    fastPaths.set(entry, fast);
  }
  return fast;
}

const EVENT_KEYS = new Set(['event', 'eventId', 'ts', 'data']);
const STATUS_KEYS = new Set(['status', 'ts']);

type ElementResult = Reading | Rejection;

function telemetryElement(el: unknown, input: DecodeInput): ElementResult {
  if (!isObject(el))
    return { code: 'PAYLOAD_INVALID', message: 'expected a JSON object of telemetry fields' };
  let ts = input.receivedAt;
  let fields: Record<string, unknown> = el;
  if (el.ts !== undefined) {
    const parsed = parseTimestamp(el.ts, input.receivedAt, input.maxFutureSkewMs);
    if (parsed === undefined) return timestampRejection(el.ts, input.receivedAt, input.maxFutureSkewMs);
    ts = parsed;
    const { ts: _ts, ...rest } = el;
    fields = rest;
  }
  let values = fastPathOf(input.entry).check(fields);
  if (values === undefined) {
    const result = input.entry.telemetrySchema.safeParse(fields);
    if (!result.success) return issueRejection(result.error, '', Object.keys(input.entry.telemetry));
    values = result.data;
  }
  const d = input.device;
  const reading: TelemetryReading = {
    kind: 'telemetry',
    deviceId: d.id,
    deviceType: d.type,
    placeId: d.placeId,
    place: d.place,
    floor: d.floor,
    ts,
    receivedAt: input.receivedAt,
    qos: input.qos,
    values,
  };
  // Only a device-given ts is kept as is; the telemetry stores make hub stamps unique per series.
  if (el.ts !== undefined) reading.deviceTs = true;
  return reading;
}

const EMPTY: Record<string, FieldValue> = Object.freeze({}) as Record<string, FieldValue>;

function eventElement(el: unknown, input: DecodeInput): ElementResult {
  if (!isObject(el))
    return { code: 'PAYLOAD_INVALID', message: 'expected a JSON object {"event": ..., "data": {...}}' };
  for (const key in el) {
    if (!EVENT_KEYS.has(key))
      return {
        code: 'PAYLOAD_INVALID',
        field: key,
        message: `unknown field "${key}"; allowed: event, eventId, ts, data`,
      };
  }
  const name = el.event;
  if (typeof name !== 'string')
    return {
      code: 'PAYLOAD_INVALID',
      field: 'event',
      message: name === undefined ? 'event: required' : 'event: expected a string',
    };
  const schemas = input.entry.eventSchemas;
  const schema = Object.hasOwn(schemas, name) ? schemas[name] : undefined;
  if (!schema) {
    const known = Object.keys(schemas);
    return {
      code: 'EVENT_UNKNOWN',
      field: 'event',
      message: `event "${name.slice(0, 64)}" is not defined for device type ${input.entry.id}; known: ${known.length ? known.join(', ') : '(none)'}`,
    };
  }
  const eventId = el.eventId;
  if (eventId !== undefined && (typeof eventId !== 'string' || !EVENT_ID_PATTERN.test(eventId)))
    return {
      code: 'PAYLOAD_INVALID',
      field: 'eventId',
      message: 'eventId: expected 1–64 printable ASCII characters without spaces',
    };
  let ts = input.receivedAt;
  if (el.ts !== undefined) {
    const parsed = parseTimestamp(el.ts, input.receivedAt, input.maxFutureSkewMs);
    if (parsed === undefined) return timestampRejection(el.ts, input.receivedAt, input.maxFutureSkewMs);
    ts = parsed;
  }
  const rawData = el.data === undefined ? EMPTY : el.data;
  if (!isObject(rawData))
    return { code: 'PAYLOAD_INVALID', field: 'data', message: 'data: expected an object' };
  const result = schema.safeParse(rawData);
  if (!result.success)
    return issueRejection(result.error, 'data', Object.keys(input.entry.events[name]?.data ?? {}));
  const d = input.device;
  const reading: EventReading = {
    kind: 'event',
    deviceId: d.id,
    deviceType: d.type,
    placeId: d.placeId,
    place: d.place,
    floor: d.floor,
    ts,
    receivedAt: input.receivedAt,
    qos: input.qos,
    event: name,
    data: result.data,
  };
  if (el.ts !== undefined) reading.deviceTs = true;
  if (eventId !== undefined) reading.eventId = eventId;
  return reading;
}

function statusReading(status: 'online' | 'offline', ts: number, input: DecodeInput): StatusReading {
  const d = input.device;
  return {
    kind: 'status',
    deviceId: d.id,
    deviceType: d.type,
    placeId: d.placeId,
    place: d.place,
    floor: d.floor,
    ts,
    receivedAt: input.receivedAt,
    qos: input.qos,
    status,
    source: input.statusSource,
  };
}

function statusElement(el: unknown, input: DecodeInput): ElementResult {
  if (el === 'online' || el === 'offline') return statusReading(el, input.receivedAt, input);
  if (!isObject(el))
    return { code: 'PAYLOAD_INVALID', message: 'expected online, offline or {"status": "online"|"offline"}' };
  for (const key in el) {
    if (!STATUS_KEYS.has(key))
      return { code: 'PAYLOAD_INVALID', field: key, message: `unknown field "${key}"; allowed: status, ts` };
  }
  const status = el.status;
  if (status !== 'online' && status !== 'offline')
    return {
      code: 'PAYLOAD_INVALID',
      field: 'status',
      message: `status must be online or offline, got ${JSON.stringify(status)?.slice(0, 40)}`,
    };
  let ts = input.receivedAt;
  if (el.ts !== undefined) {
    const parsed = parseTimestamp(el.ts, input.receivedAt, input.maxFutureSkewMs);
    if (parsed === undefined) return timestampRejection(el.ts, input.receivedAt, input.maxFutureSkewMs);
    ts = parsed;
  }
  const reading = statusReading(status, ts, input);
  if (el.ts !== undefined) reading.deviceTs = true;
  return reading;
}

const DECODERS: Record<DeviceChannel, (el: unknown, input: DecodeInput) => ElementResult> = {
  telemetry: telemetryElement,
  event: eventElement,
  status: statusElement,
};

function isRejection(r: ElementResult): r is Rejection {
  return (r as Reading).kind === undefined;
}

/** `online` / `offline` as bare text (what most devices put in a will), without going through JSON. */
function bareStatus(payload: Buffer): 'online' | 'offline' | undefined {
  if (payload.length === 6 && payload.toString('latin1') === 'online') return 'online';
  if (payload.length === 7 && payload.toString('latin1') === 'offline') return 'offline';
  return undefined;
}

/**
 * Decode and validate one device message: one JSON object or an array of them. Valid elements of an array are
 * accepted even when others are refused; every refused element yields exactly one Rejection.
 */
export function decodeMessage(input: DecodeInput): Decoded {
  const payload = input.payload;
  if (input.channel === 'status') {
    const bare = bareStatus(payload);
    if (bare) return { readings: [statusReading(bare, input.receivedAt, input)], rejections: null };
  }
  if (input.channel === 'telemetry') {
    // the common payload, read without JSON.parse (flat-json.ts); anything else takes the general path below
    const fields = readFlatObject(payload, fastPathOf(input.entry).keys);
    if (fields !== undefined) {
      const r = telemetryElement(fields, input);
      return isRejection(r) ? { readings: [], rejections: [r] } : { readings: [r], rejections: null };
    }
  }
  if (!isUtf8(payload)) {
    return {
      readings: [],
      rejections: [{ code: 'PAYLOAD_NOT_JSON', message: 'payload is not valid UTF-8' }],
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    // A bare word on the status topic is a status that is not one of the two, not broken JSON.
    if (input.channel === 'status' && /^[\w-]{1,32}$/.test(payload.toString('utf8').trim())) {
      return {
        readings: [],
        rejections: [
          {
            code: 'PAYLOAD_INVALID',
            field: 'status',
            message: `status must be online or offline, got "${payload.toString('utf8').trim()}"`,
          },
        ],
      };
    }
    return {
      readings: [],
      rejections: [
        { code: 'PAYLOAD_NOT_JSON', message: `payload is not valid JSON: ${(err as Error).message}` },
      ],
    };
  }
  const decode = DECODERS[input.channel];
  if (!Array.isArray(value)) {
    const r = decode(value, input);
    return isRejection(r) ? { readings: [], rejections: [r] } : { readings: [r], rejections: null };
  }
  if (value.length === 0)
    return {
      readings: [],
      rejections: [{ code: 'PAYLOAD_INVALID', message: 'empty array: nothing to record' }],
    };
  const readings: Reading[] = [];
  let rejections: Rejection[] | null = null;
  for (let i = 0; i < value.length; i++) {
    const r = decode(value[i], input);
    if (isRejection(r)) {
      r.index = i;
      r.field = r.field === undefined ? `[${i}]` : `[${i}].${r.field}`;
      if (rejections === null) rejections = [r];
      else rejections.push(r);
    } else readings.push(r);
  }
  return { readings, rejections };
}
