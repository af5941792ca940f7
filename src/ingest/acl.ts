import type { User } from '../domain/records.ts';
import type { DeviceChannel } from '../domain/wire.ts';
import { topics } from '../domain/wire.ts';
import { scopeCheck } from './integration-feed.ts';
import type { ReaderSession, WorkerSession } from './session.ts';
import { integrationMaySubscribe, isSafeMqttString, isTopicLevel, ownTopic } from './topics.ts';

/**
 * The device contract's ACL, one decision for both brokers: the embedded aedes (pipeline.ts authorizePublish /
 * authorizeSubscribe) and an external broker asking through the HTTP hooks (broker-hooks.ts).
 */

/** What the ACL needs to know of a principal; every `Session` is one. */
export type AclSubject =
  | { role: 'device'; id: string }
  | { role: 'worker'; alarmsTopic: string }
  | { role: 'integration' | 'anonymous' };

/** The channel a device publishes on when `topic` is one of its own three, else undefined. */
export function publishChannel(deviceId: string, topic: string): DeviceChannel | undefined {
  const t = ownTopic(deviceId, topic);
  return t === 'errors' ? undefined : t;
}

/**
 * Whether `session` may subscribe to `filter`: a device to its own errors topic (its only downlink), a worker to
 * its own alarms topic, integrations and anonymous readers to device traffic (`integrationMaySubscribe`).
 */
export function subscriptionAllowed(session: AclSubject | undefined, filter: string): boolean {
  if (!session || !isSafeMqttString(filter)) return false;
  switch (session.role) {
    case 'device':
      return ownTopic(session.id, filter) === 'errors';
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
