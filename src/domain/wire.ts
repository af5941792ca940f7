/**
 * The MQTT wire contract: topics, and the payloads on them as zod schemas with their inferred types — one place
 * for ingest, the dispatcher, the simulator, the dashboards' worker view, the Node-RED nodes (through the JSON
 * Schema generated from here, node-red-contrib-gridhub/lib/wire.json) and the tests. The per-type fields of
 * telemetry and events are data of the catalogue (src/catalogue); what is here is their common shape.
 */
import { z } from 'zod';
import { DEVICE_TYPE_IDS } from '../catalogue/types.ts';
import { MESSAGE_LANGS } from './alarm.ts';
import { PLACE_LEVELS } from './places.ts';
import { SEVERITIES } from './severity.ts';

export const TOPIC_ROOT = 'gh';
/** Words the hub uses as the second topic level; none can be a device id. */
export const RESERVED_IDS = ['workers', 'integrations', 'hub', 'sys', 'all'] as const;

export const DEVICE_CHANNELS = ['telemetry', 'event', 'status'] as const;
export type DeviceChannel = (typeof DEVICE_CHANNELS)[number];

export const topics = {
  telemetry: (deviceId: string) => `gh/${deviceId}/telemetry`,
  event: (deviceId: string) => `gh/${deviceId}/event`,
  status: (deviceId: string) => `gh/${deviceId}/status`,
  errors: (deviceId: string) => `gh/${deviceId}/errors`,
  workerAlarms: (workerId: string) => `gh/workers/${workerId}/alarms`,
} as const;

/** `gh/integrations/readings/{type}/{deviceId}`: normalised readings, for integrations (Node-RED) only. */
export const INTEGRATION_READINGS_PREFIX = `${TOPIC_ROOT}/integrations/readings/`;

export function integrationReadingsTopic(type: string, deviceId: string): string {
  return `${INTEGRATION_READINGS_PREFIX}${type}/${deviceId}`;
}

/** Device ids: what provisioning accepts, and what ingest expects in the second topic level. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

const scalar = z.union([z.number(), z.boolean(), z.string()]);
/** `ts`: ISO 8601 or epoch milliseconds; without it the hub's receive time is used. */
const deviceTime = z.union([z.string(), z.number()]);
const placePath = z.partialRecord(z.enum(PLACE_LEVELS), z.string());

/** `gh/{deviceId}/telemetry`: the type's telemetry fields (at least one), one object or an array of them. */
export const telemetryPayloadSchema = z
  .record(z.string(), scalar)
  .and(z.object({ ts: deviceTime.optional() }));
export type TelemetryPayload = z.infer<typeof telemetryPayloadSchema>;

/** `eventId`: 1–64 printable ASCII characters, no spaces (a UUID, a counter, `press-000123`). */
export const EVENT_ID_PATTERN = /^[!-~]{1,64}$/;

/** `gh/{deviceId}/event`: one of the type's events with its data. */
export const eventPayloadSchema = z.strictObject({
  event: z.string(),
  /**
   * The device's own identity for this event. The hub takes an event once per (device, eventId) within a day,
   * however often it is redelivered; without it, the MQTT packet id and the payload identify a redelivery.
   */
  eventId: z.string().regex(EVENT_ID_PATTERN).optional(),
  ts: deviceTime.optional(),
  data: z.record(z.string(), scalar).optional(),
});
export type EventPayload = z.infer<typeof eventPayloadSchema>;

/** `gh/{deviceId}/status`: the plain string `online` / `offline` (or JSON `{"status": ...}`). */
export const statusPayloadSchema = z.enum(['online', 'offline']);
export type StatusPayload = z.infer<typeof statusPayloadSchema>;

/** One message on `gh/{deviceId}/errors` per rejected payload (per array element). */
export const deviceErrorMessageSchema = z.object({
  code: z.string(),
  topic: z.string(),
  /** Dotted path of the offending field, e.g. `smoke` or `data.confidence`; `[2].smoke` inside arrays. */
  field: z.string().optional(),
  message: z.string(),
  /** Index in an array payload, when the payload was an array. */
  index: z.number().int().optional(),
  at: z.string(),
});
export type DeviceErrorMessage = z.infer<typeof deviceErrorMessageSchema>;

export const ALERT_STATUSES = [
  'open',
  'dispatched',
  'acknowledged',
  'on_site',
  'resolved',
  'closed',
] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

/** Who a worker message is for: a person picked by duty (`on_duty`, `deputy`, …) or reached another way. */
const recipientSchema = z.object({ personId: z.string().nullable(), role: z.string(), via: z.string() });

/** The resident behind a one-key-call button; names and numbers masked (`138****5678`) where `masked`. */
export const residentSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  phone: z.string().nullable(),
  familyName: z.string().nullable(),
  familyPhone: z.string().nullable(),
  /** Masked: only whether there are notes, since their content is health data. */
  healthNotes: z.string().nullable(),
  masked: z.boolean(),
});

/** The unmasked resident card: only in the app alarm of a person acting on a one-key call or fall (audited). */
export const residentCardSchema = z.object({
  name: z.string(),
  phone: z.string().nullable(),
  familyName: z.string().nullable(),
  familyPhone: z.string().nullable(),
  healthNotes: z.string().nullable(),
  masked: z.literal(false),
});

const placeNameSchema = z.object({ level: z.enum(PLACE_LEVELS), name: z.string() });

/**
 * What messages to people are rendered from (src/domain/alarm.ts, src/channels/templates): the hub always sends
 * these; they are optional here so that older senders and hand-made fixtures still parse.
 */
