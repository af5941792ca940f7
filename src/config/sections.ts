import { z } from 'zod';
import { alertsConfigSchema } from '../alerts/config.ts';
import { mqttConfigSchema } from '../ingest/config.ts';
import { rulesConfigSchema } from '../rules/config.ts';
import { bool, num, port } from '../settings/fields.ts';
import { influxConfigSchema, telemetryConfigSchema } from '../telemetry/config.ts';

/** Top-level settings (env `GRIDHUB_<KEY>`, e.g. GRIDHUB_DATA_DIR). */
export const coreConfigSchema = z.object({
  dataDir: z.string().min(1).default('./data'),
  host: z.string().min(1).default('127.0.0.1'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Seed the demo community on first start with an empty data dir. */
  demo: bool(true),
  /** On `npm start` with the demo: a few demo devices heartbeat and now and then raise an alert. */
  demoActivity: bool(true),
  /** Virtual-time speed for demos and accelerated simulation: clock ms per real ms. */
  clockSpeed: num(1, 0.001, 10_000),
});

export const httpConfigSchema = z.object({
  port: port(8080),
  /** Lifetime of API bearer tokens. */
  tokenTtlHours: num(12, 0.01, 24 * 365),
});

/**
 * Sections (env `GRIDHUB_<SECTION>_<KEY>`, e.g. GRIDHUB_MQTT_PORT, GRIDHUB_INFLUX_URL). Each module owns the
 * schema of its own section.
 */
export const SECTIONS = {
  http: httpConfigSchema,
  mqtt: mqttConfigSchema,
  rules: rulesConfigSchema,
  influx: influxConfigSchema,
  telemetry: telemetryConfigSchema,
  alerts: alertsConfigSchema,
} as const;
