import { z } from 'zod';
import { duration, int } from '../config/fields.ts';

/** `influx` section: env GRIDHUB_INFLUX_<KEY>. Without `url`, the embedded store is used. */
export const influxConfigSchema = z.object({
  url: z.url().optional(),
  /** `v2`: InfluxDB 2.x, 3.x and 1.8+ (`/api/v2/write`); `v1`: older 1.x through `/write`. */
  api: z.enum(['v2', 'v1']).default('v2'),
  org: z.string().default('gridhub'),
  bucket: z.string().default('gridhub'),
  token: z.string().optional(),
  database: z.string().default('gridhub'),
  retentionPolicy: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
});

/** `telemetry` section: env GRIDHUB_TELEMETRY_<KEY>. */
export const telemetryConfigSchema = z.object({
  /** How long the embedded store keeps readings. */
  retention: duration(30 * 86_400_000),
  /** Upper bound of the on-disk spool used while InfluxDB is unreachable. */
  spoolMaxBytes: int(512 * 1024 * 1024, 1024),
});

export type InfluxConfig = z.output<typeof influxConfigSchema>;
export type TelemetryConfig = z.output<typeof telemetryConfigSchema>;
