/**
 * The alert store: the port through which the dispatcher records what rule results and people do to alerts, and
 * reads them back. Every operation answers an `Awaitable` and joins the transaction that is open; the dispatcher
 * awaits each. The SQLite implementation (`sqlite-alert-store.ts`) runs each operation on a statement prepared
 * once and answers the plain value, so a raise awaits only settled values and its transaction stays one
 * synchronous unit within a turn of the event loop (src/storage/README.md, "One interface, a synchronous hot
 * path"); a PostgreSQL one answers promises and runs a transaction's operations on one pooled connection.
 *
 * Rows come back as the tables hold them (tables.ts); instants are epoch milliseconds, JSON columns are text.
 * Writes answer how many rows they changed.
 */

import type { Compilable } from 'kysely';
import type { Awaitable } from '../domain/awaitable.ts';
import type { Milestone } from './config.ts';
import type { ClaimedRow, LaneDue } from './outbox-claims.ts';
import type { ReadBuilder } from './sqlite-runner.ts';
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
import type { TurnKind } from './turns.ts';
import type { AlertStatus } from './types.ts';

export interface AlertStore {
  /**
   * Run `fn` as one transaction: committed when its promise resolves, rolled back when it rejects. Transactions
   * of this process run one at a time, each waiting for the one before to settle; none joins another, not
   * even when asked for by work the open one's body started (a timer armed in it). A body never opens another
   * transaction of this store: it would wait for itself (the dispatcher hands its `fx` down instead). Where
   * transactions wait for their turn (PostgreSQL), a rule result's goes before routine ones (turns.ts).
   */
  transaction<T>(fn: () => Promise<T>, kind?: TurnKind): Promise<T>;
  /** A transaction is open now (work that must follow its commit waits). */
  readonly inTransaction: boolean;
  /** The fixed operations on alerts, timelines, timers, whistles, tasks, the must-reach ladder and the outbox. */
  readonly statements: AlertStatements;
  /** Claiming outbox rows per lane, with leases (outbox-claims.ts). */
  readonly claims: OutboxClaims;
  /** Runs the read side's queries (list-query.ts, kpi-query.ts), built with `builder`. */
  readonly reads: ReadRunner;
  /** Builds the read side's queries in this store's dialect. */
  readonly builder: ReadBuilder;
  /** Set these columns of one alert, and `updated_at` to `now`. */
  updateAlert(
    id: string,
    fields: Readonly<Record<string, string | number | null>>,
    now: number,
  ): Awaitable<void>;
  /** Insert an outbox row; answers its id. */
  insertOutbox(row: OutboxInsert): Awaitable<number>;
  /** Insert pending timers in one statement (an alert's ladder); answers how many. */
  insertTimers(timers: readonly TimerInsert[]): Awaitable<number>;
  /** Insert timeline events in as few statements as their count allows (transactions.ts buffers them). */
  insertEvents(events: readonly EventInsert[]): Awaitable<number>;
  /** Mark these outbox rows delivered with one status and release them, in as few statements as their count allows. */
  outboxDone(status: number | null, ids: readonly number[]): Awaitable<number>;
  /** Maintenance tasks, newest first, with the place of their alert: open ones, closed ones, or all. */
  maintenanceTasks(open: boolean | undefined): Awaitable<MaintenanceRow[]>;
}

/** Runs a built read query: SQLite answers at once (sqlite-runner.ts), PostgreSQL after its round trip. */
export interface ReadRunner {
  all<R>(query: Compilable<R>): Awaitable<R[]>;
  get<R>(query: Compilable<R>): Awaitable<R | undefined>;
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
  /**
   * 'dispatched' when the raise dispatches it in the same transaction (lifecycle.ts): the status its first
   * messages give it goes in with the insert rather than as an UPDATE right after.
   */
  status: Extract<AlertStatus, 'open' | 'dispatched'>;
}

/** A pending escalation timer as inserted. */
export type TimerInsert = Omit<TimerRow, 'id'>;

/** A timeline event as inserted. */
export interface EventInsert {
  alert_id: string;
  at: number;
  actor: string;
  type: string;
  data: string;
}

/** An outbox row as inserted (claimed already when its lane took it at the insert). */
export type OutboxInsert = Omit<OutboxRow, 'id'> & {
  claimed_by: string | null;
  lease_until: number | null;
  created_at: number;
};

