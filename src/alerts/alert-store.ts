/**
 * The alert store: the port through which the dispatcher records what rule results and people do to alerts, and
 * reads them back. Every operation is synchronous and joins the transaction that is open: a raise stays one
 * synchronous transaction, as src/storage/README.md ("One interface, a synchronous hot path") asks of the alarm
 * path. The SQLite implementation (`sqlite-alert-store.ts`) runs each operation on a statement prepared once; a
 * PostgreSQL one implements the same operations (its `transaction` then runs them in one `store.transaction`,
 * behind an async `record`, as that README describes).
 *
 * Rows come back as the tables hold them (tables.ts); instants are epoch milliseconds, JSON columns are text.
 * Writes answer how many rows they changed.
 */
import type { Milestone } from './config.ts';
import type { ClaimedRow, LaneDue } from './outbox-claims.ts';
import type { ReadBuilder, SqlRunner } from './sqlite-runner.ts';
import type {
  AlertRow,
  DigestRow,
  IncidentRow,
  MaintenanceRow,
  OutboxRow,
  ReachRow,
  TimerRow,
  WhistleRow,
} from './tables.ts';

export interface AlertStore {
  /** Run `fn` as one transaction: committed when it returns, rolled back when it throws; a nested call joins. */
  transaction<T>(fn: () => T): T;
  /** A transaction is open now (work that must follow its commit waits). */
  readonly inTransaction: boolean;
  /** The fixed operations on alerts, timelines, timers, whistles, tasks, the must-reach ladder and the outbox. */
  readonly statements: AlertStatements;
  /** Claiming outbox rows per lane, with leases (outbox-claims.ts). */
  readonly claims: OutboxClaims;
  /** Runs the read side's queries (list-query.ts, kpi-query.ts), built with `builder`. */
  readonly reads: SqlRunner;
  /** Builds the read side's queries in this store's dialect. */
  readonly builder: ReadBuilder;
  /** Set these columns of one alert, and `updated_at` to `now`. */
  updateAlert(id: string, fields: Readonly<Record<string, string | number | null>>, now: number): void;
  /** Insert an outbox row; answers its id. */
  insertOutbox(row: OutboxInsert): number;
  /** Maintenance tasks, newest first, with the place of their alert: open ones, closed ones, or all. */
  maintenanceTasks(open: boolean | undefined): MaintenanceRow[];
}

export interface NewAlert {
  id: string;
  ruleId: string;
  deviceId: string;
  deviceType: string;
  placeId: string;
  /** The place path as JSON. */
  place: string;
  gridId: string | null;
  floor: number | null;
  severity: string;
  category: string;
  title: string;
  detail: string;
  evidence: string;
  dedup: string;
  incidentId: string;
  at: number;
}

/** An outbox row as inserted (claimed already when its lane took it at the insert). */
export type OutboxInsert = Omit<OutboxRow, 'id'> & {
  claimed_by: string | null;
  lease_until: number | null;
  created_at: number;
};

export interface AlertStatements {
  // ---- alerts, incidents, timeline ----
  alert(id: string): AlertRow | undefined;
  /** Remember a journaled event as taken; 0 when it was taken already (a replay). */
  journalSeen(journalId: number, ruleId: string, at: number): number;
  /** The open alert of a rule on a device, if any. */
  openFor(ruleId: string, deviceId: string): AlertRow | undefined;
  repeat(lastSeenAt: number, detail: string, evidence: string, now: number, id: string): number;
  /** The last real resolution (not a false alarm or fault) of a rule on a device since `since`. */
  recentResolved(ruleId: string, deviceId: string, since: number): AlertRow | undefined;
  suppression(ruleId: string, deviceId: string, at: number): { until: number } | undefined;
  countSuppressed(ruleId: string, deviceId: string): number;
  suppress(ruleId: string, deviceId: string, until: number, reason: string): number;
  /** End the device's suppressions that run past `now` (it was fixed). */
  liftSuppressions(until: number, deviceId: string, now: number): number;
  /** The latest incident of a category and group still open to joining since `since`. */
  incidentFor(category: string, groupKey: string, since: number): { id: string } | undefined;
  insertIncident(
    id: string,
    category: string,
    groupKey: string,
    place: string,
    openedAt: number,
    lastAt: number,
  ): number;
  joinIncident(lastAt: number, id: string): number;
  incident(id: string): IncidentRow | undefined;
  incidentAlerts(incidentId: string): { id: string }[];
  insertAlert(alert: NewAlert): number;
  insertEvent(alertId: string, at: number, actor: string, type: string, data: string): number;
  events(alertId: string): { id: number; at: number; actor: string; type: string; data: string }[];
  insertRatingToken(tokenHash: string, alertId: string, expiresAt: number): number;
  ratingToken(
    tokenHash: string,
  ): { alert_id: string; expires_at: number; used_at: number | null } | undefined;
  useRatingToken(usedAt: number, tokenHash: string): number;

