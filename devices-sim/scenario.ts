/**
 * Scenario files: a timeline scripted on top of the devices' background behaviour, and the outcomes the hub
 * must produce (checked against its HTTP API and the MQTT topics at the end of the run).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEVICE_TYPE_IDS } from '../src/catalogue/types.ts';
import { PLACE_LEVELS } from '../src/domain/places.ts';
import { parseDuration } from '../src/settings/fields.ts';

const durationMs = z.union([
  z.number().int().min(0),
  z
    .string()
    .regex(/^\d+(ms|s|m|h|d)?$/, 'expected milliseconds or a number followed by ms, s, m, h or d')
    .transform(parseDuration),
]);

const value = z.union([z.number(), z.boolean(), z.string()]);
const values = z.record(z.string(), value);

/** Which devices of the credentials file a group takes. */
const groupSchema = z.strictObject({
  type: z.enum(DEVICE_TYPE_IDS).optional(),
  types: z.array(z.enum(DEVICE_TYPE_IDS)).min(1).optional(),
  /** How many to take (fewer when the file has fewer; `min` makes that an error). */
  count: z.number().int().min(1),
  min: z.number().int().min(1).optional(),
  /**
   * All from the one place that has the most matching devices: `true` = the same install place (placeId), or
   * a level (`building`) = the same place of that level (read from the hub's API, else the install place).
   */
  samePlace: z.union([z.boolean(), z.enum(PLACE_LEVELS)]).default(false),
  /** At most one per floor, ordered by floor ascending (a fire climbing the building). */
  distinctFloors: z.boolean().default(false),
});

/** `smokes` (the whole group) or `smokes[1]` (one device of it). */
const targetRef = z.string().regex(/^[A-Za-z][\w-]*(\[\d+\])?$/, 'expected group or group[index]');

const stepBase = { at: durationMs, target: targetRef, note: z.string().optional() };

const stepSchema = z.union([
  z.strictObject({
    ...stepBase,
    event: z.string().min(1),
    data: values.optional(),
    qos: z.literal([0, 1]).default(1),
  }),
  z.strictObject({ ...stepBase, telemetry: values, qos: z.literal([0, 1]).default(0) }),
  z.strictObject({ ...stepBase, status: z.enum(['online', 'offline']) }),
  /** Bytes as a faulty firmware would send them, on one of the device's channels. */
  z.strictObject({
    ...stepBase,
    raw: z.strictObject({ channel: z.enum(['telemetry', 'event', 'status']), payload: z.string() }),
    qos: z.literal([0, 1]).default(0),
  }),
  /** Drop the connections without DISCONNECT, as a failing gateway or power cut does: the will fires. */
  z.strictObject({ ...stepBase, disconnect: z.literal(true) }),
  z.strictObject({ ...stepBase, reconnect: z.literal(true) }),
  /** A person acting on the open alert of the target device through the API. */
  z.strictObject({
    ...stepBase,
    alertAction: z.enum(['acknowledge', 'arrive', 'resolve', 'false_alarm', 'close']),
    as: z.enum(['worker', 'manager', 'admin']).default('worker'),
    body: z.record(z.string(), z.unknown()).optional(),
  }),
]);

const countRange = {
  min: z.number().int().min(0).optional(),
  max: z.number().int().min(0).optional(),
  /** Checked at this point of the timeline instead of at the end (e.g. online before an outage). */
  at: durationMs.optional(),
};

/** Words looked for (case-insensitive) in an alert's detail/timeline, tolerant of the API's exact field names. */
const expectAlerts = z.strictObject({
  alerts: z.strictObject({
    /** Alerts of these devices count. */
    target: targetRef,
    /** Matched against category, type, rule id and title. */
    category: z.string().optional(),
    severity: z.enum(['critical', 'major', 'minor']).optional(),
    ...countRange,
    /** Only alerts raised or repeated at least this long after the scenario started (hub clock). */
    since: durationMs.optional(),
    /** Every matching alert (or at least `someHave` of them) shows each of these words in its detail. */
    timeline: z.array(z.string()).optional(),
    someHave: z.number().int().min(1).optional(),
  }),
});

const expectErrors = z.strictObject({
  errors: z.strictObject({
    target: targetRef,
    ...countRange,
    codes: z.array(z.string()).optional(),
  }),
});

