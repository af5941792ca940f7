import { createRequire } from 'node:module';
import type WebPush from 'web-push';
import type { Clock } from '../clock/clock.ts';
import { isAlarm, isDigest } from '../domain/alarm.ts';
import type { Channel, DeliveryMeta } from './channel.ts';
import { DeliveryError } from './channel.ts';
import { post } from './http.ts';
import type { PushStore, VapidKeys } from './push-store.ts';
import { renderPush } from './templates/index.ts';

/** The Web Push library, loaded on first use (a subscription or a push), not at start-up. */
let webPushLib: typeof WebPush | undefined;
function webpush(): typeof WebPush {
  webPushLib ??= createRequire(import.meta.url)('web-push') as typeof WebPush;
  return webPushLib;
}

export type { PushStore, PushSubscriptionInput, StoredSubscription, VapidKeys } from './push-store.ts';

/** A fresh VAPID key pair (the push store makes one on its first open). */
export function newVapidKeys(): VapidKeys {
  const { publicKey, privateKey } = webpush().generateVAPIDKeys();
  return { publicKey, privateKey };
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
      return store.hasSubscription(personId) ? [personId] : [];
    },
    async deliver(target, payload, meta?: DeliveryMeta) {
      const subs = await store.list(target);
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
          await store.markOk(sub.endpoint, options.clock.now());
          receipts.push(`device ${sub.id}: HTTP ${answer.status}`);
        } catch (err) {
          const e = err instanceof DeliveryError ? err : new DeliveryError(String(err));
          if (e.status === 404 || e.status === 410) await store.remove(sub.endpoint);
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
