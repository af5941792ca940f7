import type { User } from '../domain/records.ts';
import type { DeviceChannel } from '../domain/wire.ts';
import { topics } from '../domain/wire.ts';
import { scopeCheck } from './integration-feed.ts';
import type { ReaderSession, WorkerSession } from './session.ts';
import { type DeviceTopics, integrationMaySubscribe, isSafeMqttString, isTopicLevel } from './topics.ts';

/**
 * The device contract's ACL, one decision for both brokers: the embedded aedes (pipeline.ts authorizePublish /
 * authorizeSubscribe) and an external broker asking through the HTTP hooks (broker-hooks.ts).
 */

/** What the ACL needs to know of a principal; every `Session` is one. */
export type AclSubject =
  | { role: 'device'; topics: DeviceTopics }
  | { role: 'worker'; alarmsTopic: string }
  | { role: 'integration' | 'anonymous' };

/** The channel a device publishes on when `topic` is one of its own three, else undefined. */
export function publishChannel(t: DeviceTopics, topic: string): DeviceChannel | undefined {
  if (topic === t.telemetry) return 'telemetry';
  if (topic === t.event) return 'event';
  if (topic === t.status) return 'status';
  return undefined;
}

/**
 * Whether `session` may subscribe to `filter`: a device to its own errors topic (its only downlink), a worker to
 * its own alarms topic, integrations and anonymous readers to device traffic (`integrationMaySubscribe`).
 */
export function subscriptionAllowed(session: AclSubject | undefined, filter: string): boolean {
  if (!session || !isSafeMqttString(filter)) return false;
  switch (session.role) {
    case 'device':
      return filter === session.topics.errors;
    case 'worker':
      return filter === session.alarmsTopic;
    default:
      return integrationMaySubscribe(filter);
  }
}

/** Roles that are sent alarms as a person and may take them on their phone. */
const ALARM_RECEIVERS: ReadonlySet<string> = new Set(['worker', 'manager', 'department']);

/**
 * The session a user who logged in with a live API token gets, or why none: grid workers, duty staff with a
 * manager login and departments get the narrow alarm ACL (their own alarms topic, no publishing), integrations
 * read device traffic within their scope; no other role has MQTT access.
 */
export function userSession(
  user: User,
  token: { tokenId: string; expiresAt: number | null },
): WorkerSession | ReaderSession | 'disabled' | 'role' {
  if (!user.enabled) return 'disabled';
  if (ALARM_RECEIVERS.has(user.role) && user.personId && isTopicLevel(user.personId))
    return {
      role: 'worker',
      id: user.username,
      personId: user.personId,
      alarmsTopic: topics.workerAlarms(user.personId),
      tokenId: token.tokenId,
      expiresAt: token.expiresAt,
    };
  // scope roots as at login; a changed scope takes effect on the next connection
  if (user.role === 'integration')
    return {
      role: 'integration',
      id: user.username,
      canSee: scopeCheck(user.scope),
      tokenId: token.tokenId,
      expiresAt: token.expiresAt,
    };
  return 'role';
}
