/**
 * Outcome checks of a scenario, evaluated over what was observed (alerts from the API, errors and alarms from
 * MQTT, device states). Pure functions: the runner gathers, this decides and explains.
 */
import { type WorkerMessage, workerMessageSchema } from '../src/domain/wire.ts';
import type { AlertSummary } from './hub-api.ts';
import type { Expectation } from './scenario.ts';

export interface Observed {
  alerts: AlertSummary[];
  /** Alert id → detail (with timeline), fetched for the alerts the checks look into. */
  details: Map<string, Record<string, unknown>>;
  /** Device id → messages received on its errors topic. */
  errors: Map<string, { code?: string }[]>;
  /** Alarm messages received on workers' topics, as text. */
  alarms: { topic: string; text: string }[];
  /** Hub-clock time the scenario started, for `since`. */
  startedAt?: number;
  /** Device id → device record from the API (undefined when not readable). */
  devices: Map<string, Record<string, unknown> | undefined>;
}

export interface CheckResult {
  ok: boolean;
  name: string;
  expected: string;
  seen: string;
}

/** `smoke|fire` style alternatives, case-insensitive, matched anywhere. */
export function matchesWords(text: string, pattern: string): boolean {
  const hay = text.toLowerCase();
  return pattern
    .toLowerCase()
    .split('|')
    .some((w) => w.length > 0 && hay.includes(w.trim()));
}

function alertText(a: AlertSummary): string {
  const r = a.raw;
  return [a.category, r.type, r.ruleId, r.rule, r.title, r.kind]
    .filter((v) => typeof v === 'string')
    .join(' ');
}

function range(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return min === max ? `exactly ${min}` : `${min}–${max}`;
  if (min !== undefined) return `at least ${min}`;
  if (max !== undefined) return `at most ${max}`;
  return 'any number';
}

const inRange = (n: number, min?: number, max?: number) =>
  (min === undefined || n >= min) && (max === undefined || n <= max);

/** When the alert was last raised or repeated (hub clock), tolerant of the field names. */
function lastActivity(a: AlertSummary): number {
  const times = ['lastSeenAt', 'openedAt', 'createdAt', 'raisedAt', 'updatedAt']
    .map((k) => a.raw[k])
    .map((v) => (typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN))
    .filter((v) => Number.isFinite(v));
  return times.length ? Math.max(...times) : 0;
}

/** Devices of a target (a group or one member), resolved by the runner. */
export type ResolveTarget = (ref: string) => string[];

export function matchingAlerts(
  e: Extract<Expectation, { alerts: unknown }>['alerts'],
  observed: Observed,
  resolve: ResolveTarget,
): AlertSummary[] {
  const ids = new Set(resolve(e.target));
  return observed.alerts.filter(
    (a) =>
      a.deviceId !== undefined &&
      ids.has(a.deviceId) &&
      (e.category === undefined || matchesWords(alertText(a), e.category)) &&
      (e.severity === undefined || a.severity.toLowerCase() === e.severity) &&
      (e.since === undefined || lastActivity(a) >= (observed.startedAt ?? 0) + e.since),
  );
}