/** Messages the sim received on workers' alarm topics, about the target's devices. */
const expectAlarms = z.strictObject({
  alarms: z.strictObject({
    target: targetRef,
    ...countRange,
    /** A storm is one digest per person, not a push per device: at most this many messages to any one worker. */
    perWorkerMax: z.number().int().min(0).optional(),
  }),
});

/** Devices of the target the hub shows as offline (`GET /api/devices/:id`). */
const expectOffline = z.strictObject({
  offline: z.strictObject({ target: targetRef, ...countRange }),
});

/** Devices of the target the hub shows as online. */
const expectOnline = z.strictObject({
  online: z.strictObject({ target: targetRef, ...countRange }),
});

const expectationSchema = z.union([expectAlerts, expectErrors, expectAlarms, expectOffline, expectOnline]);

/** The body of an expectation, whatever its kind. */
export function expectationBody(e: z.output<typeof expectationSchema>): { target: string; at?: number } {
  return Object.values(e)[0] as { target: string; at?: number };
}

export const scenarioSchema = z
  .strictObject({
    name: z.string().min(1),
    description: z.string().default(''),
    /** Virtual time the timeline runs for before the checks. */
    duration: durationMs,
    /** Real seconds the checks keep polling for before they fail (the hub may still be catching up). */
    settleSeconds: z.number().min(0).default(15),
    /** Speed suggested for a quick run; the hub's own speed wins when the API reports it. */
    suggestedSpeed: z.number().positive().default(60),
    background: z
      .strictObject({
        /** `all` devices of the credentials file, only the `groups`, or `none`. */
        devices: z.enum(['all', 'groups', 'none']).default('groups'),
        /** Random incidents would add alerts the checks do not expect: off unless asked for. */
        incidents: z.boolean().default(false),
        /** Cap on the background devices connected (one connection each). */
        max: z.number().int().min(0).default(300),
      })
      .prefault({}),
    groups: z.record(z.string().regex(/^[A-Za-z][\w-]*$/), groupSchema),
    timeline: z.array(stepSchema),
    expect: z.array(expectationSchema).default([]),
  })
  .superRefine((s, ctx) => {
    const check = (ref: string, path: (string | number)[]) => {
      const group = ref.replace(/\[\d+\]$/, '');
      if (!(group in s.groups)) ctx.addIssue({ code: 'custom', path, message: `unknown group ${group}` });
    };
    s.timeline.forEach((step, i) => {
      check(step.target, ['timeline', i, 'target']);
      if (step.at > s.duration)
        ctx.addIssue({ code: 'custom', path: ['timeline', i, 'at'], message: 'step is after the duration' });
    });
    s.expect.forEach((e, i) => {
      const inner = expectationBody(e);
      check(inner.target, ['expect', i, Object.keys(e)[0] as string, 'target']);
      if (inner.at !== undefined && inner.at > s.duration)
        ctx.addIssue({ code: 'custom', path: ['expect', i], message: 'check is after the duration' });
    });
    for (const [name, g] of Object.entries(s.groups)) {
      if (!g.type && !g.types)
        ctx.addIssue({ code: 'custom', path: ['groups', name], message: 'give type or types' });
    }
  });

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioStep = Scenario['timeline'][number];
export type Expectation = Scenario['expect'][number];
export type GroupSpec = Scenario['groups'][string];

export class ScenarioError extends Error {
  override name = 'ScenarioError';
}

export function parseScenario(text: string, source = 'scenario'): Scenario {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ScenarioError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const result = scenarioSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ScenarioError(`${source}: invalid scenario\n${lines.join('\n')}`);
  }
  return result.data;
}

export function loadScenario(path: string): Scenario {
  return parseScenario(readFileSync(path, 'utf8'), path);
}

/** `smokes[1]` → { group: 'smokes', index: 1 }; `smokes` → { group: 'smokes' }. */
export function parseTarget(ref: string): { group: string; index?: number } {
  const m = /^([A-Za-z][\w-]*)(?:\[(\d+)\])?$/.exec(ref);
  if (!m) throw new ScenarioError(`bad target ${ref}`);
  return m[2] === undefined ? { group: m[1] as string } : { group: m[1] as string, index: Number(m[2]) };
}
