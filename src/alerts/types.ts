import type { DeviceTypeId } from '../catalogue/types.ts';
import type { PlacePath } from '../domain/places.ts';
import type { Severity } from '../domain/severity.ts';
import type { AlertStatus } from '../domain/wire.ts';
import type { MaskedResident } from './privacy.ts';
import type { Light, SlaClock } from './sla.ts';

export { ALERT_STATUSES, type AlertStatus } from '../domain/wire.ts';

/** How an alert was resolved. */
export const RESOLUTIONS = [
  'handled',
  'referred',
  'auto',
  'prevented',
  'false_alarm',
  'device_fault',
  'cancelled',
] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

export type Reach = 'grid' | 'community' | 'street';

export interface WhistleView {
  id: number;
  department: string;
  note: string | null;
  whistledAt: number;
  whistledBy: string;
  dueAt: number;
  reportedAt: number | null;
  reportedBy: string | null;
  escalated: boolean;
}

export interface AlertView {
  id: string;
  ruleId: string;
  deviceId: string;
  deviceType: DeviceTypeId;
  placeId: string;
  place: PlacePath;
  placeNames: string[];
  floor: number | null;
  severity: Severity;
  category: string;
  title: string;
  detail: string;
  evidence: Record<string, string | number | boolean>;
  dedup: 'per-device' | 'per-occurrence';
  status: AlertStatus;
  incidentId: string | null;
  count: number;
  openedAt: number;
  lastSeenAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  arrivedAt: number | null;
  resolvedAt: number | null;
  resolvedBy: string | null;
  resolution: Resolution | null;
  resolutionNote: string | null;
  closedAt: number | null;
  rating: number | null;
  ratingComment: string | null;
  reach: Reach;
  escalated: boolean;
  escalationStep: number;
  cancelledByResident: boolean;
  reopened: boolean;
  whistles: WhistleView[];
  clocks: SlaClock[];
  light: Light;
  /** The resident behind a call-button device, masked (the unmasked read is its own audited route). */
  resident: MaskedResident | null;
}

export interface TimelineEvent {
  id: number;
  at: number;
  actor: string;
  type: string;
  data: Record<string, unknown>;
}

export interface IncidentView {
  id: string;
  category: string;
  groupKey: string;
  place: PlacePath;
  openedAt: number;
  lastAt: number;
  alertIds: string[];
}

export interface AlertFilter {
  status?: AlertStatus[];
  severity?: Severity[];
  category?: string;
  /** Alerts at or under this place id. */
  place?: string;
  light?: Light;
  from?: number;
  to?: number;
  /** Only alerts whistled to this department. */
  department?: string;
  limit?: number;
  offset?: number;
}

/**
 * Whose alerts a read returns, applied in SQL: everything (admins), the subtrees under some places (everyone
 * else by their scope roots), or the alerts a department was whistled into (null: a department user without one).
 */
export type AlertScope =
  | { kind: 'all' }
  | { kind: 'places'; roots: readonly string[] }
  | { kind: 'department'; department: string | null };

export const OPEN_STATUSES: AlertStatus[] = ['open', 'dispatched', 'acknowledged', 'on_site'];
/** The actor of what the dispatcher does by itself (timers, routing, digests). */
export const SYSTEM = 'system';

const REACH_RANK: Record<Reach, number> = { grid: 0, community: 1, street: 2 };

/** An alert's reach only ever widens. */
export function widerReach(a: Reach, b: Reach): Reach {
  return REACH_RANK[a] > REACH_RANK[b] ? a : b;
}

/** A maintenance task opened by a false alarm or a device fault. */
export interface MaintenanceTask {
  id: number;
  deviceId: string;
  alertId: string;
  reason: string;
  note: string | null;
  createdAt: number;
  createdBy: string;
  doneAt: number | null;
  doneBy: string | null;
  doneNote: string | null;
  /** Where the device is (for scope checks); null when the device is no longer registered. */
  place: PlacePath | null;
}

/** Set until the dispatcher starts and again when it stops: timers are not armed and the outbox does not run. */
export interface RunState {
  stopped: boolean;
}
