/**
 * The typed seams between stages. Each stage is a factory that takes what it needs through these interfaces;
 * only src/main.ts knows which implementation stands behind each.
 */
import type { DeviceTypeId } from '../catalogue/types.ts';
import type { PlacePath } from './places.ts';
import type { Reading } from './reading.ts';
import type { DeviceRecord, User } from './records.ts';
import type { RuleResult } from './rule-result.ts';
import type { Severity } from './severity.ts';

/** What ingest needs of the registry: device lookup, secret check, presence updates. */
export interface DeviceDirectory {
  get(deviceId: string): DeviceRecord | undefined;
  /** Constant-time check of a device secret against its stored (keyed) hash. */
  verifySecret(deviceId: string, secret: string): Promise<boolean>;
  /** Record presence; cheap enough for every message (coalesced writes). */
  touch(deviceId: string, at: number): void;
  setOnline(deviceId: string, online: boolean, at: number): void;
}

/** What the broker needs to let workers and integrations in with an API token as their MQTT password. */
export interface TokenAuthenticator {
  /**
   * The user, the token's id and its expiry when `token` is a live token of `username`, else undefined. Async:
   * tokens are checked in the store on every use, so a revocation anywhere is refused at once.
   */
  authenticateToken(
    username: string,
    token: string,
  ): Promise<{ user: User; tokenId: string; expiresAt: number | null } | undefined>;
}

/** One login attempt let through the throttle: run its verification through `verify`, then `settle` it. */
export interface LoginAttempt {
  ok: true;
  /** Run the credential check in the bounded verification queue. */
  verify<T>(check: () => Promise<T> | T): Promise<T>;
  /** The outcome: a success takes the attempt back; a failure stays counted. */
  settle(success: boolean): void;
}

export type LoginAdmission =
  | LoginAttempt
  | { ok: false; reason: 'source' | 'account' | 'busy'; retryAfterMs: number };

/** The hub's one login throttle (HTTP login and MQTT CONNECT): counts attempts before they are verified. */
export interface LoginGate {
  admit(source: string, account: string): LoginAdmission;
}

/**
 * ingest → rules. Called once per accepted reading, in arrival order per device. A promise answers when the
 * reading's results are recorded (rejected: they could not be); ingest hands a device's next journaled event on
 * only after it settles.
 */
export type ReadingSink = (reading: Reading) => void | Promise<void>;

/** rules → dispatcher. */
export type RuleResultSink = (result: RuleResult) => void;

/** A state change of an alert, as written to the telemetry store's `alerts` measurement. */
export interface AlertChangePoint {
  alertId: string;
  ruleId: string;
  deviceId: string;
  deviceType: DeviceTypeId;
  place: PlacePath;
  severity: Severity;
  category: string;
  /** The transition, e.g. `opened`, `dispatched`, `acknowledged`, `escalated`, `resolved`. */
  change: string;
  status: string;
  at: number;
  /** Seconds from open to this change, for SLA panels. */
  ageSeconds: number;
}

/** rules and dispatcher → telemetry storage. Writes never throw and never block the caller. */
export interface TelemetrySink {
  writeReading(reading: Reading): void;
  writeAlertChange(change: AlertChangePoint): void;
  /** Flush buffered points (to the store, or to the spool when the store is down). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export const AGGREGATES = ['mean', 'min', 'max', 'last', 'count'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

export interface TelemetryQuery {
  deviceId: string;
  deviceType: DeviceTypeId;
  field: string;
  from: number;
  to: number;
  /** Bucket width in ms; omitted = raw points. */
  everyMs?: number;
  fn?: Aggregate;
}

export interface TelemetryPoint {
  ts: number;
  value: number | boolean | string | null;
}

export interface TelemetryReader {
  query(q: TelemetryQuery): Promise<TelemetryPoint[]>;
}

/** dispatcher → broker: deliver to `gh/workers/{workerId}/alarms` at QoS 1. */
export interface WorkerPublisher {
  publishToWorker(workerId: string, payload: object): Promise<void>;
}
