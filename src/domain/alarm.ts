/**
 * The alarm model every message to people is rendered from: the outbox carries one of these per recipient (an
 * alarm) or per recipient and window (a digest), and each channel's template turns it into that platform's
 * message in the recipient's language. Built by the dispatcher, rendered by src/channels/templates.
 */
import type { PlaceLevel, PlacePath } from './places.ts';
import type { Severity } from './severity.ts';

export const MESSAGE_LANGS = ['zh-CN', 'en'] as const;
export type MessageLang = (typeof MESSAGE_LANGS)[number];

/** A user locale (`zh-CN`, `zh`, `en-US`, …) → the language messages are written in; Chinese unless English. */
export function messageLang(locale: string | null | undefined): MessageLang {
  return locale?.toLowerCase().startsWith('en') ? 'en' : 'zh-CN';
}

/** One named level of the place, street first. */
export interface PlaceName {
  level: PlaceLevel;
  name: string;
}

/** Someone on the alert: named in messages ("who is on it"), their mobile number for DingTalk's @mention. */
export interface OnDuty {
  personId: string;
  name: string;
  role: string;
  /** Mobile number, only for @mentions in group robots that the person is a member of; never printed. */
  mobile: string | null;
}

/** The resident behind a call button, as everyone but those acting on the alert sees it. */
export interface MaskedResidentCard {
  id: string;
  name: string | null;
  phone: string | null;
  familyName: string | null;
  familyPhone: string | null;
  healthNotes: string | null;
  masked: true;
}

/** The unmasked card: only in the app messages (MQTT, Web Push) to a person acting on the alert, audited. */
export interface ResidentCard {
  name: string;
  phone: string | null;
  familyName: string | null;
  familyPhone: string | null;
  healthNotes: string | null;
  masked: false;
}

export interface AlarmRecipient {
  personId: string | null;
  role: string;
  via: string;
}

/** Why this message is sent now. */
export type AlarmChange =
  | 'opened'
  | 'reopened'
  | 'escalated'
  | 'must_reach'
  | 'whistled'
  | 'report_in_overdue'
  | 'leader_call'
  | (string & {});

export interface AlarmMessage {
  kind: 'alarm';
  change: AlarmChange;
  alertId: string;
  incidentId: string | null;
  severity: Severity;
  category: string;
  /** The rule's own title (English): the fallback for categories without a label. */
  title: string;
  /** The rule's detail line (English, technical): kept for integrations, not printed to people. */
  detail: string;
  place: PlacePath;
  placeNames: string[];
  placePath: PlaceName[];
  device: { id: string; type: string };
  floor: number | null;
  evidence: Record<string, string | number | boolean>;
  count: number;
  status: string;
  openedAt: number;
  sla: { acknowledgeBy: number | null; arriveBy: number | null; resolveBy: number | null };
  /** Masked for every channel; see `residentCard`. */
  resident: MaskedResidentCard | null;
  /** Present only in app messages to a person acting on the alert. */
  residentCard?: ResidentCard;
  /** Who is on it: the people notified at this step. */
  onDuty: OnDuty[];
  recipient: AlarmRecipient;
  actions: string[];
  /** Language of the recipient. */
  lang: MessageLang;
  /** The community's IANA time zone: times are written in it. */
  timeZone: string;
  /** Deep link to the alert in the worker view (opens it after login). */
  link: string;
  department?: string;
  sentAt: number;
}

/** One alarm inside a digest. */
export interface DigestItem {
  alertId: string;
  severity: Severity;
  category: string;
  title: string;
  placeNames: string[];
  placePath: PlaceName[];
  floor: number | null;
  device: { id: string; type: string };
  change: string;
  openedAt: number;
}

export interface DigestMessage {
  kind: 'digest';
  digestId: string;
  /** >1 only for channels that replace a message by id (the worker app); robots get a new digest per window. */
  version: number;
  updated: boolean;
  /** Alarms summarised (all of them; `items` may list fewer). */
  count: number;
  newCount: number;
  severity: Severity;
  items: DigestItem[];
  /** Counts over every alarm of the digest (not only the listed items), largest first. */
  byKind: { category: string; title: string; n: number }[];
  byBuilding: { name: string; n: number }[];
  alertIds: string[];
  recipient: unknown;
  lang: MessageLang;
  timeZone: string;
  /** Link to the list of these alerts in the worker view. */
  link: string;
  sentAt: number;
}

/** The SMS after resolve that brings the resident (or family) to the rating page. */
export interface RatingLinkMessage {
  kind: 'rating_link';
  alertId: string;
  category: string;
  title: string;
  placePath: PlaceName[];
  floor: number | null;
  lang: MessageLang;
  /** The hub's public address: fixed text of the approved template; only the token is a parameter. */
  base: string;
  token: string;
  sentAt: number;
}

export type OutboxMessage = AlarmMessage | DigestMessage;

export function isAlarm(p: Record<string, unknown>): p is AlarmMessage & Record<string, unknown> {
  return p.kind === 'alarm' && typeof p.alertId === 'string';
}

export function isDigest(p: Record<string, unknown>): p is DigestMessage & Record<string, unknown> {
  return p.kind === 'digest' && Array.isArray(p.items);
}

export function isRatingLink(p: Record<string, unknown>): p is RatingLinkMessage & Record<string, unknown> {
  return p.kind === 'rating_link' && typeof p.token === 'string';
}
