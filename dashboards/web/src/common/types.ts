/**
 * The API's shapes as the dashboards read them (mirrors src/alerts/types.ts, src/api/registry-routes.ts and
 * src/alerts/kpis.ts; only the fields the pages use).
 */
import type { KpiFigures, KpiReport } from '../../../../src/alerts/kpis.ts';
import type { Light, SlaClock } from '../../../../src/alerts/sla.ts';
import type { AlertStatus, AlertView } from '../../../../src/alerts/types.ts';
import type { PlacePath } from '../../../../src/domain/places.ts';
import type { Severity } from '../../../../src/domain/severity.ts';

// The server's own types where the JSON carries them unchanged, so the pages cannot drift from the API.
export type { AlertStatus, KpiFigures, KpiReport, Light, PlacePath, Severity, SlaClock };

export const SEVERITIES: Severity[] = ['critical', 'major', 'minor'];
export const LIGHTS: Light[] = ['green', 'yellow', 'red'];
export const OPEN_STATUSES: AlertStatus[] = ['open', 'dispatched', 'acknowledged', 'on_site'];
export const DEPARTMENTS = ['fire', 'police', 'sanitation', 'civil_affairs', 'medical', 'elevator'] as const;

export interface User {
  username: string;
  role: string;
  displayName: string;
  personId: string | null;
  locale: string;
  scope: string[];
}

export interface Whistle {
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

export type Alert = AlertView;

export interface TimelineEvent {
  id: number;
  at: number;
  actor: string;
  type: string;
  data: Record<string, unknown>;
  /** The actor's display name, when the actor is a user or a person. */
  actorName?: string | null;
  /** The person a delivery went to, by name. */
  targetName?: string | null;
}

export interface AlertDetail {
  alert: Alert;
  timeline: TimelineEvent[];
  incident: { id: string; alertIds: string[] } | null;
}

/** One message of `GET /api/alerts/stream` (event `alert`). */
export interface StreamMessage {
  type: string;
  alertId: string;
  at: number;
  place: PlacePath;
  alert: Alert;
}

/** The alarm a worker's phone receives on `gh/workers/{personId}/alarms`. */
/** What arrives on `gh/workers/{personId}/alarms`: the hub's typed wire contract. */
export type { WorkerAlarm, WorkerDigest, WorkerMessage } from '../../../../src/domain/wire.ts';

export interface PlaceNode {
  id: string;
  level: string;
  name: string;
  children: PlaceNode[];
  /** Buildings: position on the estate's plan (0–100) and floors, where an admin set them. */
  layout?: { x: number | null; y: number | null; floors: number | null };
}

export interface Device {
  id: string;
  type: string;
  placeId: string;
  place: PlacePath;
  placeNames: string[];
  floor: number | null;
  label: string | null;
  enabled: boolean;
  online: boolean;
  lastSeen: string | null;
  onlineChangedAt: string | null;
}

export interface CatalogueField {
  kind: 'number' | 'boolean' | 'string';
  unit?: string;
  min?: number;
  max?: number;
  description: string;
}

export interface CatalogueEntry {
  id: string;
  name?: Record<string, string> | string;
  telemetry: Record<string, CatalogueField>;
}

/** One point of a telemetry series. */
export interface Point {
  t: number;
  v: number | null;
}
