/** Alerts as the board receives them, for the pure logic of the pages. */
import type { Alert, SlaClock } from '../../dashboards/web/src/common/types.ts';

const MIN = 60_000;

export function clock(
  name: string,
  startedAt: number,
  allowance: number,
  stoppedAt: number | null = null,
): SlaClock {
  return { name, startedAt, dueAt: startedAt + allowance, stoppedAt, light: 'green', used: 0, met: null };
}

export function alert(id: string, over: Partial<Alert> = {}): Alert {
  return {
    id,
    ruleId: 'r',
    deviceId: 'd',
    deviceType: 'smoke',
    placeId: 'E1-B1-U1',
    place: { street: 'S1', community: 'C1', grid: 'G1', estate: 'E1', building: 'E1-B1', unit: 'E1-B1-U1' },
    placeNames: [],
    floor: null,
    severity: 'critical',
    category: 'fire',
    title: 't',
    detail: '',
    evidence: {},
    dedup: 'per-device',
    status: 'dispatched',
    incidentId: null,
    count: 1,
    openedAt: 0,
    lastSeenAt: 0,
    acknowledgedAt: null,
    acknowledgedBy: null,
    arrivedAt: null,
    resolvedAt: null,
    resolvedBy: null,
    resolution: null,
    resolutionNote: null,
    closedAt: null,
    rating: null,
    ratingComment: null,
    reach: 'grid',
    escalated: false,
    escalationStep: 0,
    cancelledByResident: false,
    resident: null,
    reopened: false,
    whistles: [],
    clocks: [clock('acknowledge', 0, MIN), clock('resolve', 0, 60 * MIN)],
    light: 'green',
    ...over,
  };
}
