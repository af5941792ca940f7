import { createRequire } from 'node:module';
import type WebPush from 'web-push';
import type { Clock } from '../clock/clock.ts';
import { isAlarm, isDigest } from '../domain/alarm.ts';
import { migrateModuleSync } from '../storage/migrations.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import type { Channel, DeliveryMeta } from './channel.ts';
import { DeliveryError } from './channel.ts';
import { post } from './http.ts';
import { CHANNELS_MIGRATIONS } from './schema.ts';
import { renderPush } from './templates/index.ts';

/** The Web Push library, loaded on first use (a subscription or a push), not at start-up. */
let webPushLib: typeof WebPush | undefined;
function webpush(): typeof WebPush {
  webPushLib ??= createRequire(import.meta.url)('web-push') as typeof WebPush;
  return webPushLib;
}

/** A browser's PushSubscription as the worker view posts it (`subscription.toJSON()`). */
export interface PushSubscriptionInput {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface StoredSubscription extends PushSubscriptionInput {
  id: number;
  personId: string;
  username: string;
  userAgent: string | null;
  createdAt: number;
  lastOkAt: number | null;
}

export interface PushStore {
  /** The VAPID key pair: made on first use and kept in SQLite, so browsers' subscriptions survive restarts. */
  vapidKeys(): { publicKey: string; privateKey: string };
  subscribe(
    input: PushSubscriptionInput & { personId: string; username: string; userAgent?: string | null },
  ): StoredSubscription;
  unsubscribe(endpoint: string, personId: string): boolean;
  list(personId: string): StoredSubscription[];
  remove(endpoint: string): void;
  markOk(endpoint: string, at: number): void;
}

interface SubRow {
  id: number;
  person_id: string;
  username: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  user_agent: string | null;
  created_at: number;
  last_ok_at: number | null;
}

const toSub = (r: SubRow): StoredSubscription => ({
  id: r.id,
  personId: r.person_id,
  username: r.username,
  endpoint: r.endpoint,
  keys: { p256dh: r.p256dh, auth: r.auth },
  userAgent: r.user_agent,
  createdAt: r.created_at,
  lastOkAt: r.last_ok_at,
});

/** Subscriptions per user device and the VAPID keys, in the channels module's tables. */
export function createPushStore(db: Db, clock: Clock): PushStore {
  migrateModuleSync(sqliteStore(db), 'channels', CHANNELS_MIGRATIONS);
  let keys: { publicKey: string; privateKey: string } | null = null;
  // Asked for every person an alarm goes to (targetsFor): prepared once.
  const listStmt = db.prepare<[string], SubRow>(
    'SELECT * FROM push_subscriptions WHERE person_id = ? ORDER BY id',
  );
  return {
    vapidKeys() {
      if (keys) return keys;
      const get = db.prepare<[string], { value: string }>('SELECT value FROM alert_keys WHERE name = ?');
      const stored = get.get('vapid');
      if (stored) keys = JSON.parse(stored.value) as { publicKey: string; privateKey: string };
      else {
        const fresh = webpush().generateVAPIDKeys();
        // INSERT OR IGNORE + re-read: two hubs on one file agree on whichever pair was written first.
        db.prepare('INSERT OR IGNORE INTO alert_keys (name, value, created_at) VALUES (?, ?, ?)').run(
          'vapid',
          JSON.stringify({ publicKey: fresh.publicKey, privateKey: fresh.privateKey }),
          clock.now(),
        );
        keys = JSON.parse((get.get('vapid') as { value: string }).value) as {
          publicKey: string;
          privateKey: string;
        };
      }
      return keys;
    },
    subscribe(input) {
      db.prepare(
        `INSERT INTO push_subscriptions (person_id, username, endpoint, p256dh, auth, user_agent, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (endpoint) DO UPDATE SET person_id = excluded.person_id, username = excluded.username,
           p256dh = excluded.p256dh, auth = excluded.auth, user_agent = excluded.user_agent`,
      ).run(
        input.personId,
        input.username,
        input.endpoint,
        input.keys.p256dh,
        input.keys.auth,
        input.userAgent ?? null,
        clock.now(),
      );
      return toSub(
        db
          .prepare<[string], SubRow>('SELECT * FROM push_subscriptions WHERE endpoint = ?')
          .get(input.endpoint) as SubRow,
      );
    },
    unsubscribe(endpoint, personId) {
      return (
        db
          .prepare('DELETE FROM push_subscriptions WHERE endpoint = ? AND person_id = ?')
          .run(endpoint, personId).changes > 0
      );
    },
    list(personId) {
      return listStmt.all(personId).map(toSub);
    },
    remove(endpoint) {
      db.prepare('DELETE FROM push_subscriptions WHERE endpoint = ?').run(endpoint);
    },
    markOk(endpoint, at) {
      db.prepare('UPDATE push_subscriptions SET last_ok_at = ? WHERE endpoint = ?').run(at, endpoint);
    },
  };
}

export interface WebPushOptions {
  store: PushStore;
  clock: Clock;
  /** VAPID `sub` claim: a mailto: or https: contact of the operator. */
  subject: string;
  ttlSeconds: number;
  timeoutMs: number;
}

/**
 * Web Push to every subscribed device of a person (target = person id). The payload is encrypted (aes128gcm,
 * RFC 8291) and signed (VAPID, RFC 8292) by `web-push`; the request goes out through our own HTTP client so the
 * answer is classified like every other channel. A 404/410 drops the expired subscription.
 */
export function webPushChannel(options: WebPushOptions): Channel {
  const { store } = options;
  return {
    name: 'webpush',
    recordInTimeline: true,
    targetsFor(personId) {
      return store.list(personId).length ? [personId] : [];
    },
    async deliver(target, payload, meta?: DeliveryMeta) {
      const subs = store.list(target);
      if (!subs.length) throw new DeliveryError(`${target} has no push subscription`, { retryable: false });
      if (!isAlarm(payload) && !isDigest(payload)) {
        throw new DeliveryError(`a ${String(payload.kind)} message is not pushed`, { retryable: false });
      }
      const msg = renderPush(payload);
      // Small enough for the 4 KB limit of push services: the worker view fetches the rest by alert id.
      const body = JSON.stringify({
        kind: payload.kind,
        alertId: payload.kind === 'alarm' ? payload.alertId : null,
        alertIds: payload.kind === 'digest' ? payload.alertIds.slice(0, 20) : undefined,
        severity: payload.severity ?? null,
        status: payload.kind === 'alarm' ? payload.status : undefined,
        title: msg.title,
        body: msg.body,
        // Same origin as the service worker: it opens the worker view there.
        url: new URL(msg.url).pathname + new URL(msg.url).hash,
        idempotencyKey: meta?.idempotencyKey ?? null,
      });
      const vapid = store.vapidKeys();
      const receipts: string[] = [];
      const errors: DeliveryError[] = [];
      for (const sub of subs) {
        const details = webpush().generateRequestDetails({ endpoint: sub.endpoint, keys: sub.keys }, body, {
          vapidDetails: {
            subject: options.subject,
            publicKey: vapid.publicKey,
            privateKey: vapid.privateKey,
          },
          TTL: options.ttlSeconds,
          contentEncoding: 'aes128gcm',
          urgency: payload.severity === 'critical' ? 'high' : 'normal',
        });
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(details.headers)) headers[k] = String(v);
        try {
          const answer = await post(details.endpoint, details.body, {
            headers,
            timeoutMs: options.timeoutMs,
          });
          store.markOk(sub.endpoint, options.clock.now());
          receipts.push(`device ${sub.id}: HTTP ${answer.status}`);
        } catch (err) {
          const e = err instanceof DeliveryError ? err : new DeliveryError(String(err));
          if (e.status === 404 || e.status === 410) store.remove(sub.endpoint);
          errors.push(e);
          receipts.push(`device ${sub.id}: ${e.message}`);
        }
      }
      if (errors.length === subs.length) {
        throw new DeliveryError(`no device took the push (${receipts.join('; ')})`, {
          status: errors[0]?.status,
          retryable: errors.some((e) => e.retryable),
        });
      }
      return { status: 201, receipt: receipts.join('; ') };
    },
  };
}
