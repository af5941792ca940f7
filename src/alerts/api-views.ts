/**
 * The API's shapes of the dispatcher's rows: the full view of an alert (from its row, its whistles and the
 * resident behind its device), whistles, timeline events, incidents, deliveries and maintenance tasks. Pure: the
 * store reads the extras of one alert, the list reads those of a whole page in one query each, and both build the
 * same view.
 */
import type { DeviceTypeId } from '../catalogue/types.ts';
import type { AlertStreamMessage } from '../domain/events.ts';
import type { PlacePath } from '../domain/places.ts';
import type { Resident } from '../domain/records.ts';
import type { AlertsConfig } from './config.ts';
import { type PlaceNames, placeNames, placeOf } from './places.ts';
import { maskResident, maskTarget } from './privacy.ts';
import { alertClocks, worstLight } from './sla.ts';
import type { AlertRow, IncidentRow, MaintenanceRow, OutboxRow, WhistleRow } from './tables.ts';
import type { AlertView, IncidentView, MaintenanceTask, TimelineEvent, WhistleView } from './types.ts';

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

export function whistleView(w: WhistleRow): WhistleView {
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

export function timelineEvent(e: {
  id: number;
  at: number;
  actor: string;
  type: string;
  data: string;
}): TimelineEvent {
  return {
    id: e.id,
    at: e.at,
    actor: e.actor,
    type: e.type,
    data: JSON.parse(e.data) as Record<string, unknown>,
  };
}

export function incidentView(r: IncidentRow, alertIds: string[]): IncidentView {
  return {
    id: r.id,
    category: r.category,
    groupKey: r.group_key,
    place: placeOf(r),
    openedAt: r.opened_at,
    lastAt: r.last_at,
    alertIds,
  };
}

/** Targets masked: the list is shown to everyone who may see the alert. */
export function deliveryView(r: OutboxRow): DeliveryView {
  return {
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
  };
}

export function taskView(r: MaintenanceRow): MaintenanceTask {
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

export interface ViewEnv {
  cfg: AlertsConfig;
  places: PlaceNames;
  /** The time the SLA clocks are read at. */
  now: number;
}

export function alertView(
  env: ViewEnv,
  r: AlertRow,
  whistleRows: readonly WhistleRow[],
  resident: Resident | undefined,
): AlertView {
  const place = placeOf(r);
  const whistles = whistleRows.map(whistleView);
  const clocks = alertClocks(
    env.cfg,
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
    env.now,
  );
  return {
    id: r.id,
    ruleId: r.rule_id,
    deviceId: r.device_id,
    deviceType: r.device_type as DeviceTypeId,
    placeId: r.place_id,
    place,
    placeNames: placeNames(env.places, place),
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
    resident: resident ? maskResident(resident) : null,
  };
}

/**
 * The live stream's message of one change of an alert: as the instance that made it streams it after the commit,
 * and as another instance sharing the database streams it when it hears of the change (src/live-relay.ts).
 */
export function streamMessageOf(type: string, at: number, view: AlertView): AlertStreamMessage {
  return {
    type,
    alertId: view.id,
    at,
    place: view.place,
    departments: view.whistles.map((w) => w.department),
    alert: view as unknown as Record<string, unknown>,
  };
}
