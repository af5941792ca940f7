/**
 * The full view of an alert from its row, its whistles and the resident behind its device. Pure: the store reads
 * the extras of one alert, the list reads those of a whole page in one query each, and both build the same view.
 */
import type { DeviceTypeId } from '../catalogue/types.ts';
import { PLACE_LEVELS, type PlacePath } from '../domain/places.ts';
import type { Resident } from '../domain/records.ts';
import type { AlertsConfig } from './config.ts';
import type { PlaceNames } from './context.ts';
import type { AlertRow, WhistleRow } from './rows.ts';
import { alertClocks, worstLight } from './sla.ts';
import { maskResident } from './stores.ts';
import type { AlertView } from './types.ts';
import { placeOf, whistleView } from './views.ts';

export interface ViewEnv {
  cfg: AlertsConfig;
  places: PlaceNames;
  /** The time the SLA clocks are read at. */
  now: number;
}

export function placeNames(places: PlaceNames, path: PlacePath): string[] {
  const names: string[] = [];
  for (const level of PLACE_LEVELS) {
    const id = path[level];
    if (id) names.push(places.name(id));
  }
  return names;
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