  // ---- whistles and maintenance ----
  whistles(alertId: string): WhistleRow[];
  whistle(id: number): WhistleRow | undefined;
  /** Answers the whistle's id. */
  insertWhistle(
    alertId: string,
    department: string,
    note: string | null,
    whistledAt: number,
    whistledBy: string,
    dueAt: number,
  ): number;
  whistleReported(reportedAt: number, reportedBy: string, id: number): number;
  whistleEscalated(id: number): number;
  /** Answers the task's id. */
  insertTask(
    deviceId: string,
    alertId: string,
    reason: string,
    note: string,
    createdAt: number,
    createdBy: string,
  ): number;
  /** A task with the place of its alert. */
  task(id: number): MaintenanceRow | undefined;
  /** A task alone (its place null). */
  taskOnly(id: number): MaintenanceRow | undefined;
  closeTask(doneAt: number, doneBy: string, doneNote: string | null, id: number): number;

  // ---- escalation timers ----
  insertTimer(
    alertId: string,
    kind: TimerRow['kind'],
    ref: number,
    unless: Milestone | null,
    dueAt: number,
  ): number;
  /** Pending timers due at `now`, earliest first, 200 at most. */
  dueTimers(now: number): TimerRow[];
  /** The earliest due time of a pending timer, null when none. */
  nextTimer(): number | null;
  setTimerState(state: string, id: number): number;
  /** Whether step `ref` of the alert's ladder has fired. */
  stepFired(alertId: string, ref: number): boolean;
  voidStep(alertId: string, ref: number): number;
  voidSteps(alertId: string): number;
  voidReportIn(alertId: string, whistleId: number): number;
  voidUnless(alertId: string, unless: Milestone): number;
  voidAll(alertId: string): number;

  // ---- outbox and digests ----
  /** Rows not yet delivered. */
  pendingOutbox(): number;
  /** The alert's outbox rows (not the live stream's), in order. */
  outboxOf(alertId: string): OutboxRow[];
  /** Gathered alarms of one target that may fold into a digest by `dueBy`, out of quiet hours at `now`. */
  digestSiblings(channel: string, target: string, dueBy: number, now: number): OutboxRow[];
  postpone(nextAt: number, id: number): number;
  fold(reason: string, id: number): number;
  digest(channel: string, target: string): DigestRow | undefined;
  putDigest(
    channel: string,
    target: string,
    digestId: string,
    version: number,
    items: string,
    startedAt: number,
    lastAt: number,
  ): number;
  pruneOutbox(before: number): number;
  pruneJournal(before: number): number;
  pruneTimers(before: number): number;

  // ---- must-reach ladder ----
  reach(alertId: string): ReachRow | undefined;
  startReach(alertId: string, nextAt: number): number;
  setReach(rung: number, nextAt: number, state: string, alertId: string): number;
  stopReach(alertId: string): number;
  dueReach(now: number): ReachRow[];
  nextReach(): number | null;
  /** Outbox rows of one rung that are pending or delivered. */
  rungLive(alertId: string, rung: number): number;
}

/** Claim parameters of one lane. */
export interface ClaimRequest {
  now: number;
  channel: string;
  target: string;
  owner: string;
  leaseUntil: number;
  limit: number;
  /** 1: critical rows only. */
  onlyCritical: number;
  /** 1: only rows never tried yet (a lane in back-off lets a new critical message through as a probe). */
  onlyFresh: number;
}

export interface OutboxClaims {
  /** Lanes with claimable rows, those with a critical row first and among them the phones' MQTT lanes. */
  dueLanes(now: number): LaneDue[];
  /** Claim up to `limit` claimable rows of one lane, critical first (only critical ones with `onlyCritical`). */
  claim(request: ClaimRequest): ClaimedRow[];
  row(id: number): ClaimedRow | undefined;
  /** The lane's first gathered alarm that is due: a lane in back-off still folds them into one digest. */
  foldable(now: number, channel: string, target: string): ClaimedRow | undefined;
  /** Give a row back without an outcome (folded, postponed by a rate limit, or the hub is stopping). */
  release(id: number, owner: string): number;
  /** This hub's claims from before a restart: nobody is delivering them any more. */
  releaseOwn(owner: string): number;
  postpone(nextAt: number, id: number): number;
  done(status: number | null, id: number): number;
  retry(nextAt: number, error: string, status: number | null, state: string, id: number): number;
  /** The next moment something becomes claimable: a row falling due, or a claim running out. */
  nextWake(now: number): number | null;
}
