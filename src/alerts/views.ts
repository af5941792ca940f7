/** Row → view mapping that needs nothing but the row. */
import type { PlacePath } from '../domain/places.ts';
import type { AlertRow, IncidentRow, MaintenanceRow, OutboxRow, WhistleRow } from './rows.ts';
import { type MaintenanceTask, maskTarget } from './stores.ts';
import type { IncidentView, TimelineEvent, WhistleView } from './types.ts';

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

export function placeOf(r: Pick<AlertRow, 'place'>): PlacePath {
  return JSON.parse(r.place) as PlacePath;
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
