import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DeviceTypeId } from '../catalogue/types.ts';
import { gatewayChannel } from '../channels/gateway.ts';
import { WEBHOOK_FORMATS, webhookChannel } from '../channels/webhook.ts';
import { createPushStore, type PushStore, webPushChannel } from '../channels/webpush.ts';
import type { Clock, TimerHandle } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { EventBus } from '../domain/events.ts';
import { PLACE_LEVELS, type PlacePath } from '../domain/places.ts';
import type { TelemetrySink, WorkerPublisher } from '../domain/ports.ts';
import type { AlertClear, AlertFact, AlertRaise, AlertUpdate, RuleResult } from '../domain/rule-result.ts';
import type { Severity } from '../domain/severity.ts';
import type { PersonRole } from '../registry/types.ts';
import { type Db, migrate } from '../storage/sqlite.ts';
import {
  type AlertStream,
  type Channel,
  DeliveryError,
  mqttChannel,
  type StreamMessage,
  streamChannel,
} from './channels.ts';
import type { AlertsConfig, Milestone } from './config.ts';
import { createPeopleStore, type DutyPick, type PeopleStore } from './duty.ts';
import { computeKpis, type KpiFilter, type KpiReport } from './kpis.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';
import { alertClocks, worstLight } from './sla.ts';
import {
  type AuditLog,
  type ChannelTargetStore,
  createAuditLog,
  createChannelTargetStore,
  createQuietHoursStore,
  createResidentStore,
  type MaintenanceTask,
  maskResident,
  maskTarget,
  type QuietHoursStore,
  type ResidentStore,
} from './stores.ts';
import type {
  AlertFilter,
  AlertStatus,
  AlertView,
  IncidentView,
  Reach,
  Resolution,
  TimelineEvent,
  WhistleView,
} from './types.ts';

export interface PlaceNames {
  path(placeId: string): PlacePath;
  name(placeId: string): string;
}

export interface DispatcherDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  metrics: Registry;
  publisher: WorkerPublisher;
  sink: TelemetrySink;
  bus: EventBus;
  config: AlertsConfig;
  places: PlaceNames;
  /** Extra outbox channels (webhook, Web Push, SMS …) besides the built-in `mqtt` and `stream`. */
  channels?: Channel[];
}

export interface Dispatcher {
  /** Take a rule's decision. Synchronous; the decision and its deliveries are durable when it returns. */
  handle(result: RuleResult): void;
  /** Load due escalation times and pending deliveries; overdue ones fire at once. */
  start(): void;
  stop(): Promise<void>;
  /** Deliver every outbox row that is due now (the loop does this by itself; tests await it). */
  drain(): Promise<void>;
  registerChannel(channel: Channel): void;

  get(id: string): AlertView | undefined;
  list(filter: AlertFilter, visible?: (a: AlertView) => boolean): { total: number; items: AlertView[] };
  timeline(id: string): TimelineEvent[];
  incident(id: string): IncidentView | undefined;
  kpis(filter: KpiFilter, visible?: (a: AlertView) => boolean): KpiReport;

  acknowledge(id: string, actor: string): AlertView;
  arrive(id: string, actor: string): AlertView;
  resolve(
    id: string,
    actor: string,
    input: { note: string; resolution?: Resolution },
  ): { alert: AlertView; ratingToken: string };
  rate(id: string, actor: string, input: { score: number; comment?: string }): AlertView;
  rateByToken(token: string, input: { score: number; comment?: string }): AlertView;
  close(id: string, actor: string, note?: string): AlertView;
  markFalse(
    id: string,
    actor: string,
    input: { kind: 'false_alarm' | 'device_fault'; reason: string; note?: string },
  ): AlertView;
  whistle(id: string, actor: string, input: { department: string; note?: string }): AlertView;
  reportIn(id: string, actor: string, department: string, note?: string): AlertView;

  /** People ids notified of the alert and user names that acted on it: those who may read it unmasked. */
  actors(id: string): { personIds: Set<string>; usernames: Set<string> };
  /** The alert's outbox rows (delivery state per channel and target, targets masked). */
  deliveries(id: string): DeliveryView[];
  maintenance: {
    list(filter?: { open?: boolean }): MaintenanceTask[];
    get(id: number): MaintenanceTask | undefined;
    /** Close a task: the device is fixed, so its suppression ends too. */
    close(id: number, actor: string, note?: string): MaintenanceTask;
  };

  readonly stream: AlertStream;
  readonly people: PeopleStore;
  readonly pushStore: PushStore;
  readonly residents: ResidentStore;
  readonly audit: AuditLog;
  readonly quietHours: QuietHoursStore;
  readonly channelTargets: ChannelTargetStore;
}

export interface DeliveryView {
  id: number;
  channel: string;
  target: string;
  state: 'pending' | 'done' | 'dead' | 'folded';
  attempts: number;
  nextAt: number;
  lastError: string | null;
  lastStatus: number | null;
  idempotencyKey: string;
  rung: number | null;
  heldUntil: number | null;
}

/** The must-reach ladder of critical alerts (design §6), after the dispatch's app push. */
export const MUST_REACH_RUNGS = ['app_push', 'group_robot', 'sms_voice', 'family_contact'] as const;
const APP_CHANNELS = new Set(['mqtt', 'webpush']);
const ROBOT_CHANNELS = new Set(['webhook', 'wecom', 'dingtalk', 'feishu']);
const PHONE_CHANNELS = ['sms', 'voice'] as const;

interface AlertRow {
  id: string;
  rule_id: string;
  device_id: string;
  device_type: string;
  place_id: string;
  place: string;
  grid_id: string | null;
  floor: number | null;
  severity: Severity;
  category: string;
  title: string;
  detail: string;
  evidence: string;
  dedup: 'per-device' | 'per-occurrence';
  status: AlertStatus;
  incident_id: string | null;
  count: number;
  opened_at: number;
  clock_start: number;
  last_seen_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  arrived_at: number | null;
  resolved_at: number | null;
  resolved_by: string | null;
  resolution: Resolution | null;
  resolution_note: string | null;
  closed_at: number | null;
  rating: number | null;
  rating_comment: string | null;
  reach: Reach;
  escalation_step: number;
  escalated: number;
  cancelled_by_resident: number;
  reopened: number;
  updated_at: number;
}

interface WhistleRow {
  id: number;
  alert_id: string;
  department: string;
  note: string | null;
  whistled_at: number;
  whistled_by: string;
  due_at: number;
  reported_at: number | null;
  reported_by: string | null;
  escalated: number;
}

interface TimerRow {
  id: number;
  alert_id: string;
  kind: 'step' | 'report_in';
  ref: number;
  unless: Milestone | null;
  due_at: number;
}

interface OutboxRow {
  id: number;
  alert_id: string;
  channel: string;
  target: string;
  payload: string;
  attempts: number;
  idempotency_key: string;
  person_id: string | null;
  severity: Severity | null;
  digestible: number;
  rung: number | null;
  held_until: number | null;
  max_attempts: number | null;
  next_at: number;
  state: string;
}

/** One message for the outbox (the routing decides; `enqueue` applies quiet hours, digests and the ladder). */
interface Outgoing {
  alertId: string;
  channel: string;
  target: string;
  payload: Record<string, unknown>;
  personId?: string | null;
  severity: Severity;
  place: PlacePath;
  rung?: number | null;
}

/** What one transaction decided, published after it commits. */
interface TxEffects {
  changes: { row: AlertRow; change: string; at: number; sink: boolean }[];
}

