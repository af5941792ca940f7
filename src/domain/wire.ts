/**
 * The MQTT wire contract: topics and payloads shared by ingest, the dispatcher, the simulator and the tests.
 */
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

/** `gh/{deviceId}/telemetry` payload: the type's telemetry fields, all optional but at least one. */
export type TelemetryPayload = Record<string, number | boolean | string> & { ts?: string | number };

/** `gh/{deviceId}/event` payload. */
export interface EventPayload {
  event: string;
  ts?: string | number;
  data?: Record<string, number | boolean | string>;
}

/** `gh/{deviceId}/status` payload: the plain string `online` / `offline` (or JSON `{"status": ...}`). */
export type StatusPayload = 'online' | 'offline';

/** One message on `gh/{deviceId}/errors` per rejected payload (per array element). */
export interface DeviceErrorMessage {
  code: string;
  topic: string;
  /** Dotted path of the offending field, e.g. `smoke` or `data.confidence`; `[2].smoke` inside arrays. */
  field?: string;
  message: string;
  /** Index in an array payload, when the payload was an array. */
  index?: number;
  at: string;
}

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
