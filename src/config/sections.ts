import { z } from 'zod';
import { alertsConfigSchema } from '../alerts/config.ts';
import { mqttConfigSchema } from '../ingest/config.ts';
import { rulesConfigSchema } from '../rules/config.ts';
import { bool, duration, int, num, port } from '../settings/fields.ts';
import { influxConfigSchema, telemetryConfigSchema } from '../telemetry/config.ts';

/** Top-level settings (env `GRIDHUB_<KEY>`, e.g. GRIDHUB_DATA_DIR). */
export const coreConfigSchema = z.object({
  dataDir: z.string().min(1).default('./data'),
  /**
   * A postgres:// URL for the shared store (several instances on one database, issue #18); unset, the embedded
   * SQLite file in the data dir.
   */
  databaseUrl: z.string().min(1).optional(),
  /**
   * On PostgreSQL: run each statement as a named prepared statement, parsed and planned once per connection
   * (src/storage/pg-prepared.ts). Turn off behind a pooler that cannot keep them, such as PgBouncer in transaction
   * mode before 1.21 (or without `max_prepared_statements`).
   */
  databasePreparedStatements: bool(true),
  /**
   * This instance's name on a shared database: the owner of the journal rows, rule state and device presence it
   * holds. Set one per instance (e.g. the compose service name) so that a restarted instance takes back its own
   * rows at once; unset, each start picks a fresh name and the previous one's rows are taken over when its lease
   * runs out. Not used by the embedded SQLite hub.
   */
  instanceId: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'letters, digits and . _ : - only, at most 64')
    .optional(),
  /**
   * On a shared database: how long an instance that stops renewing (killed, cut off) still owns its rows. Its
   * devices, journaled events and rule state are taken over within this plus a third of it; renewed every third.
   */
  leaseTtlMs: duration(3_000).refine((ms) => ms >= 1_000, 'at least 1 s'),
  /**
   * The server key that device secrets are hashed with (32 random bytes, base64url; created 0600 when missing).
   * Default `<dataDir>/hub.key`. Instances sharing one database must share the key: point each at the same
   * secret file (a Docker/Kubernetes secret); an instance with another key refuses to start.
   */
  secretKeyFile: z.string().min(1).optional(),
  host: z.string().min(1).default('127.0.0.1'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Seed the demo community on first start with an empty data dir. */
  demo: bool(true),
  /** On `npm start` with the demo: a few demo devices heartbeat and now and then raise an alert. */
  demoActivity: bool(true),
  /** Virtual-time speed for demos and accelerated simulation: clock ms per real ms. */
  clockSpeed: num(1, 0.001, 10_000),
  /**
   * The real instant (epoch ms) at which an accelerated clock reads the real time, from which it runs fast.
   * Unset, each process anchors at its own start, so several instances on one database at a speed other than 1
   * would disagree about the time (due steps, leases): give them the same anchor.
   */
  clockAnchor: z.coerce.number().int().min(0).optional(),
});

export const httpConfigSchema = z.object({
  port: port(8080),
  /** Lifetime of login sessions (bearer tokens from POST /api/auth/login). */
  tokenTtlHours: num(12, 0.01, 24 * 365),
  /** Lifetime, and upper bound, of API tokens (POST /api/auth/tokens: MQTT passwords of workers, integrations). */
  apiTokenTtlDays: num(90, 1, 365),
  /** scrypt N for passwords: OWASP's 2^17 by default; weaker stored hashes are re-hashed at the next login. */
  passwordCost: int(131_072, 16_384, 1_048_576).refine((n) => (n & (n - 1)) === 0, 'must be a power of 2'),
  /**
   * Behind a load balancer or reverse proxy: whose `X-Forwarded-For` to believe, so that rate limits and the
   * login throttle count each client's own address rather than the proxy's. A number of proxy hops (`1`), or
   * comma-separated addresses / CIDRs of the proxies (`10.0.0.0/8,172.16.0.0/12`); empty = none (the default).
   */
  trustProxy: z
    .string()
    .regex(/^(\d{1,2}|[0-9A-Fa-f:.,/ ]+)$/, 'a hop count, or comma-separated addresses and CIDRs')
    .default(''),
  /** Requests a minute one caller (a token, else an address) may make under /api; 0 = no limit. */
  rateLimitPerMinute: int(1_200, 0, 1_000_000),
  /** Login attempts (HTTP and MQTT) from one address, and on one account, before each further one waits. */
  loginFreeAttempts: int(10, 1, 10_000),
  /** The first wait after the free attempts; doubles with each further failure up to the maximum. */
  loginDelayMs: duration(1_000),
  loginMaxDelayMs: duration(300_000),
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
