import type { Logger } from 'pino';
import type { DeviceTypeId } from '../catalogue/types.ts';
import { ManualClock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { PlacePath } from '../domain/places.ts';
import type { FieldValue, Reading } from '../domain/reading.ts';
import type { RuleResult } from '../domain/rule-result.ts';
import { parseDuration } from '../settings/fields.ts';
import type { CompiledRule } from './compile.ts';
import { createEvaluator, type PresenceSeed } from './evaluator.ts';

/** A sample reading for `test`: time absolute (`at`) or relative to the start (`after`). */
export interface TestReading {
  at?: number | string;
  after?: number | string;
  deviceId?: string;
  deviceType?: string;
  placeId?: string;
  place?: PlacePath;
  floor?: number | null;
  kind?: 'telemetry' | 'event' | 'status';
  values?: Record<string, FieldValue>;
  event?: string;
  data?: Record<string, FieldValue>;
  status?: 'online' | 'offline';
}

export interface TestOptions {
  /** Virtual start time (epoch ms or ISO); default the clock's now. */
  start?: number | string;
  /** How long to keep the virtual clock running after the last reading (default: the rule's longest duration). */
  advanceAfterMs?: number;
}

export type TestResult = Omit<RuleResult, 'reading'> & { offsetMs: number };

/** An instant: epoch ms or an ISO 8601 string. */
function toInstant(v: number | string, field: string): number {
  const t = typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(t)) {
    throw new GridHubError('REQUEST_INVALID', `${field}: expected epoch ms or ISO 8601, got ${v}`, { field });
  }
  return t;
}

/** An offset: milliseconds or e.g. 90s, 10m, 4h. */
function toOffset(v: number | string, field: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d+(ms|s|m|h|d)?$/.test(v)) return parseDuration(v);
  throw new GridHubError('REQUEST_INVALID', `${field}: expected a duration such as 90s or 10m, got ${v}`, {
    field,
  });
}

/**
 * Run one rule over sample readings on a ManualClock: the same evaluator as the live engine, without
 * persistence, sinks or metrics.
 */
export function runSandbox(
  compiled: CompiledRule,
  readings: readonly TestReading[],
  options: TestOptions & { log: Logger; defaultStart: number },
): TestResult[] {
  const start = options.start === undefined ? options.defaultStart : toInstant(options.start, 'start');
  const clock = new ManualClock(start);
  const results: TestResult[] = [];
  const ev = createEvaluator({
    clock,
    log: options.log,
    onTimerResults: (rs) => collect(rs),
  });
  const collect = (rs: readonly RuleResult[]) => {
    for (const r of rs) {
      const { reading: _reading, ...rest } = r;
      results.push({ ...rest, offsetMs: r.at - start } as TestResult);
    }
  };
  ev.setRules([
    {
      ...compiled,
      stats: { evaluations: 0, matches: 0, errors: 0, nanos: 0 },
      rule: { ...compiled.rule, enabled: true },
    },
  ]);
  const firstType = [...compiled.types][0] as DeviceTypeId;
  const timed = readings.map((r, i) => {
    const at =
      r.at !== undefined
        ? toInstant(r.at, `readings[${i}].at`)
        : r.after !== undefined
          ? start + toOffset(r.after, `readings[${i}].after`)
          : start;
    const deviceType = (r.deviceType ?? firstType) as DeviceTypeId;
    if (!compiled.types.has(deviceType)) {
      throw new GridHubError(
        'REQUEST_INVALID',
        `readings[${i}].deviceType: rule ${compiled.id} applies to ${[...compiled.types].join(', ')}, not ${deviceType}`,
        { field: `readings[${i}].deviceType` },
      );
    }
    const common = {
      deviceId: r.deviceId ?? 'test-device',
      deviceType,
      placeId: r.placeId ?? 'test-place',
      place: r.place ?? {},
      floor: r.floor ?? null,
      ts: at,
      receivedAt: at,
      qos: 0 as const,
    };
    const kind =
      r.kind ?? (r.event !== undefined ? 'event' : r.status !== undefined ? 'status' : 'telemetry');
    const reading: Reading =
      kind === 'event'
        ? { ...common, kind, event: r.event ?? '', data: r.data ?? {} }
        : kind === 'status'
          ? { ...common, kind, status: r.status ?? 'online', source: 'device' }
          : { ...common, kind: 'telemetry', values: r.values ?? {} };
    return { at, i, reading };
  });
  timed.sort((a, b) => a.at - b.at || a.i - b.i);
  // Devices of the sample are present from the start, so absence rules time from there.
  const seen = new Map<string, PresenceSeed>();
  for (const { reading } of timed) {
    if (!seen.has(reading.deviceId)) seen.set(reading.deviceId, { ...reading, lastSeen: start });
  }
  ev.seedPresence([...seen.values()]);
  let last = start;
  for (const { at, reading } of timed) {
    clock.advanceTo(Math.max(at, clock.now()));
    collect(ev.handle(reading).results);
    last = Math.max(last, at);
  }
  clock.advanceTo(last + (options.advanceAfterMs ?? compiled.horizonMs));
  ev.close();
  return results;
}
