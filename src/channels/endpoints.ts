/**
 * Where the hub may send: only to endpoints an admin configured by name (`alerts.webhooks`, the SMS gateway) and
 * to the public Web Push services. People's contacts and channel targets name an endpoint or give a phone
 * number; a URL typed into a contact would let anyone who may edit a person make the hub POST alert data (and
 * read the answer back) anywhere, the hub's own loopback and LAN included.
 */

export const WEBHOOK_CHANNELS: ReadonlySet<string> = new Set(['webhook', 'wecom', 'dingtalk', 'feishu']);
const PHONE_CHANNELS: ReadonlySet<string> = new Set(['sms', 'voice']);
export const PHONE_NUMBER = /^\+?[0-9][0-9 -]{4,30}$/;
const TOPIC_LEVEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The push services of the browsers people use (FCM: Chrome, Edge on Android; Mozilla; Apple; Windows). */
export const DEFAULT_PUSH_SERVICES: readonly string[] = [
  'fcm.googleapis.com',
  'updates.push.services.mozilla.com',
  'web.push.apple.com',
  '*.push.apple.com',
  '*.notify.windows.com',
];

export interface OutboundPolicy {
  /** Why `target` is not acceptable for `channel`, or undefined when it is. */
  targetProblem(channel: string, target: string): string | undefined;
  /** Why a Web Push endpoint is not acceptable, or undefined. */
  pushEndpointProblem(endpoint: string): string | undefined;
}

function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const h = host.toLowerCase();
  return patterns.some((p) => {
    const q = p.toLowerCase();
    return q.startsWith('*.') ? h.endsWith(q.slice(1)) && h.length > q.length - 1 : h === q;
  });
}

export function createOutboundPolicy(options: {
  webhookNames: readonly string[];
  pushServices: readonly string[];
}): OutboundPolicy {
  const names = new Set(options.webhookNames);
  return {
    targetProblem(channel, target) {
      if (WEBHOOK_CHANNELS.has(channel)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
          return 'name an endpoint of alerts.webhooks (configured by an admin), not a URL';
        }
        if (!names.has(target)) {
          const known = [...names];
          return `no webhook endpoint named ${target} in alerts.webhooks; configured: ${known.length ? known.join(', ') : '(none)'}`;
        }
        return undefined;
      }
      if (PHONE_CHANNELS.has(channel))
        return PHONE_NUMBER.test(target) ? undefined : 'expected a phone number';
      if (channel === 'mqtt') return TOPIC_LEVEL.test(target) ? undefined : 'expected a person id';
      if (channel === 'webpush')
        return 'Web Push reaches the devices a person subscribed; it takes no target';
      return `unknown channel ${channel}`;
    },
    pushEndpointProblem(endpoint) {
      let url: URL;
      try {
        url = new URL(endpoint);
      } catch {
        return 'not a URL';
      }
      if (url.protocol !== 'https:') return 'a push endpoint must be https';
      if (url.port !== '' && url.port !== '443') return 'a push endpoint uses the https port';
      if (!hostAllowed(url.hostname, options.pushServices)) {
        return `${url.hostname} is not a push service of alerts.webPushServices`;
      }
      return undefined;
    },
  };
}

/**
 * What non-admins see of a failed delivery: the kind of failure, never the receiver's answer text (which a
 * hostile or internal endpoint could use to read data back through the alert's timeline).
 */
export function publicDeliveryError(message: string | null | undefined): string | null {
  if (message === null || message === undefined) return null;
  const http = /^HTTP (\d{3})/.exec(message);
  if (http) return `HTTP ${http[1]}`;
  if (message.startsWith('no answer within')) return message.replace(/^(no answer within \d+ ms).*$/, '$1');
  if (message.startsWith('request failed')) return 'request failed';
  return 'delivery failed';
}