export interface AlertStatements {
  // ---- alerts, incidents, timeline ----
  alert(id: string): Awaitable<AlertRow | undefined>;
  /** Remember a journaled event as taken; 0 when it was taken already (a replay). */
  journalSeen(journalId: number, ruleId: string, at: number): Awaitable<number>;
  /**
   * Remember a device's event (its `eventId`) as raised by a rule; 0 when it was already, by any instance. On
   * PostgreSQL a concurrent transaction inserting the same key waits for the first to end, then gets 0.
   */
  eventSeen(deviceId: string, eventId: string, ruleId: string, at: number): Awaitable<number>;
  /** The open alert of a rule on a device, if any. */
  openFor(ruleId: string, deviceId: string): Awaitable<AlertRow | undefined>;
  repeat(lastSeenAt: number, detail: string, evidence: string, now: number, id: string): Awaitable<number>;
  /**
   * What a raise of a rule on a device looks for, in one read: its open alert (as `openFor`) and its last real
   * resolution (not a false alarm or fault) since `since`, each if any, told apart by status, in no set order.
   */
  raised(ruleId: string, deviceId: string, since: number): Awaitable<AlertRow[]>;
  suppression(ruleId: string, deviceId: string, at: number): Awaitable<{ until: number } | undefined>;
  countSuppressed(ruleId: string, deviceId: string): Awaitable<number>;
  suppress(ruleId: string, deviceId: string, until: number, reason: string): Awaitable<number>;
  /** End the device's suppressions that run past `now` (it was fixed). */
  liftSuppressions(until: number, deviceId: string, now: number): Awaitable<number>;
  /** The latest incident of a category and group still open to joining since `since`. */
  incidentFor(category: string, groupKey: string, since: number): Awaitable<{ id: string } | undefined>;
  insertIncident(
    id: string,
    category: string,
    groupKey: string,
    place: string,
    openedAt: number,
    lastAt: number,
  ): Awaitable<number>;
  joinIncident(lastAt: number, id: string): Awaitable<number>;
  incident(id: string): Awaitable<IncidentRow | undefined>;
  incidentAlerts(incidentId: string): Awaitable<{ id: string }[]>;
  insertAlert(alert: NewAlert): Awaitable<number>;
  insertEvent(alertId: string, at: number, actor: string, type: string, data: string): Awaitable<number>;
  events(alertId: string): Awaitable<{ id: number; at: number; actor: string; type: string; data: string }[]>;
  insertRatingToken(tokenHash: string, alertId: string, expiresAt: number): Awaitable<number>;
  ratingToken(
    tokenHash: string,
  ): Awaitable<{ alert_id: string; expires_at: number; used_at: number | null } | undefined>;
  useRatingToken(usedAt: number, tokenHash: string): Awaitable<number>;

  // ---- whistles and maintenance ----
  whistles(alertId: string): Awaitable<WhistleRow[]>;
  whistle(id: number): Awaitable<WhistleRow | undefined>;
  /** Answers the whistle's id. */
  insertWhistle(
    alertId: string,
    department: string,
    note: string | null,
    whistledAt: number,
    whistledBy: string,
    dueAt: number,
  ): Awaitable<number>;
  whistleReported(reportedAt: number, reportedBy: string, id: number): Awaitable<number>;
  whistleEscalated(id: number): Awaitable<number>;
  /** Answers the task's id. */
  insertTask(
    deviceId: string,
    alertId: string,
    reason: string,
    note: string,
    createdAt: number,
    createdBy: string,
  ): Awaitable<number>;
  /** A task with the place of its alert. */
  task(id: number): Awaitable<MaintenanceRow | undefined>;
  /** A task alone (its place null). */
  taskOnly(id: number): Awaitable<MaintenanceRow | undefined>;
  closeTask(doneAt: number, doneBy: string, doneNote: string | null, id: number): Awaitable<number>;

