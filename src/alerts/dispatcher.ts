import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DeviceTypeId } from '../catalogue/types.ts';
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
  mqttChannel,
  type StreamMessage,
  streamChannel,
} from './channels.ts';
import type { AlertsConfig, Milestone } from './config.ts';
import { createPeopleStore, type DutyPick, type PeopleStore } from './duty.ts';
import { computeKpis, type KpiFilter, type KpiReport } from './kpis.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';
import { alertClocks, worstLight } from './sla.ts';
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

  readonly stream: AlertStream;
  readonly people: PeopleStore;
}

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
  for (const c of deps.channels ?? []) registerChannel(c);

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
      help: 'Outbox delivery attempts by channel and outcome',
      labelNames: ['channel', 'outcome'],
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
    insertOutbox: db.prepare(
      `INSERT INTO alert_outbox (alert_id, channel, target, payload, created_at, next_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    dueOutbox: db.prepare<[number], OutboxRow>(
      `SELECT id, alert_id, channel, target, payload, attempts FROM alert_outbox
       WHERE state = 'pending' AND next_at <= ? ORDER BY id LIMIT 100`,
    ),
    nextOutbox: db.prepare<[], { due: number | null }>(
      "SELECT min(next_at) AS due FROM alert_outbox WHERE state = 'pending'",
    ),
    outboxDone: db.prepare("UPDATE alert_outbox SET state = 'done', attempts = attempts + 1 WHERE id = ?"),
    outboxRetry: db.prepare(
      'UPDATE alert_outbox SET attempts = attempts + 1, next_at = ?, last_error = ?, state = ? WHERE id = ?',
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
    };
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
      q.insertOutbox.run(alertId, 'stream', '*', JSON.stringify(msg), at, at);
    }
    fx.changes.push({ row, change: type, at, sink: options.sink !== false });
  }

  function setFields(id: string, fields: Record<string, string | number | null>): void {
    const keys = Object.keys(fields);
    db.prepare(
      `UPDATE alerts SET ${keys.map((k) => `${k} = @${k}`).join(', ')}, updated_at = @__now WHERE id = @__id`,
    ).run({ ...fields, __now: clock.now(), __id: id });
  }

  // ---- routing ----------------------------------------------------------------------------------------------
  function alarmPayload(r: AlertRow, change: string, pick: DutyPick): Record<string, unknown> {
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
      recipient: { personId: pick.person.id, role: pick.role, via: pick.via },
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
    for (const pick of picks) {
      const payload = JSON.stringify(alarmPayload(r, change, pick));
      q.insertOutbox.run(r.id, 'mqtt', pick.person.id, payload, at, at);
      for (const c of pick.person.contacts) {
        if (c.channel !== 'mqtt' && channels.has(c.channel)) {
          q.insertOutbox.run(r.id, c.channel, c.target, payload, at, at);
        }
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
  }

  // ---- rule results -----------------------------------------------------------------------------------------
  function raise(res: AlertRaise): void {
    const at = res.at;
    tx((fx) => {
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

  async function deliver(row: OutboxRow): Promise<void> {
    const channel = channels.get(row.channel);
    const attempt = row.attempts + 1;
    try {
      if (!channel) throw new Error(`no channel ${row.channel}`);
      const res = await withTimeout(
        channel.deliver(row.target, JSON.parse(row.payload) as Record<string, unknown>),
        cfg.deliveryTimeoutMs,
      );
      m.deliveries.inc({ channel: row.channel, outcome: 'delivered' });
      tx((fx) => {
        q.outboxDone.run(row.id);
        if (channel.recordInTimeline) {
          record(
            fx,
            row.alert_id,
            'delivered',
            `channel:${row.channel}`,
            { channel: row.channel, target: row.target, attempt, receipt: res?.receipt ?? null },
            { sink: false, stream: false },
          );
        }
      });
    } catch (err) {
      const final = !channel || attempt >= cfg.maxAttempts;
      const backoff = Math.min(cfg.retryMaxMs, cfg.retryBaseMs * 2 ** (attempt - 1));
      const nextAt = clock.now() + backoff;
      const message = err instanceof Error ? err.message : String(err);
      m.deliveries.inc({ channel: row.channel, outcome: final ? 'gave_up' : 'failed' });
      log.warn(
        { err, alertId: row.alert_id, channel: row.channel, target: row.target, attempt },
        'delivery failed',
      );
      tx((fx) => {
        q.outboxRetry.run(nextAt, message, final ? 'failed' : 'pending', row.id);
        if (channel?.recordInTimeline !== false) {
          record(
            fx,
            row.alert_id,
            final ? 'delivery_gave_up' : 'delivery_failed',
            `channel:${row.channel}`,
            {
              channel: row.channel,
              target: row.target,
              attempt,
              error: message,
              nextAt: final ? null : nextAt,
            },
            { sink: false, stream: false },
          );
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
          for (const row of rows) {
            if (stopped) break;
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
      void drain();
      log.info('dispatcher started');
    },
    async stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer.handle);
      if (retryTimer) clock.clearTimeout(retryTimer.handle);
      timer = null;
      retryTimer = null;
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
          q.insertOutbox.run(
            id,
            'mqtt',
            p.id,
            JSON.stringify({ ...payload, department: input.department }),
            now,
            now,
          );
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
    stream,
    people,
  };
}
