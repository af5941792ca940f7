/** The message bodies channels carry: one alarm per recipient, or a digest of many. */
import type { Severity } from '../domain/severity.ts';
import type { DigestItem, WorkerAlarm, WorkerDigest } from '../domain/wire.ts';
import type { DutyPick } from '../registry/people.ts';
import type { AlertStatus, AlertView } from './types.ts';

/** Who a message is for: a person picked by duty, or a role, group or contact reached another way. */
export type Recipient = DutyPick | { personId: string | null; role: string; via: string };

export function alarmPayload(v: AlertView, change: string, pick: Recipient, now: number): WorkerAlarm {
  const recipient =
    'person' in pick ? { personId: pick.person.id, role: pick.role, via: pick.via } : { ...pick };
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
    sentAt: now,
  };
}

export function nextActions(status: AlertStatus): string[] {
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

/** The line of one alarm inside a digest. */
export function digestItem(p: WorkerAlarm): DigestItem {
  return {
    alertId: p.alertId,
    severity: p.severity,
    category: p.category,
    title: p.title,
    placeNames: p.placeNames,
    floor: p.floor,
    device: p.device,
    change: p.change,
    openedAt: p.openedAt,
  };
}

export function digestPayload(d: {
  digestId: string;
  version: number;
  items: DigestItem[];
  newCount: number;
  severity: Severity;
  maxItems: number;
  recipient: WorkerDigest['recipient'];
  now: number;
}): WorkerDigest {
  return {
    kind: 'digest',
    digestId: d.digestId,
    version: d.version,
    updated: d.version > 1,
    count: d.items.length,
    newCount: d.newCount,
    severity: d.severity,
    items: d.items.slice(-d.maxItems),
    alertIds: d.items.map((i) => i.alertId),
    recipient: d.recipient,
    sentAt: d.now,
  };
}