  // ---- escalation timers ----
  insertTimer(
    alertId: string,
    kind: TimerRow['kind'],
    ref: number,
    unless: Milestone | null,
    dueAt: number,
  ): Awaitable<number>;
  /** Pending timers due at `now`, earliest first, 200 at most. */
  dueTimers(now: number): Awaitable<TimerRow[]>;
  /** The earliest due time of a pending timer, null when none. */
  nextTimer(): Awaitable<number | null>;
  /**
   * Take a due timer to fire it, first thing in the firing transaction: 1 while it is still pending, 0 when
   * another instance on the shared database fired or voided it, or holds it in a transaction now (PostgreSQL:
   * skipped, not waited for; the firing looks again after a while, `StepRetries.busy`).
   */
  takeTimer(id: number): Awaitable<number>;
  setTimerState(state: string, id: number): Awaitable<number>;
  /** Whether step `ref` of the alert's ladder has fired. */
  stepFired(alertId: string, ref: number): Awaitable<boolean>;
  voidStep(alertId: string, ref: number): Awaitable<number>;
  voidSteps(alertId: string): Awaitable<number>;
  voidReportIn(alertId: string, whistleId: number): Awaitable<number>;
  voidUnless(alertId: string, unless: Milestone): Awaitable<number>;
  voidAll(alertId: string): Awaitable<number>;

  // ---- outbox and digests ----
  /** Rows not yet delivered. */
  pendingOutbox(): Awaitable<number>;
  /** The alert's outbox rows (not the live stream's), in order. */
  outboxOf(alertId: string): Awaitable<OutboxRow[]>;
  /** Gathered alarms of one target that may fold into a digest by `dueBy`, out of quiet hours at `now`. */
  digestSiblings(channel: string, target: string, dueBy: number, now: number): Awaitable<OutboxRow[]>;
  postpone(nextAt: number, id: number): Awaitable<number>;
  fold(reason: string, id: number): Awaitable<number>;
  digest(channel: string, target: string): Awaitable<DigestRow | undefined>;
  putDigest(
    channel: string,
    target: string,
    digestId: string,
    version: number,
    items: string,
    startedAt: number,
    lastAt: number,
  ): Awaitable<number>;
  pruneOutbox(before: number): Awaitable<number>;
  pruneJournal(before: number): Awaitable<number>;
  pruneEventSeen(before: number): Awaitable<number>;
  pruneTimers(before: number): Awaitable<number>;

  // ---- must-reach ladder ----
  reach(alertId: string): Awaitable<ReachRow | undefined>;
  startReach(alertId: string, nextAt: number): Awaitable<number>;
  /**
   * Take a due must-reach ladder as read (rung, due time): 1, or 0 when another instance moved it meanwhile or
   * holds it now (skipped, as `takeTimer`).
   */
  takeReach(alertId: string, rung: number, nextAt: number): Awaitable<number>;
  setReach(rung: number, nextAt: number, state: string, alertId: string): Awaitable<number>;
  stopReach(alertId: string): Awaitable<number>;
  dueReach(now: number): Awaitable<ReachRow[]>;
  nextReach(): Awaitable<number | null>;
  /** Outbox rows of one rung that are pending or delivered. */
  rungLive(alertId: string, rung: number): Awaitable<number>;
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
  dueLanes(now: number): Awaitable<LaneDue[]>;
  /** Claim up to `limit` claimable rows of one lane, critical first (only critical ones with `onlyCritical`). */
  claim(request: ClaimRequest): Awaitable<ClaimedRow[]>;
  row(id: number): Awaitable<ClaimedRow | undefined>;
  /** The lane's first gathered alarm that is due: a lane in back-off still folds them into one digest. */
  foldable(now: number, channel: string, target: string): Awaitable<ClaimedRow | undefined>;
  /** Give a row back without an outcome (folded, postponed by a rate limit, or the hub is stopping). */
  release(id: number, owner: string): Awaitable<number>;
  /** This hub's claims from before a restart: nobody is delivering them any more. */
  releaseOwn(owner: string): Awaitable<number>;
  postpone(nextAt: number, id: number): Awaitable<number>;
  retry(nextAt: number, error: string, status: number | null, state: string, id: number): Awaitable<number>;
  /** Rows claimed by an instance that has died, before their claim runs out (0 on the embedded store). */
  orphaned(now: number): Awaitable<number>;
  /** The next moment something becomes claimable: a row falling due, or a claim running out. */
  nextWake(now: number): Awaitable<number | null>;
}
