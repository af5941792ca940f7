/** The message bodies channels carry: one alarm per recipient, or a digest of many (src/domain/alarm.ts). */
import {
  type AlarmMessage,
  type DigestItem,
  type DigestMessage,
  type MessageLang,
  messageLang,
  type OnDuty,
  type PlaceName,
  type ResidentCard,
} from '../domain/alarm.ts';
import { PLACE_LEVELS, type PlacePath } from '../domain/places.ts';
import type { Person, Resident } from '../domain/records.ts';
import type { Severity } from '../domain/severity.ts';
import type { DutyPick } from '../registry/people.ts';
import type { AlertsConfig } from './config.ts';
import type { PlaceNames } from './places.ts';
import type { AlertStatus, AlertView } from './types.ts';

/** Who a message is for: a person picked by duty, or a role, group or contact reached another way. */
export type Recipient = DutyPick | { personId: string | null; role: string; via: string };

export function onDutyOf(
  people: readonly {
    id: string;
    name: string;
    role: Person['role'] | string;
    phone: string | null;
    as?: string;
  }[],
): OnDuty[] {
  return people.map((p) => ({ personId: p.id, name: p.name, role: p.as ?? p.role, mobile: p.phone }));
}

export function residentCard(r: Resident): ResidentCard {
  return {
    name: r.name,
    phone: r.phone,
    familyName: r.familyName,
    familyPhone: r.familyPhone,
    healthNotes: r.healthNotes,
    masked: false,
  };
}

export type Payloads = ReturnType<typeof createPayloads>;

/** Builds the alarm model with what only the dispatcher knows: the recipient's language, the link, the zone. */
export interface PayloadsDeps {
  cfg: AlertsConfig;
  places: PlaceNames;
  /** The locale of the user account of a person (messages follow it), if they have one. */
  localeOf(personId: string): string | undefined;
  /** The hub's address as phones reach it, for links in messages. */
  publicUrl(): string;
}

export function createPayloads(deps: PayloadsDeps) {
  const { cfg } = deps;

  function placePath(path: PlacePath): PlaceName[] {
    const out: PlaceName[] = [];
    for (const level of PLACE_LEVELS) {
      const id = path[level];
      if (id) out.push({ level, name: deps.places.name(id) });
    }
    return out;
  }

  function langOf(personId: string | null): MessageLang {
    if (personId === null) return cfg.messages.language;
    const locale = deps.localeOf(personId);
    return locale ? messageLang(locale) : cfg.messages.language;
  }

  /** The worker view opens `#/alerts/{id}` after login; `#/alerts?ids=` shows a digest's list. */
  function link(hash: string): string {
    return `${deps.publicUrl().replace(/\/$/, '')}/worker/#/${hash}`;
  }

  function alarm(v: AlertView, change: string, pick: Recipient, now: number, onDuty: OnDuty[]): AlarmMessage {
    const recipient =
      'person' in pick ? { personId: pick.person.id, role: pick.role, via: pick.via } : { ...pick };
    const due = (name: string) =>
      v.clocks.find((c) => c.name === name && c.stoppedAt === null)?.dueAt ?? null;
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
      placePath: placePath(v.place),
      device: { id: v.deviceId, type: v.deviceType },
      floor: v.floor,
      evidence: v.evidence,
      count: v.count,
      status: v.status,
      openedAt: v.openedAt,
      sla: { acknowledgeBy: due('acknowledge'), arriveBy: due('arrive'), resolveBy: due('resolve') },
      // Masked in every channel; the unmasked card is added only to the app messages of those acting.
      resident: v.resident,
      onDuty,
      recipient,
      actions: nextActions(v.status),
      lang: langOf(recipient.personId),
      timeZone: cfg.timeZone,
      link: link(`alerts/${encodeURIComponent(v.id)}`),
      sentAt: now,
    };
  }

  function digest(d: {
    digestId: string;
    version: number;
    items: DigestItem[];
    newCount: number;
    severity: Severity;
    maxItems: number;
    recipient: unknown;
    personId: string | null;
    now: number;
    tally: Pick<DigestMessage, 'byKind' | 'byBuilding'>;
  }): DigestMessage {
    const ids = d.items.map((i) => i.alertId);
    return {
      kind: 'digest',
      digestId: d.digestId,
      version: d.version,
      updated: d.version > 1,
      count: d.items.length,
      newCount: d.newCount,
      severity: d.severity,
      items: d.items.slice(-d.maxItems),
      ...d.tally,
      alertIds: ids,
      recipient: d.recipient ?? null,
      lang: langOf(d.personId),
      timeZone: cfg.timeZone,
      link: link('alerts'),
      sentAt: d.now,
    };
  }

  return { alarm, digest, langOf, link, placePath };
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
export function digestItem(p: AlarmMessage): DigestItem {
  return {
    alertId: p.alertId,
    severity: p.severity,
    category: p.category,
    title: p.title,
    placeNames: p.placeNames,
    placePath: p.placePath,
    floor: p.floor,
    device: p.device,
    change: p.change,
    openedAt: p.openedAt,
  };
}

function countBy(items: readonly DigestItem[], key: (i: DigestItem) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
}

/** 「阳光花园1栋」: the building an alarm is in, the grid when it has none. */
export function buildingOf(i: Pick<DigestItem, 'placePath'>): string {
  const by = (l: string) => i.placePath.find((p) => p.level === l)?.name ?? '';
  return [by('estate'), by('building')].filter(Boolean).join('') || by('grid') || by('community');
}

/** Counts by kind and building over every item (the payload carries them for all, the list may be cut). */
export function tally(items: readonly DigestItem[]): Pick<DigestMessage, 'byKind' | 'byBuilding'> {
  const kinds = new Map<string, { category: string; title: string; n: number }>();
  for (const i of items) {
    const k = kinds.get(i.category) ?? { category: i.category, title: i.title, n: 0 };
    k.n++;
    kinds.set(i.category, k);
  }
  return {
    byKind: [...kinds.values()].sort((a, b) => b.n - a.n),
    byBuilding: countBy(items, buildingOf).map(([name, n]) => ({ name, n })),
  };
}
