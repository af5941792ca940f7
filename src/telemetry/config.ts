import { z } from 'zod';
import { duration, int } from '../settings/fields.ts';

/** `influx` section: env GRIDHUB_INFLUX_<KEY>. Without `url`, the embedded store is used. */
export const influxConfigSchema = z.object({
  url: z.url().optional(),
  /** `v2`: InfluxDB 2.x, 3.x and 1.8+ (`/api/v2/write`); `v1`: older 1.x through `/write`. */
  api: z.enum(['v2', 'v1']).default('v2'),
  org: z.string().default('gridhub'),
  /** v2 bucket; on 1.8+ compatibility `database/retention-policy`. Reads use it as the InfluxQL database. */
  bucket: z.string().default('gridhub'),
  /** v2 token; on 1.8+ compatibility `username:password` (built from username/password when absent). */
  token: z.string().optional(),
  /** v1 database and retention policy. */
  database: z.string().default('gridhub'),
  retentionPolicy: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /**
   * Lines per write request, sized by bench/telemetry-sink.ts (end to end into influxd 1.6.7 on the same 2-core
   * machine, ~156 B lines, one request in flight, runs under a load average of 5–7 from other jobs, so ±40 %):
   * 500 → 30–41k lines/s, 1 000 → 26–72k, 2 000 → 42–49k, 5 000 → 38–80k, 10 000 → 33–67k. Below 2 000 the
   * per-request cost dominates; 10 000 gains nothing over 5 000 but doubles the request time (~150 ms) and the
   * unit of retry. InfluxData's own guidance is also 5 000.
   */
  batchSize: int(5_000, 1, 100_000),
  /** Longest time a line waits in memory before it is sent: bounds dashboard staleness at low rates. */
  flushInterval: duration(1_000),
  /**
   * Lines held in memory (waiting or in flight) before further lines spill to the on-disk spool: 20 batches,
   * ~17 MB of line text at ~156 B a line. Beyond it the spool takes them, so memory stays bounded when InfluxDB is slow.
   */
  maxQueuedLines: int(100_000, 1_000, 10_000_000),
  /** Request bodies above this many bytes are gzipped (0 = always). */
  gzipThreshold: int(1_000, 0),
  /** Timeout of one write or query request. */
  timeout: duration(10_000),
  /**
   * Backoff of spool replay after a failed write: min doubles up to max, plus random jitter. The max stays
   * short (4 s) so that an InfluxDB that answers errors for a while (5xx, 429) is retried within 5 s of
   * recovering; one batch every few seconds costs it nothing.
   */
  retryMinDelay: duration(500),
  retryMaxDelay: duration(4_000),
  retryJitter: duration(250),
  /** While InfluxDB does not answer at all, `/ping` is asked this often; the replay starts when it answers. */
  probeInterval: duration(1_000),
});

/** `telemetry` section: env GRIDHUB_TELEMETRY_<KEY>. */
export const telemetryConfigSchema = z.object({
  /** How long the embedded store keeps readings. */
  retention: duration(30 * 86_400_000),
  /**
   * Upper bound of the on-disk spool used while InfluxDB is unreachable. 10 minutes at 5 000 lines/s of
   * ~150 B is ~450 MB; 1 GiB leaves room for ~20 minutes. Lines beyond it are dropped, counted and logged.
   */
  spoolMaxBytes: int(1024 * 1024 * 1024, 1024),
  /** Embedded store: rows buffered before one insert transaction, and the longest a row waits. */
  embeddedBatchSize: int(2_000, 1, 1_000_000),
  embeddedFlushInterval: duration(1_000),
  /**
   * Embedded store: the most readings one merge of 16 chunks may join (see embedded-store.ts). A merge runs on
   * the event loop and copies the readings' text once more: 50 000 readings (a few MB) bound that pause; larger
   * chunks move up unmerged.
   */
  embeddedMergeMaxRows: int(50_000, 0),
  /** Embedded store: how often rows older than `retention` are deleted. */
  pruneInterval: duration(3_600_000),
});

export type InfluxConfig = z.output<typeof influxConfigSchema>;
export type TelemetryConfig = z.output<typeof telemetryConfigSchema>;