const OPEN_STATUSES: AlertStatus[] = ['open', 'dispatched', 'acknowledged', 'on_site'];
const REACH_RANK: Record<Reach, number> = { grid: 0, community: 1, street: 2 };
const SYSTEM = 'system';

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { db, clock, config: cfg, places, sink, bus } = deps;
  const log = deps.log.child({ module: 'alerts' });
  migrate(db, 'alerts', ALERTS_MIGRATIONS);
  const people = createPeopleStore(db, { timeZone: cfg.timeZone });
  const stream = streamChannel();
  const channels = new Map<string, Channel>();
  const registerChannel = (c: Channel) => channels.set(c.name, c);
  registerChannel(mqttChannel(deps.publisher));
  registerChannel(stream);
  for (const format of WEBHOOK_FORMATS) {
    registerChannel(webhookChannel({ format, endpoints: cfg.webhooks, timeoutMs: cfg.deliveryTimeoutMs }));
  }
  const pushStore = createPushStore(db, clock);
  registerChannel(
    webPushChannel({
      store: pushStore,
      clock,
      subject: cfg.webPushSubject,
      ttlSeconds: cfg.webPushTtlSeconds,
      timeoutMs: cfg.deliveryTimeoutMs,
    }),
  );
  if (cfg.smsGatewayUrl) {
    for (const name of PHONE_CHANNELS) {
      registerChannel(
        gatewayChannel({
          name,
          url: cfg.smsGatewayUrl,
          secret: cfg.smsGatewaySecret,
          timeoutMs: cfg.deliveryTimeoutMs,
        }),
      );
    }
  }
  for (const c of deps.channels ?? []) registerChannel(c);
  const residents = createResidentStore(db, clock);
  const audit = createAuditLog(db, clock);
  const quietHours = createQuietHoursStore(db, cfg.timeZone);
  const channelTargets = createChannelTargetStore(db);

  const m = {
    raised: new Counter({
      name: 'gridhub_alerts_raised_total',
      help: 'Rule raises taken by the dispatcher, by outcome (opened, repeated, reopened, suppressed)',
      labelNames: ['severity', 'outcome'],
      registers: [deps.metrics],
    }),
    changes: new Counter({
      name: 'gridhub_alerts_changes_total',
      help: 'Alert timeline changes by type',
      labelNames: ['change'],
      registers: [deps.metrics],
    }),
    failures: new Counter({
      name: 'gridhub_alerts_handle_failures_total',
      help: 'Rule results the dispatcher could not store',
      registers: [deps.metrics],
    }),
    deliveries: new Counter({
      name: 'gridhub_alerts_deliveries_total',
      help: 'Outbox delivery attempts by channel and outcome (delivered, failed, dead)',
      labelNames: ['channel', 'outcome'],
      registers: [deps.metrics],
    }),
    responses: new Counter({
      name: 'gridhub_alerts_delivery_responses_total',
      help: 'Response codes of HTTP channels (code "none" for network errors and timeouts)',
      labelNames: ['channel', 'code'],
      registers: [deps.metrics],
    }),
    digests: new Counter({
      name: 'gridhub_alerts_digests_total',
      help: 'Digest messages made, and the alarms folded into them',
      labelNames: ['kind'],
      registers: [deps.metrics],
    }),
    held: new Counter({
      name: 'gridhub_alerts_held_total',
      help: 'Messages held for quiet hours',
      registers: [deps.metrics],
    }),
    rateLimited: new Counter({
      name: 'gridhub_alerts_rate_limited_total',
      help: 'Deliveries postponed by a channel rate limit',
      labelNames: ['channel'],
      registers: [deps.metrics],
    }),
    mustReach: new Counter({
      name: 'gridhub_alerts_must_reach_steps_total',
      help: 'Must-reach ladder steps taken by rung and outcome (sent, skipped, exhausted)',
      labelNames: ['rung', 'outcome'],
      registers: [deps.metrics],
    }),
  };
  new Gauge({
    name: 'gridhub_alerts_outbox_pending',
    help: 'Outbox rows not yet delivered',
    registers: [deps.metrics],
    collect() {
      const r = db.prepare("SELECT count(*) AS n FROM alert_outbox WHERE state = 'pending'").get() as {
        n: number;
      };
      this.set(r.n);
    },
  });

  // ---- statements -------------------------------------------------------------------------------------------
  const q = {
    alert: db.prepare<[string], AlertRow>('SELECT * FROM alerts WHERE id = ?'),
    journalSeen: db.prepare<[number, string, number]>(
      'INSERT OR IGNORE INTO alert_journal_seen (journal_id, rule_id, at) VALUES (?, ?, ?)',
    ),
    openFor: db.prepare<[string, string], AlertRow>(
      `SELECT * FROM alerts WHERE rule_id = ? AND device_id = ?
       AND status IN ('open','dispatched','acknowledged','on_site') ORDER BY opened_at DESC LIMIT 1`,
    ),
    recentResolved: db.prepare<[string, string, number], AlertRow>(
      `SELECT * FROM alerts WHERE rule_id = ? AND device_id = ? AND status = 'resolved'
       AND resolved_at >= ? AND resolution NOT IN ('false_alarm','device_fault')
       ORDER BY resolved_at DESC LIMIT 1`,
    ),
    suppression: db.prepare<[string, string, number], { until: number }>(
      'SELECT until FROM alert_suppressions WHERE rule_id = ? AND device_id = ? AND until > ?',
    ),
    countSuppressed: db.prepare(
      'UPDATE alert_suppressions SET suppressed = suppressed + 1 WHERE rule_id = ? AND device_id = ?',
    ),
    incidentFor: db.prepare<[string, string, number], { id: string }>(
      `SELECT id FROM alert_incidents WHERE category = ? AND group_key = ? AND last_at >= ?
       ORDER BY last_at DESC LIMIT 1`,
    ),
    insertIncident: db.prepare(
      `INSERT INTO alert_incidents (id, category, group_key, place, opened_at, last_at, alert_count)
       VALUES (?, ?, ?, ?, ?, ?, 1)`,
    ),
    joinIncident: db.prepare(
      'UPDATE alert_incidents SET last_at = ?, alert_count = alert_count + 1 WHERE id = ?',
    ),
    insertAlert: db.prepare(
      `INSERT INTO alerts (id, rule_id, device_id, device_type, place_id, place, grid_id, floor, severity, category,
        title, detail, evidence, dedup, status, incident_id, count, opened_at, clock_start, last_seen_at, updated_at)
       VALUES (@id, @ruleId, @deviceId, @deviceType, @placeId, @place, @gridId, @floor, @severity, @category,
        @title, @detail, @evidence, @dedup, 'open', @incidentId, 1, @at, @at, @at, @at)`,
    ),
    insertEvent: db.prepare(
      'INSERT INTO alert_events (alert_id, at, actor, type, data) VALUES (?, ?, ?, ?, ?)',
    ),
    events: db.prepare<[string], { id: number; at: number; actor: string; type: string; data: string }>(
      'SELECT id, at, actor, type, data FROM alert_events WHERE alert_id = ? ORDER BY id',
    ),
    whistles: db.prepare<[string], WhistleRow>('SELECT * FROM alert_whistles WHERE alert_id = ? ORDER BY id'),
    whistle: db.prepare<[number], WhistleRow>('SELECT * FROM alert_whistles WHERE id = ?'),
    insertTimer: db.prepare(
      "INSERT INTO alert_timers (alert_id, kind, ref, unless, due_at, state) VALUES (?, ?, ?, ?, ?, 'pending')",
    ),
    dueTimers: db.prepare<[number], TimerRow>(
      "SELECT * FROM alert_timers WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT 200",
    ),
    nextTimer: db.prepare<[], { due: number | null }>(
      "SELECT min(due_at) AS due FROM alert_timers WHERE state = 'pending'",
    ),
    setTimerState: db.prepare('UPDATE alert_timers SET state = ? WHERE id = ?'),
    stepFired: db.prepare<[string, number], { id: number }>(
      "SELECT id FROM alert_timers WHERE alert_id = ? AND kind = 'step' AND ref = ? AND state = 'fired' LIMIT 1",
    ),
    voidStep: db.prepare(
      "UPDATE alert_timers SET state = 'void' WHERE alert_id = ? AND kind = 'step' AND ref = ? AND state = 'pending'",
    ),
    voidUnless: db.prepare(
      "UPDATE alert_timers SET state = 'void' WHERE alert_id = ? AND state = 'pending' AND unless = ?",
    ),
    voidAll: db.prepare("UPDATE alert_timers SET state = 'void' WHERE alert_id = ? AND state = 'pending'"),
    insertRow: db.prepare(
      `INSERT INTO alert_outbox (alert_id, channel, target, payload, created_at, next_at, idempotency_key,
         person_id, severity, digestible, rung, held_until, max_attempts)
       VALUES (@alertId, @channel, @target, @payload, @now, @nextAt, @key, @personId, @severity, @digestible,
         @rung, @heldUntil, @maxAttempts)`,
    ),
    // Critical rows first: a storm of minor ones never delays a smoke alarm.
    dueOutbox: db.prepare<[number], OutboxRow>(
      `SELECT * FROM alert_outbox WHERE state = 'pending' AND next_at <= ?
       ORDER BY (severity = 'critical') DESC, next_at, id LIMIT 100`,
    ),
    outboxRow: db.prepare<[number], OutboxRow>('SELECT * FROM alert_outbox WHERE id = ?'),
    postpone: db.prepare('UPDATE alert_outbox SET next_at = ? WHERE id = ?'),
    digestSiblings: db.prepare<[string, string, number, number], OutboxRow>(
      `SELECT * FROM alert_outbox WHERE channel = ? AND target = ? AND state = 'pending' AND digestible = 1
       AND attempts = 0 AND next_at <= ? AND (held_until IS NULL OR held_until <= ?) ORDER BY id`,
    ),
    fold: db.prepare("UPDATE alert_outbox SET state = 'folded', last_error = ? WHERE id = ?"),
    digest: db.prepare<
      [string, string],
      { digest_id: string; version: number; items: string; started_at: number; last_at: number }
    >('SELECT * FROM alert_digests WHERE channel = ? AND target = ?'),
    putDigest: db.prepare(
      `INSERT INTO alert_digests (channel, target, digest_id, version, items, started_at, last_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (channel, target) DO UPDATE SET digest_id = excluded.digest_id, version = excluded.version,
         items = excluded.items, started_at = excluded.started_at, last_at = excluded.last_at`,
    ),
    reach: db.prepare<[string], { alert_id: string; rung: number; next_at: number; state: string }>(
      'SELECT * FROM alert_must_reach WHERE alert_id = ?',
    ),
    startReach: db.prepare(
      `INSERT INTO alert_must_reach (alert_id, rung, next_at, state) VALUES (?, 0, ?, 'active')
       ON CONFLICT (alert_id) DO UPDATE SET rung = 0, next_at = excluded.next_at, state = 'active'`,
    ),
    setReach: db.prepare('UPDATE alert_must_reach SET rung = ?, next_at = ?, state = ? WHERE alert_id = ?'),
    stopReach: db.prepare(
      "UPDATE alert_must_reach SET state = 'stopped' WHERE alert_id = ? AND state = 'active'",
    ),
    dueReach: db.prepare<[number], { alert_id: string; rung: number; next_at: number }>(
      "SELECT * FROM alert_must_reach WHERE state = 'active' AND next_at <= ? ORDER BY next_at LIMIT 200",
    ),
    nextReach: db.prepare<[], { due: number | null }>(
      "SELECT min(next_at) AS due FROM alert_must_reach WHERE state = 'active'",
    ),
    rungLive: db.prepare<[string, number], { n: number }>(
      `SELECT count(*) AS n FROM alert_outbox WHERE alert_id = ? AND rung = ? AND state IN ('pending','done')`,
    ),
    nextOutbox: db.prepare<[], { due: number | null }>(
      "SELECT min(next_at) AS due FROM alert_outbox WHERE state = 'pending'",
    ),
    outboxDone: db.prepare("UPDATE alert_outbox SET state = 'done', attempts = attempts + 1 WHERE id = ?"),
    outboxDoneStatus: db.prepare('UPDATE alert_outbox SET last_status = ? WHERE id = ?'),
    outboxRetry: db.prepare(
      `UPDATE alert_outbox SET attempts = attempts + 1, next_at = ?, last_error = ?, last_status = ?, state = ?
       WHERE id = ?`,
    ),
  };

  // ---- views ------------------------------------------------------------------------------------------------
  function whistleView(w: WhistleRow): WhistleView {
    return {
      id: w.id,
      department: w.department,
      note: w.note,
      whistledAt: w.whistled_at,
      whistledBy: w.whistled_by,
      dueAt: w.due_at,
      reportedAt: w.reported_at,
      reportedBy: w.reported_by,
      escalated: w.escalated === 1,
    };
  }

  function placeNames(path: PlacePath): string[] {
    const names: string[] = [];
    for (const level of PLACE_LEVELS) {
      const id = path[level];
      if (id) names.push(places.name(id));
    }
    return names;
  }

  function view(r: AlertRow): AlertView {
    const place = JSON.parse(r.place) as PlacePath;
    const whistles = q.whistles.all(r.id).map(whistleView);
    const clocks = alertClocks(
      cfg,
      {
        severity: r.severity,
        clockStart: r.clock_start,
        acknowledgedAt: r.acknowledged_at,
        arrivedAt: r.arrived_at,
        resolvedAt: r.resolved_at,
        whistles: whistles.map((w) => ({
          department: w.department,
          whistledAt: w.whistledAt,
          dueAt: w.dueAt,
          // Resolution stops a department's clock too: nothing is left to report in for.
          reportedAt: w.reportedAt ?? r.resolved_at,
        })),
      },
      clock.now(),
    );
    return {
      id: r.id,
      ruleId: r.rule_id,
      deviceId: r.device_id,
      deviceType: r.device_type as DeviceTypeId,
      placeId: r.place_id,
      place,
      placeNames: placeNames(place),
      floor: r.floor,
      severity: r.severity,
      category: r.category,
      title: r.title,
      detail: r.detail,
      evidence: JSON.parse(r.evidence) as AlertView['evidence'],
      dedup: r.dedup,
      status: r.status,
      incidentId: r.incident_id,
      count: r.count,
      openedAt: r.opened_at,
      lastSeenAt: r.last_seen_at,
      acknowledgedAt: r.acknowledged_at,
      acknowledgedBy: r.acknowledged_by,
      arrivedAt: r.arrived_at,
      resolvedAt: r.resolved_at,
      resolvedBy: r.resolved_by,
      resolution: r.resolution,
      resolutionNote: r.resolution_note,
      closedAt: r.closed_at,
      rating: r.rating,
      ratingComment: r.rating_comment,
      reach: r.reach,
      escalated: r.escalated === 1,
      escalationStep: r.escalation_step,
      cancelledByResident: r.cancelled_by_resident === 1,
      reopened: r.reopened === 1,
      whistles,
      clocks,
      light: worstLight(clocks),
      resident: residentOf(r.device_id),
    };
  }

  function residentOf(deviceId: string) {
    const res = residents.forDevice(deviceId);
    return res ? maskResident(res) : null;
  }

  // ---- transactions and their effects -----------------------------------------------------------------------
  let wake = () => {};

  function tx<T>(fn: (fx: TxEffects) => T): T {
    const fx: TxEffects = { changes: [] };
    const out = db.transaction(() => fn(fx))();
    for (const c of fx.changes) {
      m.changes.inc({ change: c.change });
      if (c.sink) {
        sink.writeAlertChange({
          alertId: c.row.id,
          ruleId: c.row.rule_id,
          deviceId: c.row.device_id,
          deviceType: c.row.device_type as DeviceTypeId,
          place: JSON.parse(c.row.place) as PlacePath,
          severity: c.row.severity,
          category: c.row.category,
          change: c.change,
          status: c.row.status,
          at: c.at,
          ageSeconds: Math.max(0, Math.round((c.at - c.row.opened_at) / 1000)),
        });
      }
      bus.emit('alert.changed', { alertId: c.row.id, type: c.change, at: c.at });
    }
    if (fx.changes.length) wake();
    return out;
  }

  /** Timeline event + (for changes) the stream message and the sink point, all in the caller's transaction. */
  function record(
    fx: TxEffects,
    alertId: string,
    type: string,
    actor: string,
    data: Record<string, unknown> = {},
    options: { sink?: boolean; stream?: boolean } = {},
  ): void {
    const at = clock.now();
    q.insertEvent.run(alertId, at, actor, type, JSON.stringify(data));
    const row = q.alert.get(alertId) as AlertRow;
    if (options.stream !== false) {
      const v = view(row);
      const msg: StreamMessage = {
        type,
        alertId,
        at,
        place: v.place,
        departments: v.whistles.map((w) => w.department),
        alert: v as unknown as Record<string, unknown>,
      };
      insertRow({ alertId, channel: 'stream', target: '*', payload: msg, nextAt: at });
    }
    fx.changes.push({ row, change: type, at, sink: options.sink !== false });
  }

  function setFields(id: string, fields: Record<string, string | number | null>): void {
    const keys = Object.keys(fields);
    db.prepare(
      `UPDATE alerts SET ${keys.map((k) => `${k} = @${k}`).join(', ')}, updated_at = @__now WHERE id = @__id`,
    ).run({ ...fields, __now: clock.now(), __id: id });
  }

  // ---- outbox: enqueue with quiet hours, digests and the must-reach ladder -----------------------------------
  function insertRow(o: {
    alertId: string;
    channel: string;
    target: string;
    payload: unknown;
    nextAt: number;
    personId?: string | null;
    severity?: Severity | null;
    digestible?: boolean;
    rung?: number | null;
    heldUntil?: number | null;
    maxAttempts?: number | null;
  }): void {
    q.insertRow.run({
      alertId: o.alertId,
      channel: o.channel,
      target: o.target,
      payload: JSON.stringify(o.payload),
      now: clock.now(),
      nextAt: o.nextAt,
      key: `gh-${randomUUID()}`,
      personId: o.personId ?? null,
      severity: o.severity ?? null,
      digestible: o.digestible ? 1 : 0,
      rung: o.rung ?? null,
      heldUntil: o.heldUntil ?? null,
      maxAttempts: o.maxAttempts ?? null,
    });
  }

  /**
   * Queue one alarm message. Critical ones go out now and are never held or folded. Minor ones are held through
   * the quiet hours of their recipient or place. Non-critical ones wait `digestWaitMs` for company, so a storm
   * reaches each recipient as one digest.
   */
  function enqueue(fx: TxEffects, o: Outgoing): void {
    const now = clock.now();
    const timeline = channels.get(o.channel)?.recordInTimeline !== false;
    let nextAt = now;
    let heldUntil: number | null = null;
    if (o.severity === 'minor' && timeline) {
      heldUntil = quietHours.heldUntil(o.personId ?? null, o.place, now);
      if (heldUntil !== null) {
        nextAt = heldUntil;
        m.held.inc();
        record(
          fx,
          o.alertId,
          'held_quiet_hours',
          SYSTEM,
          { channel: o.channel, target: maskTarget(o.channel, o.target), until: heldUntil },
          { sink: false, stream: false },
        );
      }
    }
    const digestible = o.severity !== 'critical' && timeline && o.payload.kind === 'alarm';
    if (digestible && heldUntil === null) nextAt = now + cfg.digestWaitMs;
    insertRow({
      alertId: o.alertId,
      channel: o.channel,
      target: o.target,
      payload: o.payload,
      nextAt,
      personId: o.personId ?? null,
      severity: o.severity,
      digestible,
      rung: o.rung ?? null,
      heldUntil,
      maxAttempts: o.rung !== null && o.rung !== undefined ? cfg.mustReachMaxAttempts : null,
    });
  }

  const digestItem = (p: Record<string, unknown>) => ({
    alertId: p.alertId,
    severity: p.severity,
    category: p.category,
    title: p.title,
    placeNames: p.placeNames,
    floor: p.floor,
    device: p.device,
    change: p.change,
    openedAt: p.openedAt,
  });

  /**
   * When the first gathered alarm of a recipient falls due, fold it and every other gathered one into one digest
   * message. Within `digestUpdateWindowMs` of the last digest the same digest is updated (same id, next version,
   * all items so far), so a receiver can replace the message instead of stacking them.
   */
  function tryFold(row: OutboxRow): boolean {
    const now = clock.now();
    const siblings = q.digestSiblings.all(row.channel, row.target, now + cfg.digestWaitMs, now);
    if (siblings.length < 2) return false;
    tx((fx) => {
      const prev = q.digest.get(row.channel, row.target);
      const reuse = prev !== undefined && prev.last_at >= now - cfg.digestUpdateWindowMs;
      const items = new Map<string, Record<string, unknown>>();
      if (reuse) {
        for (const i of JSON.parse(prev.items) as Record<string, unknown>[]) items.set(String(i.alertId), i);
      }
      const first = JSON.parse((siblings[0] as OutboxRow).payload) as Record<string, unknown>;
      for (const s of siblings) {
        const p = JSON.parse(s.payload) as Record<string, unknown>;
        items.set(String(p.alertId), digestItem(p));
      }
      const digestId = reuse ? prev.digest_id : `dg-${randomUUID()}`;
      const version = reuse ? prev.version + 1 : 1;
      const all = [...items.values()];
      q.putDigest.run(
        row.channel,
        row.target,
        digestId,
        version,
        JSON.stringify(all),
        reuse ? prev.started_at : now,
        now,
      );
      const rank = { critical: 2, major: 1, minor: 0 } as Record<string, number>;
      const severity = siblings.reduce<Severity>(
        (a, s) => ((rank[s.severity ?? 'minor'] ?? 0) > (rank[a] ?? 0) ? (s.severity as Severity) : a),
        'minor',
      );
      const payload = {
        kind: 'digest',
        digestId,
        version,
        updated: version > 1,
        count: all.length,
        newCount: siblings.length,
        severity,
        items: all.slice(-cfg.digestMaxItems),
        alertIds: all.map((i) => i.alertId),
        recipient: first.recipient ?? null,
        sentAt: now,
      };
      for (const s of siblings) q.fold.run(`folded into digest ${digestId} v${version}`, s.id);
      insertRow({
        alertId: row.alert_id,
        channel: row.channel,
        target: row.target,
        payload,
        nextAt: now,
        personId: row.person_id,
        severity,
      });
      const seen = new Set<string>();
      for (const s of siblings) {
        if (seen.has(s.alert_id)) continue;
        seen.add(s.alert_id);
        record(
          fx,
          s.alert_id,
          'folded_into_digest',
          SYSTEM,
          { digestId, version, channel: row.channel, target: maskTarget(row.channel, row.target) },
          { sink: false, stream: false },
        );
      }
      m.digests.inc({ kind: 'digest' });
      m.digests.inc({ kind: 'folded' }, siblings.length);
    });
    return true;
  }

  // Token buckets per channel (messages per minute), on the hub clock so virtual time drives them too.
  const buckets = new Map<string, { tokens: number; at: number }>();
  /** 0 when the channel may send now (a token is taken); else how long to wait for the next token. */
  function rateWait(channel: string): number {
    if (!Object.hasOwn(cfg.rateLimits, channel)) return 0;
    const limit = cfg.rateLimits[channel];
    if (!limit) return 0;
    const perMs = limit.perMinute / 60_000;
    const cap = Math.max(1, limit.perMinute);
    const now = clock.now();
    const b = buckets.get(channel) ?? { tokens: cap, at: now };
    b.tokens = Math.min(cap, b.tokens + (now - b.at) * perMs);
    b.at = now;
    buckets.set(channel, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / perMs);
  }

  // ---- must-reach ladder of critical alerts -----------------------------------------------------------------
  function startMustReach(fx: TxEffects, r: AlertRow, pushed: number): void {
    q.startReach.run(r.id, clock.now() + cfg.mustReachStepMs);
    m.mustReach.inc({ rung: MUST_REACH_RUNGS[0], outcome: pushed ? 'sent' : 'skipped' });
    if (!pushed) advanceMustReach(fx, r.id, 'nobody to push to');
    else armReach();
  }

  /** Queue the messages of one rung; answers what went out (targets masked). */
  function enqueueRung(fx: TxEffects, r: AlertRow, rung: number): { channel: string; target: string }[] {
    const place = JSON.parse(r.place) as PlacePath;
    const out: { channel: string; target: string }[] = [];
    const seen = new Set<string>();
    const send = (channel: string, target: string, personId: string | null, role: string) => {
      const key = `${channel}\u0000${target}`;
      if (!channels.has(channel) || seen.has(key)) return;
      seen.add(key);
      const payload = alarmPayload(r, 'must_reach', { personId, role, via: MUST_REACH_RUNGS[rung] ?? '' });
      enqueue(fx, { alertId: r.id, channel, target, payload, personId, severity: 'critical', place, rung });
      out.push({ channel, target: maskTarget(channel, target) });
    };
    const notified = [...actorsOf(r.id).personIds].map((id) => people.get(id)).filter((p) => p !== undefined);
    if (rung === 1) {
      const roles = cfg.ladders.critical[0]?.roles ?? [];
      for (const t of channelTargets.match(place, roles)) {
        if (ROBOT_CHANNELS.has(t.channel)) send(t.channel, t.target, null, t.role ?? 'group');
      }
      for (const p of notified) {
        for (const c of p.contacts)
          if (ROBOT_CHANNELS.has(c.channel)) send(c.channel, c.target, p.id, p.role);
      }
    } else if (rung === 2) {
      for (const p of notified) {
        for (const ch of PHONE_CHANNELS) if (p.phone) send(ch, p.phone, p.id, p.role);
        for (const c of p.contacts) {
          if ((PHONE_CHANNELS as readonly string[]).includes(c.channel))
            send(c.channel, c.target, p.id, p.role);
        }
      }
    } else if (rung === 3) {
      const res = residents.forDevice(r.device_id);
      if (res?.familyPhone) for (const ch of PHONE_CHANNELS) send(ch, res.familyPhone, null, 'family');
    }
    return out;
  }

  function advanceMustReach(fx: TxEffects, alertId: string, reason: string): void {
    const cur = q.reach.get(alertId);
    const r = q.alert.get(alertId);
    if (cur?.state !== 'active' || !r) return;
    if (!OPEN_STATUSES.includes(r.status) || r.acknowledged_at !== null) {
      q.stopReach.run(alertId);
      return;
    }
    // Rungs without any target (no robot configured, no phone known) are passed over, and said so.
    const skipped: string[] = [];
    for (let rung = cur.rung + 1; rung < MUST_REACH_RUNGS.length; rung++) {
      const name = MUST_REACH_RUNGS[rung] ?? '';
      const sent = enqueueRung(fx, r, rung);
      if (sent.length) {
        q.setReach.run(rung, clock.now() + cfg.mustReachStepMs, 'active', alertId);
        m.mustReach.inc({ rung: name, outcome: 'sent' });
        record(fx, alertId, 'must_reach', SYSTEM, { rung, step: name, reason, skipped, targets: sent });
        armReach();
        return;
      }
      m.mustReach.inc({ rung: name, outcome: 'skipped' });
      skipped.push(name);
    }
    q.setReach.run(MUST_REACH_RUNGS.length - 1, clock.now(), 'exhausted', alertId);
    m.mustReach.inc({ rung: 'end', outcome: 'exhausted' });
    record(fx, alertId, 'must_reach_exhausted', SYSTEM, { reason, skipped }, { sink: false });
  }

  let reachTimer: { handle: TimerHandle; at: number } | null = null;
  function armReach(): void {
    if (stopped) return;
    const next = q.nextReach.get()?.due ?? null;
    if (reachTimer && (next === null || reachTimer.at !== next)) {
      clock.clearTimeout(reachTimer.handle);
      reachTimer = null;
    }
    if (next === null || reachTimer) return;
    reachTimer = { handle: clock.setTimeout(fireReach, Math.max(0, next - clock.now())), at: next };
  }

  function fireReach(): void {
    reachTimer = null;
    if (stopped) return;
    for (const due of q.dueReach.all(clock.now())) {
      try {
        tx((fx) =>
          advanceMustReach(
            fx,
            due.alert_id,
            `not acknowledged within ${Math.round(cfg.mustReachStepMs / 1000)} s of ${MUST_REACH_RUNGS[due.rung]}`,
          ),
        );
      } catch (err) {
        log.error({ err, alertId: due.alert_id }, 'must-reach step failed');
        q.setReach.run(due.rung, clock.now(), 'stopped', due.alert_id);
      }
    }
    armReach();
  }

  function actorsOf(id: string): { personIds: Set<string>; usernames: Set<string> } {
    const personIds = new Set<string>();
    const usernames = new Set<string>();
    for (const e of q.events.all(id)) {
      const data = JSON.parse(e.data) as {
        recipients?: { personId?: string }[];
        notified?: string[];
      };
      for (const rcp of data.recipients ?? []) if (rcp.personId) personIds.add(rcp.personId);
      for (const n of data.notified ?? []) personIds.add(n);
      // Users who acted; not the system, rules, channels or the resident's rating link.
      if (!e.actor.includes(':') && e.actor !== SYSTEM && e.actor !== 'resident') usernames.add(e.actor);
    }
    return { personIds, usernames };
  }

  // ---- routing ----------------------------------------------------------------------------------------------
  function alarmPayload(
    r: AlertRow,
    change: string,
    pick: DutyPick | { personId: string | null; role: string; via: string },
  ): Record<string, unknown> {
    const recipient =
      'person' in pick ? { personId: pick.person.id, role: pick.role, via: pick.via } : { ...pick };
    const v = view(r);
    const due = (name: string) => v.clocks.find((c) => c.name === name)?.dueAt ?? null;
    return {
      kind: 'alarm',
      change,
      alertId: v.id,
      incidentId: v.incidentId,
      severity: v.severity,
      category: v.category,
      title: v.title,
      detail: v.detail,
      place: v.place,
      placeNames: v.placeNames,
      device: { id: v.deviceId, type: v.deviceType },
      floor: v.floor,
      evidence: v.evidence,
      count: v.count,
      status: v.status,
      openedAt: v.openedAt,
      sla: { acknowledgeBy: due('acknowledge'), arriveBy: due('arrive'), resolveBy: due('resolve') },
      // Masked in every channel: the unmasked read is an audited API call of those acting on the alert.
      resident: v.resident,
      recipient,
      actions: nextActions(v.status),
      sentAt: clock.now(),
    };
  }

  function nextActions(status: AlertStatus): string[] {
    switch (status) {
      case 'open':
      case 'dispatched':
        return ['acknowledge', 'arrive', 'resolve', 'false-alarm', 'whistle'];
      case 'acknowledged':
        return ['arrive', 'resolve', 'false-alarm', 'whistle'];
      case 'on_site':
        return ['resolve', 'false-alarm', 'whistle'];
      default:
        return [];
    }
  }

  /** Find who answers for each role now and queue one alarm per person and channel. */
  function notify(
    fx: TxEffects,
    r: AlertRow,
    roles: readonly PersonRole[],
    change: string,
  ): { personId: string; name: string; role: string; via: string }[] {
    const at = clock.now();
    const place = JSON.parse(r.place) as PlacePath;
    const picks: DutyPick[] = [];
    for (const role of roles) {
      for (const p of people.resolve(place, role, at)) {
        if (!picks.some((x) => x.person.id === p.person.id)) picks.push(p);
      }
    }
    const critical = r.severity === 'critical';
    for (const pick of picks) {
      const payload = alarmPayload(r, change, pick);
      const out = (channel: string, target: string) =>
        enqueue(fx, {
          alertId: r.id,
          channel,
          target,
          payload,
          personId: pick.person.id,
          severity: r.severity,
          place,
          // A critical alert's app push is rung 0 of its must-reach ladder; the other channels wait their rung.
          rung: critical ? 0 : null,
        });
      out('mqtt', pick.person.id);
      const targets = new Set<string>();
      for (const [name, ch] of channels) {
        for (const t of ch.targetsFor?.(pick.person.id) ?? []) targets.add(`${name}\u0000${t}`);
      }
      for (const c of pick.person.contacts) {
        if (c.channel !== 'mqtt' && channels.has(c.channel)) targets.add(`${c.channel}\u0000${c.target}`);
      }
      for (const key of targets) {
        const [channel = '', target = ''] = key.split('\u0000');
        if (!critical || APP_CHANNELS.has(channel)) out(channel, target);
      }
    }
    if (!critical) {
      // Group robots and other configured targets of the place and roles: at once for non-critical alerts;
      // for critical ones they are the ladder's second rung.
      const payload = alarmPayload(r, change, {
        personId: null,
        role: roles.join(','),
        via: 'channel_target',
      });
      for (const t of channelTargets.match(place, roles)) {
        if (!channels.has(t.channel)) continue;
        enqueue(fx, {
          alertId: r.id,
          channel: t.channel,
          target: t.target,
          payload,
          severity: r.severity,
          place,
        });
      }
    }
    const recipients = picks.map((p) => ({
      personId: p.person.id,
      name: p.person.name,
      role: p.role,
      via: p.via,
    }));
    if (!picks.length) {
      log.warn({ alertId: r.id, roles, place }, 'nobody on duty to notify');
    }
    void fx;
    return recipients;
  }

  function scheduleLadder(r: AlertRow, afterStep = 0): void {
    const ladder = cfg.ladders[r.severity];
    ladder.forEach((step, i) => {
      if (i <= afterStep) return;
      for (const w of step.when) q.insertTimer.run(r.id, 'step', i, w.unless, r.clock_start + w.afterMs);
    });
  }

  function dispatchFirst(fx: TxEffects, id: string, change: string): void {
    const r = q.alert.get(id) as AlertRow;
    const step = cfg.ladders[r.severity][0];
    const recipients = step ? notify(fx, r, step.roles, change) : [];
    if (recipients.length) {
      setFields(id, { status: 'dispatched' });
      record(fx, id, 'dispatched', SYSTEM, { step: 0, roles: step?.roles ?? [], recipients });
    } else {
      record(fx, id, 'unrouted', SYSTEM, { step: 0, roles: step?.roles ?? [] });
    }
    scheduleLadder(q.alert.get(id) as AlertRow);
    if (r.severity === 'critical') startMustReach(fx, r, recipients.length);
  }

  // ---- rule results -----------------------------------------------------------------------------------------
  function raise(res: AlertRaise): void {
    const at = res.at;
    tx((fx) => {
      const journalId = res.reading?.kind === 'event' ? res.reading.journalId : undefined;
      if (journalId !== undefined && q.journalSeen.run(journalId, res.ruleId, clock.now()).changes === 0) {
        log.info({ journalId, ruleId: res.ruleId, deviceId: res.deviceId }, 'replayed event already taken');
        return;
      }
      if (q.suppression.get(res.ruleId, res.deviceId, at)) {
        q.countSuppressed.run(res.ruleId, res.deviceId);
        m.raised.inc({ severity: res.severity, outcome: 'suppressed' });
        return;
      }
      if (res.dedup === 'per-device') {
        const open = q.openFor.get(res.ruleId, res.deviceId);
        if (open) {
          db.prepare(
            'UPDATE alerts SET count = count + 1, last_seen_at = ?, detail = ?, evidence = ?, updated_at = ? WHERE id = ?',
          ).run(at, res.detail, JSON.stringify(res.evidence ?? {}), clock.now(), open.id);
          m.raised.inc({ severity: res.severity, outcome: 'repeated' });
          record(fx, open.id, 'repeated', `rule:${res.ruleId}`, { count: open.count + 1 }, { sink: false });
          return;
        }
        const recent = q.recentResolved.get(res.ruleId, res.deviceId, at - cfg.reopenWindowMs);
        if (recent) {
          q.voidAll.run(recent.id);
          setFields(recent.id, {
            status: 'open',
            count: recent.count + 1,
            last_seen_at: at,
            clock_start: clock.now(),
            acknowledged_at: null,
            acknowledged_by: null,
            arrived_at: null,
            resolved_at: null,
            resolved_by: null,
            resolution: null,
            resolution_note: null,
            reopened: 1,
            detail: res.detail,
          });
          m.raised.inc({ severity: res.severity, outcome: 'reopened' });
          record(fx, recent.id, 'reopened', `rule:${res.ruleId}`, {
            previousResolution: recent.resolution,
            resolvedAt: recent.resolved_at,
          });
          dispatchFirst(fx, recent.id, 'reopened');
          return;
        }
      }
      const id = randomUUID();
      const groupKey = res.place.building ?? res.placeId;
      let incidentId = q.incidentFor.get(res.category, groupKey, at - cfg.incidentWindowMs)?.id;
      if (incidentId) q.joinIncident.run(at, incidentId);
      else {
        incidentId = `inc-${randomUUID()}`;
        q.insertIncident.run(incidentId, res.category, groupKey, JSON.stringify(res.place), at, at);
      }
      q.insertAlert.run({
        id,
        ruleId: res.ruleId,
        deviceId: res.deviceId,
        deviceType: res.deviceType,
        placeId: res.placeId,
        place: JSON.stringify(res.place),
        gridId: res.place.grid ?? null,
        floor: res.floor,
        severity: res.severity,
        category: res.category,
        title: res.title,
        detail: res.detail,
        evidence: JSON.stringify(res.evidence ?? {}),
        dedup: res.dedup,
        incidentId,
        at: clock.now(),
      });
      m.raised.inc({ severity: res.severity, outcome: 'opened' });
      record(fx, id, 'opened', `rule:${res.ruleId}`, {
        severity: res.severity,
        category: res.category,
        title: res.title,
        incidentId,
        at: res.at,
      });
      dispatchFirst(fx, id, 'opened');
    });
  }

  function update(res: AlertUpdate): void {
    tx((fx) => {
      const open = q.openFor.get(res.ruleId, res.deviceId);
      if (!open) return;
      setFields(open.id, {
        detail: res.detail ?? open.detail,
        severity: res.severity ?? open.severity,
        evidence: JSON.stringify({ ...(JSON.parse(open.evidence) as object), ...(res.evidence ?? {}) }),
        last_seen_at: res.at,
      });
      if (res.severity && res.severity !== open.severity) {
        // The new severity's ladder takes over from the clock start; steps already due fire at once.
        db.prepare(
          "UPDATE alert_timers SET state = 'void' WHERE alert_id = ? AND kind = 'step' AND state = 'pending'",
        ).run(open.id);
        scheduleLadder(q.alert.get(open.id) as AlertRow, open.escalation_step);
        if (res.severity === 'critical' && open.acknowledged_at === null && !q.reach.get(open.id)) {
          q.startReach.run(open.id, clock.now() + cfg.mustReachStepMs);
          armReach();
        }
      }
      record(fx, open.id, 'updated', `rule:${res.ruleId}`, {
        detail: res.detail,
        severity: res.severity,
        evidence: res.evidence,
      });
    });
  }

  function clear(res: AlertClear): void {
    tx((fx) => {
      const open = q.openFor.get(res.ruleId, res.deviceId);
      if (!open) return;
      doResolve(fx, open, `rule:${res.ruleId}`, res.resolution, res.note);
    });
  }

  function fact(res: AlertFact): void {
    tx((fx) => {
      const open = q.openFor.get(res.ruleId, res.deviceId);
      if (!open) return;
      // The resident says it was nothing; a worker still has to confirm, so the alert stays open.
      setFields(open.id, { cancelled_by_resident: 1 });
      record(fx, open.id, res.fact, `rule:${res.ruleId}`, { note: res.note });
    });
  }

  // ---- actions ----------------------------------------------------------------------------------------------
  function load(id: string): AlertRow {
    const r = q.alert.get(id);
    if (!r) throw new GridHubError('NOT_FOUND', `no alert ${id}`);
    return r;
  }

  function transitionError(r: AlertRow, action: string): GridHubError {
    return new GridHubError('ALERT_TRANSITION_INVALID', `cannot ${action} an alert that is ${r.status}`);
  }

  function doResolve(
    fx: TxEffects,
    r: AlertRow,
    actor: string,
    resolution: Resolution,
    note: string,
  ): string {
    const now = clock.now();
    q.voidAll.run(r.id);
    q.stopReach.run(r.id);
    setFields(r.id, {
      status: 'resolved',
      resolved_at: now,
      resolved_by: actor,
      resolution,
      resolution_note: note,
    });
    const token = randomBytes(18).toString('base64url');
    db.prepare('INSERT INTO alert_rating_tokens (token_hash, alert_id, expires_at) VALUES (?, ?, ?)').run(
      sha256(token),
      r.id,
      now + cfg.ratingTokenTtlMs,
    );
    record(fx, r.id, 'resolved', actor, { resolution, note });
    return token;
  }

  function act(id: string, fn: (fx: TxEffects, r: AlertRow) => void): AlertView {
    tx((fx) => fn(fx, load(id)));
    return view(load(id));
  }

  function rateRow(fx: TxEffects, r: AlertRow, actor: string, input: { score: number; comment?: string }) {
    if (r.status !== 'resolved' && r.status !== 'closed') throw transitionError(r, 'rate');
    if (r.rating !== null) throw new GridHubError('CONFLICT', 'the alert is already rated');
    setFields(r.id, { rating: input.score, rating_comment: input.comment ?? null });
    record(fx, r.id, 'rated', actor, { score: input.score, comment: input.comment ?? null });
  }

  /** Forget delivered outbox rows and spent timers after the retention time; the timeline keeps the record. */
  function prune(): void {
    const before = clock.now() - cfg.outboxRetentionMs;
    const a = db.prepare("DELETE FROM alert_outbox WHERE state != 'pending' AND created_at < ?").run(before);
    db.prepare('DELETE FROM alert_journal_seen WHERE at < ?').run(before);
    const b = db
      .prepare(
        `DELETE FROM alert_timers WHERE state != 'pending' AND alert_id IN
         (SELECT id FROM alerts WHERE status IN ('resolved','closed') AND updated_at < ?)`,
      )
      .run(before);
    if (a.changes || b.changes)
      log.info({ outbox: a.changes, timers: b.changes }, 'pruned delivered outbox rows');
    lastPrune = clock.now();
  }
  let lastPrune = 0;

  // ---- escalation scheduler ---------------------------------------------------------------------------------
  let stopped = true;
  let timer: { handle: TimerHandle; at: number } | null = null;

  function armTimers(): void {
    if (stopped) return;
    const next = q.nextTimer.get()?.due ?? null;
    if (timer && (next === null || timer.at !== next)) {
      clock.clearTimeout(timer.handle);
      timer = null;
    }
    if (next === null || timer) return;
    timer = { handle: clock.setTimeout(fireTimers, Math.max(0, next - clock.now())), at: next };
  }

  function fireTimers(): void {
    if (timer) clock.clearTimeout(timer.handle);
    timer = null;
    if (stopped) return;
    for (;;) {
      const due = q.dueTimers.all(clock.now());
      if (!due.length) break;
      for (const t of due) {
        try {
          tx((fx) => fireTimer(fx, t));
        } catch (err) {
          log.error({ err, timerId: t.id, alertId: t.alert_id }, 'escalation step failed');
          q.setTimerState.run('void', t.id);
        }
      }
    }
    armTimers();
  }

  function milestoneReached(r: AlertRow, unless: Milestone | null): boolean {
    if (unless === 'acknowledged') return r.acknowledged_at !== null;
    if (unless === 'on_site') return r.arrived_at !== null;
    return r.resolved_at !== null;
  }

  function fireTimer(fx: TxEffects, t: TimerRow): void {
    const r = q.alert.get(t.alert_id);
    if (!r || !OPEN_STATUSES.includes(r.status)) {
      q.setTimerState.run('void', t.id);
      return;
    }
    if (t.kind === 'report_in') {
      const w = q.whistle.get(t.ref);
      if (!w || w.reported_at !== null) {
        q.setTimerState.run('void', t.id);
        return;
      }
      q.setTimerState.run('fired', t.id);
      const roles = cfg.reportInEscalationRoles;
      const recipients = notify(fx, r, roles, 'report_in_overdue');
      db.prepare('UPDATE alert_whistles SET escalated = 1 WHERE id = ?').run(w.id);
      const reach = roles.includes('street_command')
        ? 'street'
        : roles.includes('community_duty')
          ? 'community'
          : 'grid';
      setFields(r.id, {
        escalated: 1,
        reach: REACH_RANK[reach] > REACH_RANK[r.reach] ? reach : r.reach,
      });
      record(fx, r.id, 'escalated', SYSTEM, {
        reason: 'report_in_overdue',
        department: w.department,
        dueAt: w.due_at,
        roles,
        recipients,
      });
      return;
    }
    if (milestoneReached(r, t.unless) || q.stepFired.get(r.id, t.ref)) {
      q.setTimerState.run('void', t.id);
      return;
    }
    const step = cfg.ladders[r.severity][t.ref];
    if (!step) {
      q.setTimerState.run('void', t.id);
      return;
    }
    q.setTimerState.run('fired', t.id);
    q.voidStep.run(r.id, t.ref);
    const recipients = notify(fx, r, step.roles, 'escalated');
    setFields(r.id, {
      escalated: 1,
      escalation_step: Math.max(r.escalation_step, t.ref),
      reach: REACH_RANK[step.reach] > REACH_RANK[r.reach] ? step.reach : r.reach,
    });
    record(fx, r.id, 'escalated', SYSTEM, {
      step: t.ref,
      reason: `not ${t.unless} within ${Math.round((t.due_at - r.clock_start) / 1000)} s`,
      roles: step.roles,
      reach: step.reach,
      recipients,
    });
  }

  // ---- outbox delivery loop ---------------------------------------------------------------------------------
  let draining: Promise<void> | null = null;
  let again = false;
  let retryTimer: { handle: TimerHandle; at: number } | null = null;

  function armRetry(): void {
    if (stopped) return;
    const next = q.nextOutbox.get()?.due ?? null;
    if (retryTimer && (next === null || retryTimer.at !== next)) {
      clock.clearTimeout(retryTimer.handle);
      retryTimer = null;
    }
    if (next === null || retryTimer || next <= clock.now()) return;
    retryTimer = {
      handle: clock.setTimeout(() => {
        retryTimer = null;
        void drain();
      }, next - clock.now()),
      at: next,
    };
  }

  function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`delivery timed out after ${ms} ms`)), ms);
      t.unref();
      p.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(t);
          reject(err);
        },
      );
    });
  }

  /** Alerts a row speaks for: its own, or every alert listed in a digest. */
  function alertsOfRow(row: OutboxRow, payload: Record<string, unknown>): string[] {
    if (payload.kind === 'digest' && Array.isArray(payload.alertIds)) {
      return [...new Set(payload.alertIds.map(String))];
    }
    return [row.alert_id];
  }

  async function deliver(row: OutboxRow): Promise<void> {
    const channel = channels.get(row.channel);
    const attempt = row.attempts + 1;
    const payload = JSON.parse(row.payload) as Record<string, unknown>;
    const shownTarget = maskTarget(row.channel, row.target);
    try {
      if (!channel) throw new DeliveryError(`no channel ${row.channel}`, { retryable: false });
      const res = await withTimeout(
        channel.deliver(row.target, payload, {
          idempotencyKey: row.idempotency_key,
          alertId: row.alert_id,
          attempt,
        }),
        cfg.deliveryTimeoutMs,
      );
      m.deliveries.inc({ channel: row.channel, outcome: 'delivered' });
      if (res?.status !== undefined) m.responses.inc({ channel: row.channel, code: String(res.status) });
      tx((fx) => {
        q.outboxDone.run(row.id);
        if (res?.status !== undefined) q.outboxDoneStatus.run(res.status, row.id);
        if (channel.recordInTimeline) {
          for (const alertId of alertsOfRow(row, payload)) {
            record(
              fx,
              alertId,
              'delivered',
              `channel:${row.channel}`,
              {
                channel: row.channel,
                target: shownTarget,
                attempt,
                status: res?.status ?? null,
                receipt: res?.receipt ?? null,
                idempotencyKey: row.idempotency_key,
                ...(row.rung !== null ? { rung: row.rung } : {}),
                ...(payload.kind === 'digest'
                  ? { digestId: payload.digestId, version: payload.version }
                  : {}),
              },
              { sink: false, stream: false },
            );
          }
        }
      });
    } catch (err) {
      const status = err instanceof DeliveryError ? err.status : undefined;
      const retryable = !(err instanceof DeliveryError) || err.retryable;
      const maxAttempts = row.max_attempts ?? cfg.maxAttempts;
      const final = !channel || !retryable || attempt >= maxAttempts;
      // Exponential back-off with jitter, so many rows failing together do not retry in lockstep.
      const base = Math.min(cfg.retryMaxMs, cfg.retryBaseMs * 2 ** (attempt - 1));
      const jitter = cfg.retryJitter ? 1 + (Math.random() * 2 - 1) * cfg.retryJitter : 1;
      const nextAt = clock.now() + Math.max(1, Math.round(base * jitter));
      const message = err instanceof Error ? err.message : String(err);
      const reason = final
        ? !retryable || !channel
          ? `not retryable: ${message}`
          : `gave up after ${attempt} attempts: ${message}`
        : message;
      m.deliveries.inc({ channel: row.channel, outcome: final ? 'dead' : 'failed' });
      m.responses.inc({ channel: row.channel, code: status === undefined ? 'none' : String(status) });
      log.warn(
        { err, alertId: row.alert_id, channel: row.channel, target: shownTarget, attempt, status },
        final ? 'delivery dead' : 'delivery failed',
      );
      tx((fx) => {
        q.outboxRetry.run(nextAt, reason, status ?? null, final ? 'dead' : 'pending', row.id);
        if (channel?.recordInTimeline !== false) {
          for (const alertId of alertsOfRow(row, payload)) {
            record(
              fx,
              alertId,
              final ? 'delivery_dead' : 'delivery_failed',
              `channel:${row.channel}`,
              {
                channel: row.channel,
                target: shownTarget,
                attempt,
                status: status ?? null,
                error: message,
                ...(final ? { reason } : {}),
                idempotencyKey: row.idempotency_key,
                nextAt: final ? null : nextAt,
                ...(row.rung !== null ? { rung: row.rung } : {}),
              },
              { sink: false, stream: false },
            );
          }
        }
        // A rung whose every delivery is dead has failed: the ladder moves on now, not at its timeout.
        if (final && row.rung !== null) {
          const cur = q.reach.get(row.alert_id);
          if (
            cur?.state === 'active' &&
            cur.rung === row.rung &&
            !q.rungLive.get(row.alert_id, row.rung)?.n
          ) {
            advanceMustReach(fx, row.alert_id, `every ${MUST_REACH_RUNGS[row.rung]} delivery failed`);
          }
        }
      });
    }
  }

  // `running` is cleared inside the loop itself, synchronously when it ends, so a wake-up that arrives after the
  // last query always starts a new pass instead of joining a loop that has already finished.
  let running = false;

  async function drainLoop(): Promise<void> {
    try {
      do {
        again = false;
        for (;;) {
          const rows = q.dueOutbox.all(clock.now());
          if (!rows.length || stopped) break;
          for (const listed of rows) {
            if (stopped) break;
            // Folding or an earlier row of this pass may have changed it since the query.
            const row = q.outboxRow.get(listed.id);
            if (row?.state !== 'pending' || row.next_at > clock.now()) continue;
            if (row.digestible === 1 && row.attempts === 0 && tryFold(row)) continue;
            const wait = rateWait(row.channel);
            if (wait > 0) {
              q.postpone.run(clock.now() + wait, row.id);
              m.rateLimited.inc({ channel: row.channel });
              continue;
            }
            await deliver(row);
          }
        }
      } while (again && !stopped);
      if (clock.now() - lastPrune > 3_600_000) prune();
      armRetry();
    } finally {
      running = false;
    }
  }

  function drain(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (running && draining !== null) {
      again = true;
      return draining;
    }
    running = true;
    draining = drainLoop().catch((err: unknown) => log.error({ err }, 'outbox loop failed'));
    return draining;
  }

  wake = () => {
    armTimers();
    void drain();
  };

  // ---- queries ----------------------------------------------------------------------------------------------
  function list(filter: AlertFilter, visible?: (a: AlertView) => boolean) {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.status?.length) {
      where.push(`status IN (${filter.status.map(() => '?').join(',')})`);
      args.push(...filter.status);
    }
    if (filter.severity?.length) {
      where.push(`severity IN (${filter.severity.map(() => '?').join(',')})`);
      args.push(...filter.severity);
    }
    if (filter.category) {
      where.push('category = ?');
      args.push(filter.category);
    }
    if (filter.place) {
      where.push('EXISTS (SELECT 1 FROM json_each(alerts.place) WHERE value = ?)');
      args.push(filter.place);
    }
    if (filter.department) {
      where.push('id IN (SELECT alert_id FROM alert_whistles WHERE department = ?)');
      args.push(filter.department);
    }
    if (filter.from !== undefined) {
      where.push('opened_at >= ?');
      args.push(filter.from);
    }
    if (filter.to !== undefined) {
      where.push('opened_at < ?');
      args.push(filter.to);
    }
    const sql = `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY opened_at DESC, id LIMIT 10000`;
    let items = db
      .prepare<(string | number)[], AlertRow>(sql)
      .all(...args)
      .map(view);
    if (visible) items = items.filter(visible);
    if (filter.light) items = items.filter((a) => a.light === filter.light);
    const offset = filter.offset ?? 0;
    const limit = filter.limit ?? 50;
    return { total: items.length, items: items.slice(offset, offset + limit) };
  }

  return {
    handle(result) {
      try {
        switch (result.kind) {
          case 'raise':
            return raise(result);
          case 'update':
            return update(result);
          case 'clear':
            return clear(result);
          case 'fact':
            return fact(result);
        }
      } catch (err) {
        // Nothing was committed: the caller learns it (a QoS 1 event stays unacknowledged and comes again).
        log.error(
          { err, ruleId: result.ruleId, deviceId: result.deviceId, kind: result.kind },
          'rule result not taken',
        );
        m.failures.inc();
        throw err;
      }
    },
    start() {
      if (!stopped) return;
      stopped = false;
      prune();
      // Overdue steps of a hub that was down fire now, before new work; the rest are armed on the clock.
      const next = q.nextTimer.get()?.due ?? null;
      if (next !== null && next <= clock.now()) fireTimers();
      else armTimers();
      fireReach();
      void drain();
      log.info('dispatcher started');
    },
    async stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer.handle);
      if (retryTimer) clock.clearTimeout(retryTimer.handle);
      if (reachTimer) clock.clearTimeout(reachTimer.handle);
      timer = null;
      retryTimer = null;
      reachTimer = null;
      await draining;
    },
    drain: async () => {
      await drain();
      // A delivery may have queued more (timeline → stream); settle them too.
      while (!stopped && q.dueOutbox.all(clock.now()).length) await drain();
    },
    registerChannel,
    get(id) {
      const r = q.alert.get(id);
      return r ? view(r) : undefined;
    },
    list,
    timeline(id) {
      return q.events.all(id).map((e) => ({
        id: e.id,
        at: e.at,
        actor: e.actor,
        type: e.type,
        data: JSON.parse(e.data) as Record<string, unknown>,
      }));
    },
    incident(id) {
      const r = db
        .prepare<
          [string],
          {
            id: string;
            category: string;
            group_key: string;
            place: string;
            opened_at: number;
            last_at: number;
          }
        >('SELECT * FROM alert_incidents WHERE id = ?')
        .get(id);
      if (!r) return undefined;
      const alertIds = db
        .prepare<[string], { id: string }>(
          'SELECT id FROM alerts WHERE incident_id = ? ORDER BY opened_at, id',
        )
        .all(id)
        .map((a) => a.id);
      return {
        id: r.id,
        category: r.category,
        groupKey: r.group_key,
        place: JSON.parse(r.place) as PlacePath,
        openedAt: r.opened_at,
        lastAt: r.last_at,
        alertIds,
      };
    },
    kpis(filter, visible) {
      const { items } = list(
        { from: filter.from, to: filter.to, place: filter.place, limit: 10000 },
        visible,
      );
      return computeKpis(cfg, items, filter, clock.now());
    },
    acknowledge(id, actor) {
      return act(id, (fx, r) => {
        if (r.status !== 'open' && r.status !== 'dispatched') throw transitionError(r, 'acknowledge');
        q.voidUnless.run(id, 'acknowledged');
        q.stopReach.run(id);
        setFields(id, { status: 'acknowledged', acknowledged_at: clock.now(), acknowledged_by: actor });
        record(fx, id, 'acknowledged', actor);
      });
    },
    arrive(id, actor) {
      return act(id, (fx, r) => {
        if (!['open', 'dispatched', 'acknowledged'].includes(r.status)) throw transitionError(r, 'arrive at');
        const now = clock.now();
        q.voidUnless.run(id, 'acknowledged');
        q.voidUnless.run(id, 'on_site');
        q.stopReach.run(id);
        if (r.acknowledged_at === null) {
          // Arriving is the strongest acknowledgement there is.
          setFields(id, { acknowledged_at: now, acknowledged_by: actor });
        }
        setFields(id, { status: 'on_site', arrived_at: now });
        record(fx, id, 'on_site', actor);
      });
    },
    resolve(id, actor, input) {
      let token = '';
      const alert = act(id, (fx, r) => {
        if (!OPEN_STATUSES.includes(r.status)) throw transitionError(r, 'resolve');
        token = doResolve(fx, r, actor, input.resolution ?? 'handled', input.note);
      });
      return { alert, ratingToken: token };
    },
    rate(id, actor, input) {
      return act(id, (fx, r) => rateRow(fx, r, actor, input));
    },
    rateByToken(token, input) {
      const row = db
        .prepare<[string], { alert_id: string; expires_at: number; used_at: number | null }>(
          'SELECT alert_id, expires_at, used_at FROM alert_rating_tokens WHERE token_hash = ?',
        )
        .get(sha256(token));
      if (!row || row.used_at !== null || row.expires_at <= clock.now()) {
        throw new GridHubError('NOT_FOUND', 'this rating link is unknown, used or expired');
      }
      return act(row.alert_id, (fx, r) => {
        db.prepare('UPDATE alert_rating_tokens SET used_at = ? WHERE token_hash = ?').run(
          clock.now(),
          sha256(token),
        );
        rateRow(fx, r, 'resident', input);
      });
    },
    close(id, actor, note) {
      return act(id, (fx, r) => {
        if (r.status !== 'resolved') throw transitionError(r, 'close');
        setFields(id, { status: 'closed', closed_at: clock.now() });
        record(fx, id, 'closed', actor, { note: note ?? null });
      });
    },
    markFalse(id, actor, input) {
      return act(id, (fx, r) => {
        if (!OPEN_STATUSES.includes(r.status) && r.status !== 'resolved')
          throw transitionError(r, input.kind);
        const now = clock.now();
        record(fx, id, input.kind, actor, { reason: input.reason, note: input.note ?? null });
        if (r.status !== 'resolved') doResolve(fx, r, actor, input.kind, input.reason);
        else setFields(id, { resolution: input.kind });
        db.prepare(
          `INSERT INTO alert_suppressions (rule_id, device_id, until, reason) VALUES (?, ?, ?, ?)
           ON CONFLICT (rule_id, device_id) DO UPDATE SET until = excluded.until, reason = excluded.reason`,
        ).run(r.rule_id, r.device_id, now + cfg.suppressAfterFalseAlarmMs, input.kind);
        const task = db
          .prepare(
            `INSERT INTO maintenance_tasks (device_id, alert_id, reason, note, created_at, created_by)
             VALUES (?, ?, ?, ?, ?, ?)`,
          )
          .run(r.device_id, id, input.kind, input.reason, now, actor);
        record(
          fx,
          id,
          'maintenance_task_opened',
          actor,
          {
            taskId: Number(task.lastInsertRowid),
            deviceId: r.device_id,
            suppressedUntil: now + cfg.suppressAfterFalseAlarmMs,
          },
          { sink: false },
        );
      });
    },
    whistle(id, actor, input) {
      return act(id, (fx, r) => {
        if (!OPEN_STATUSES.includes(r.status)) throw transitionError(r, 'whistle');
        const pending = q.whistles
          .all(id)
          .find((w) => w.department === input.department && w.reported_at === null);
        if (pending) throw new GridHubError('CONFLICT', `${input.department} is already whistled in`);
        const now = clock.now();
        const dueAt = now + cfg.sla[r.severity].reportInMs;
        const info = db
          .prepare(
            `INSERT INTO alert_whistles (alert_id, department, note, whistled_at, whistled_by, due_at)
             VALUES (?, ?, ?, ?, ?, ?)`,
          )
          .run(id, input.department, input.note ?? null, now, actor, dueAt);
        const whistleId = Number(info.lastInsertRowid);
        q.insertTimer.run(id, 'report_in', whistleId, null, dueAt);
        // Department staff serving this place, else any of that department.
        const place = JSON.parse(r.place) as PlacePath;
        let staff = people.peopleAt(place, 'department').filter((p) => p.department === input.department);
        if (!staff.length) {
          staff = people
            .list({ role: 'department' })
            .filter((p) => p.department === input.department && p.active);
        }
        for (const p of staff) {
          const payload = alarmPayload(r, 'whistled', { person: p, role: 'department', via: 'on_duty' });
          enqueue(fx, {
            alertId: id,
            channel: 'mqtt',
            target: p.id,
            payload: { ...payload, department: input.department },
            personId: p.id,
            // A whistle is a call to act now, whatever the alert's severity: never held or folded.
            severity: 'critical',
            place,
          });
        }
        record(fx, id, 'whistled', actor, {
          department: input.department,
          note: input.note ?? null,
          dueAt,
          notified: staff.map((p) => p.id),
        });
      });
    },
    reportIn(id, actor, department, note) {
      return act(id, (fx, r) => {
        const w = q.whistles.all(id).find((x) => x.department === department && x.reported_at === null);
        if (!w)
          throw new GridHubError(
            'ALERT_TRANSITION_INVALID',
            `${department} has no pending whistle on this alert`,
          );
        const now = clock.now();
        db.prepare('UPDATE alert_whistles SET reported_at = ?, reported_by = ? WHERE id = ?').run(
          now,
          actor,
          w.id,
        );
        db.prepare(
          "UPDATE alert_timers SET state = 'void' WHERE alert_id = ? AND kind = 'report_in' AND ref = ? AND state = 'pending'",
        ).run(id, w.id);
        record(fx, r.id, 'reported_in', actor, { department, onTime: now <= w.due_at, note: note ?? null });
      });
    },
    actors: actorsOf,
    deliveries(id) {
      return db
        .prepare<[string], OutboxRow & { last_error: string | null; last_status: number | null }>(
          "SELECT * FROM alert_outbox WHERE alert_id = ? AND channel != 'stream' ORDER BY id",
        )
        .all(id)
        .map((r) => ({
          id: r.id,
          channel: r.channel,
          target: maskTarget(r.channel, r.target),
          state: r.state as DeliveryView['state'],
          attempts: r.attempts,
          nextAt: r.next_at,
          lastError: r.last_error,
          lastStatus: r.last_status,
          idempotencyKey: r.idempotency_key,
          rung: r.rung,
          heldUntil: r.held_until,
        }));
    },
    maintenance: {
      list(filter = {}) {
        const rows = db
          .prepare<[], MaintenanceRow>(
            `SELECT m.*, a.place AS place FROM maintenance_tasks m LEFT JOIN alerts a ON a.id = m.alert_id
             ${filter.open === undefined ? '' : filter.open ? 'WHERE m.done_at IS NULL' : 'WHERE m.done_at IS NOT NULL'}
             ORDER BY m.id DESC LIMIT 1000`,
          )
          .all();
        return rows.map(taskView);
      },
      get(id) {
        const r = db
          .prepare<[number], MaintenanceRow>(
            'SELECT m.*, a.place AS place FROM maintenance_tasks m LEFT JOIN alerts a ON a.id = m.alert_id WHERE m.id = ?',
          )
          .get(id);
        return r ? taskView(r) : undefined;
      },
      close(id, actor, note) {
        const r = db
          .prepare<[number], MaintenanceRow>('SELECT *, NULL AS place FROM maintenance_tasks WHERE id = ?')
          .get(id);
        if (!r) throw new GridHubError('NOT_FOUND', `no maintenance task ${id}`);
        if (r.done_at !== null)
          throw new GridHubError('CONFLICT', `maintenance task ${id} is already closed`);
        tx((fx) => {
          const now = clock.now();
          db.prepare('UPDATE maintenance_tasks SET done_at = ?, done_by = ?, done_note = ? WHERE id = ?').run(
            now,
            actor,
            note ?? null,
            id,
          );
          // The device is fixed: its alarms count again from now on.
          const lifted = db
            .prepare('UPDATE alert_suppressions SET until = ? WHERE device_id = ? AND until > ?')
            .run(now, r.device_id, now).changes;
          record(
            fx,
            r.alert_id,
            'maintenance_task_closed',
            actor,
            { taskId: id, note: note ?? null, lifted },
            { sink: false },
          );
        });
        return this.get(id) as MaintenanceTask;
      },
    },
    stream,
    people,
    pushStore,
    residents,
    audit,
    quietHours,
    channelTargets,
  };
}

interface MaintenanceRow {
  id: number;
  device_id: string;
  alert_id: string;
  reason: string;
  note: string | null;
  created_at: number;
  created_by: string;
  done_at: number | null;
  done_by: string | null;
  done_note: string | null;
  place: string | null;
}

function taskView(r: MaintenanceRow): MaintenanceTask {
  return {
    id: r.id,
    deviceId: r.device_id,
    alertId: r.alert_id,
    reason: r.reason,
    note: r.note,
    createdAt: r.created_at,
    createdBy: r.created_by,
    doneAt: r.done_at,
    doneBy: r.done_by,
    doneNote: r.done_note,
    place: r.place ? (JSON.parse(r.place) as PlacePath) : null,
  };
}