export function evaluate(exp: Expectation, observed: Observed, resolve: ResolveTarget): CheckResult {
  if ('alerts' in exp) {
    const e = exp.alerts;
    const found = matchingAlerts(e, observed, resolve);
    const name = `alerts ${e.target}${e.category ? ` category~${e.category}` : ''}${e.severity ? ` severity=${e.severity}` : ''}${e.since !== undefined ? ` since +${e.since / 1000}s` : ''}${e.timeline?.length ? ` timeline has ${e.timeline.join(' & ')}` : ''}`;
    const min = e.min ?? (e.max === undefined ? 1 : undefined);
    const seenList = found
      .map((a) => `${a.id}(${a.deviceId} ${a.category} ${a.severity} ${a.status})`)
      .join(', ');
    if (!inRange(found.length, min, e.max)) {
      const others = observed.alerts
        .filter((a) => a.deviceId !== undefined && resolve(e.target).includes(a.deviceId))
        .map((a) => `${a.id}(${a.deviceId} ${a.category} ${a.severity} ${a.status})`);
      return {
        ok: false,
        name,
        expected: `${range(min, e.max)} alert(s)`,
        seen: `${found.length}${seenList ? `: ${seenList}` : ''}${others.length ? `; all alerts of these devices: ${others.join(', ')}` : '; no alert of these devices'}`,
      };
    }
    if (e.timeline?.length) {
      const need = e.someHave ?? found.length;
      const missing: string[] = [];
      let having = 0;
      for (const a of found) {
        const text = JSON.stringify(observed.details.get(a.id) ?? a.raw);
        const lacks = e.timeline.filter((w) => !matchesWords(text, w));
        if (lacks.length === 0) having++;
        else missing.push(`${a.id} lacks ${lacks.join(', ')}`);
      }
      if (having < need) {
        return {
          ok: false,
          name,
          expected: `${need} alert(s) whose detail shows ${e.timeline.join(' & ')}`,
          seen: `${having}; ${missing.join('; ')}`,
        };
      }
    }
    return {
      ok: true,
      name,
      expected: `${range(min, e.max)} alert(s)`,
      seen: `${found.length}: ${seenList}`,
    };
  }
  if ('errors' in exp) {
    const e = exp.errors;
    const msgs = resolve(e.target).flatMap((id) => observed.errors.get(id) ?? []);
    const counted = e.codes ? msgs.filter((m) => m.code !== undefined && e.codes?.includes(m.code)) : msgs;
    const min = e.min ?? (e.max === undefined ? 1 : undefined);
    const codes = [...new Set(msgs.map((m) => m.code ?? '?'))].join(', ');
    return {
      ok: inRange(counted.length, min, e.max),
      name: `errors-topic answers to ${e.target}${e.codes ? ` with ${e.codes.join('/')}` : ''}`,
      expected: range(min, e.max),
      seen: `${counted.length} (of ${msgs.length}${codes ? `, codes ${codes}` : ''})`,
    };
  }
  if ('alarms' in exp) {
    const e = exp.alarms;
    const ids = resolve(e.target);
    // An alarm names its device; a digest names the device of each alert it folds.
    const about = observed.alarms.filter((m) => {
      const devices = devicesOf(parseWorkerMessage(m.text));
      return ids.some((id) => devices.includes(id));
    });
    const perWorker = new Map<string, number>();
    for (const m of about) perWorker.set(m.topic, (perWorker.get(m.topic) ?? 0) + 1);
    const busiest = Math.max(0, ...perWorker.values());
    const min = e.min ?? (e.max === undefined && e.perWorkerMax === undefined ? 1 : undefined);
    const ok =
      inRange(about.length, min, e.max) && (e.perWorkerMax === undefined || busiest <= e.perWorkerMax);
    return {
      ok,
      name: `worker alarms about ${e.target}`,
      expected: `${range(min, e.max)}${e.perWorkerMax !== undefined ? `, at most ${e.perWorkerMax} per worker` : ''}`,
      seen: `${about.length} of ${observed.alarms.length} alarm message(s) received, to ${perWorker.size} worker(s), at most ${busiest} to one`,
    };
  }
  const wantOnline = 'online' in exp;
  const e = 'online' in exp ? exp.online : exp.offline;
  const ids = resolve(e.target);
  const offline = ids.filter((id) => {
    const d = observed.devices.get(id);
    if (!d) return false;
    const status = d.status ?? d.state;
    const isOnline = d.online === true || status === 'online';
    return wantOnline ? isOnline : d.online === false || status === 'offline';
  }).length;
  const readable = ids.filter((id) => observed.devices.get(id) !== undefined).length;
  const min = e.min ?? (e.max === undefined ? 1 : undefined);
  return {
    ok: inRange(offline, min, e.max),
    name: `devices of ${e.target} shown ${wantOnline ? 'online' : 'offline'}${e.at !== undefined ? ` at +${e.at / 1000}s` : ''}`,
    expected: range(min, e.max),
    seen: `${offline} of ${ids.length} (${readable} readable through the API)`,
  };
}

export function formatResults(results: CheckResult[]): string {
  return results
    .map(
      (r) => `${r.ok ? 'PASS' : 'FAIL'}  ${r.name}\n      expected: ${r.expected}\n      seen:     ${r.seen}`,
    )
    .join('\n');
}

/** A message of a worker's alarms topic, checked against the wire contract; undefined when it is not one. */
export function parseWorkerMessage(text: string): WorkerMessage | undefined {
  try {
    const parsed = workerMessageSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function devicesOf(message: WorkerMessage | undefined): string[] {
  if (!message) return [];
  return message.kind === 'alarm' ? [message.device.id] : message.items.map((i) => i.device.id);
}