const messageFields = {
  /** The place by level and name, street first. */
  placePath: z.array(placeNameSchema).optional(),
  /** Language the recipient reads. */
  lang: z.enum(MESSAGE_LANGS).optional(),
  /** The community's time zone: times in messages are written in it. */
  timeZone: z.string().optional(),
  /** Deep link to the alert (or the list) in the worker view. */
  link: z.string().optional(),
  /**
   * This message's identity: the same on every re-send of it (a retry, another hub instance sending it again
   * after taking over from one that died mid-delivery, the broker's QoS 1 redelivery), so an app that has shown
   * it already drops it instead of ringing twice. A new message (an escalation, a must-reach re-ring) has its own.
   */
  messageId: z.string().optional(),
};

/** `gh/workers/{personId}/alarms`, `kind: alarm`: one alert, as the person it is for should act on it. */
export const workerAlarmSchema = z.object({
  ...messageFields,
  /** Who is on it: the people notified at this step. */
  onDuty: z
    .array(
      z.object({ personId: z.string(), name: z.string(), role: z.string(), mobile: z.string().nullable() }),
    )
    .optional(),
  residentCard: residentCardSchema.optional(),
  /** The department whistled in, on a whistle. */
  department: z.string().optional(),
  kind: z.literal('alarm'),
  /** What happened to the alert: `dispatched`, `escalated`, `whistled`, `acknowledged`, `resolved`, … */
  change: z.string(),
  alertId: z.string(),
  incidentId: z.string().nullable(),
  severity: z.enum(SEVERITIES),
  category: z.string(),
  title: z.string(),
  detail: z.string(),
  place: placePath,
  placeNames: z.array(z.string()),
  device: z.object({ id: z.string(), type: z.enum(DEVICE_TYPE_IDS) }),
  floor: z.number().int().nullable(),
  evidence: z.record(z.string(), scalar).nullable(),
  count: z.number().int(),
  status: z.enum(ALERT_STATUSES),
  openedAt: z.number(),
  sla: z.object({
    acknowledgeBy: z.number().nullable(),
    arriveBy: z.number().nullable(),
    resolveBy: z.number().nullable(),
  }),
  /** The resident behind a call button: masked unless the recipient acts on the alert. */
  resident: residentSchema.nullable(),
  recipient: recipientSchema,
  /** The actions open to the recipient now, e.g. `acknowledge`, `arrive`, `resolve`. */
  actions: z.array(z.string()),
  sentAt: z.number(),
});
export type WorkerAlarm = z.infer<typeof workerAlarmSchema>;

/** One line of a digest. */
export const digestItemSchema = workerAlarmSchema.pick({
  alertId: true,
  severity: true,
  category: true,
  title: true,
  placeNames: true,
  floor: true,
  device: true,
  change: true,
  openedAt: true,
  placePath: true,
});
export type DigestItem = z.infer<typeof digestItemSchema>;

/**
 * `gh/workers/{personId}/alarms`, `kind: digest`: many alerts of one kind folded into one message (a storm).
 * A later version of the same `digestId` replaces the earlier one.
 */
export const workerDigestSchema = z.object({
  ...messageFields,
  /** Counts over every alarm of the digest (the list may be cut), largest first. */
  byKind: z.array(z.object({ category: z.string(), title: z.string(), n: z.number().int() })).optional(),
  byBuilding: z.array(z.object({ name: z.string(), n: z.number().int() })).optional(),
  kind: z.literal('digest'),
  digestId: z.string(),
  version: z.number().int(),
  updated: z.boolean(),
  count: z.number().int(),
  newCount: z.number().int(),
  severity: z.enum(SEVERITIES),
  items: z.array(digestItemSchema),
  alertIds: z.array(z.string()),
  recipient: recipientSchema.nullable(),
  sentAt: z.number(),
});
export type WorkerDigest = z.infer<typeof workerDigestSchema>;

/** Everything that arrives on a worker's alarms topic. */
export const workerMessageSchema = z.discriminatedUnion('kind', [workerAlarmSchema, workerDigestSchema]);
export type WorkerMessage = z.infer<typeof workerMessageSchema>;

const readingBase = {
  deviceId: z.string(),
  deviceType: z.enum(DEVICE_TYPE_IDS),
  placeId: z.string(),
  place: placePath,
  floor: z.number().int().nullable(),
  ts: z.number(),
  receivedAt: z.number(),
  qos: z.union([z.literal(0), z.literal(1)]),
};

/** `gh/integrations/readings/{type}/{deviceId}`: a reading as ingest accepted it, for integrations. */
export const integrationReadingSchema = z.discriminatedUnion('kind', [
  z.object({ ...readingBase, kind: z.literal('telemetry'), values: z.record(z.string(), scalar) }),
  z.object({
    ...readingBase,
    kind: z.literal('event'),
    event: z.string(),
    data: z.record(z.string(), scalar),
  }),
  z.object({
    ...readingBase,
    kind: z.literal('status'),
    status: statusPayloadSchema,
    source: z.enum(['device', 'will', 'keepalive']),
  }),
]);
export type IntegrationReading = z.infer<typeof integrationReadingSchema>;

/** The demo credentials file written on first start: `<dataDir>/demo-credentials.json`. */
export interface DemoCredentials {
  generatedAt: string;
  mqttUrl: string;
  httpUrl: string;
  devices: {
    id: string;
    type: string;
    placeId: string;
    placeName: string;
    floor: number | null;
    secret: string;
  }[];
  users: { username: string; password: string; role: string; personId: string | null; scope: string[] }[];
  /** MQTT credentials for grid workers: user name + API token (valid until revoked). */
  workers: { personId: string; username: string; token: string; alarmsTopic: string }[];
}
