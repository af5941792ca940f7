import { createHmac } from 'node:crypto';
import { isAlarm, isDigest, type OutboxMessage } from '../domain/alarm.ts';
import { type Channel, DeliveryError, type DeliveryMeta } from './channel.ts';
import { parseJson, post } from './http.ts';
import {
  alarmPlainText,
  digestMarkdown,
  LIMITS,
  renderDingTalk,
  renderFeishu,
  renderPush,
  renderWeCom,
} from './templates/index.ts';

export const WEBHOOK_FORMATS = ['webhook', 'wecom', 'dingtalk', 'feishu'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** A named endpoint from config (`alerts.webhooks`): people and targets name it, so secrets stay in config. */
export interface WebhookEndpoint {
  url: string;
  secret?: string | undefined;
}

export interface WebhookChannelOptions {
  format: WebhookFormat;
  endpoints: Readonly<Record<string, WebhookEndpoint>>;
  timeoutMs: number;
  /** Wall-clock milliseconds for signatures: the platforms check them against their own clocks. */
  now?: () => number;
}

/** DingTalk: base64(HMAC-SHA256(key = secret, message = `${timestamp}\n${secret}`)), timestamp in ms. */
export function dingtalkSign(timestampMs: number, secret: string): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
}

/** Feishu: base64(HMAC-SHA256(key = `${timestamp}\n${secret}`, message = empty)), timestamp in seconds. */
export function feishuSign(timestampSec: number, secret: string): string {
  return createHmac('sha256', `${timestampSec}\n${secret}`).update('').digest('base64');
}

/** Plain JSON webhooks: hex HMAC-SHA256 over `${timestamp}.${body}` (the receiver checks both). */
export function gridhubSign(timestampMs: number, body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampMs}.${body}`).digest('hex')}`;
}

function resolveEndpoint(
  endpoints: Readonly<Record<string, WebhookEndpoint>>,
  target: string,
): WebhookEndpoint {
  // only endpoints an admin configured by name: a URL in a target is refused (src/channels/endpoints.ts)
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
    throw new DeliveryError('a target names an endpoint of alerts.webhooks; URLs are not accepted', {
      retryable: false,
    });
  }
  const e = endpoints[target];
  if (!e || !Object.hasOwn(endpoints, target)) {
    throw new DeliveryError(`no webhook endpoint named ${target} in alerts.webhooks`, { retryable: false });
  }
  return e;
}

/**
 * One channel per format: `webhook` posts the message itself as JSON; `wecom`, `dingtalk` and `feishu` post the
 * group-robot message of that platform, signed where the platform signs. Every request carries the outbox's
 * idempotency key in the `Idempotency-Key` header (and, for plain JSON, in the body).
 */
export function webhookChannel(options: WebhookChannelOptions): Channel {
  const now = options.now ?? Date.now;
  const { format } = options;
  return {
    name: format,
    recordInTimeline: true,
    async deliver(target, payload, meta?: DeliveryMeta) {
      const endpoint = resolveEndpoint(options.endpoints, target);
      const key = meta?.idempotencyKey ?? '';
      const headers: Record<string, string> = {
        'content-type': 'application/json; charset=utf-8',
        'idempotency-key': key,
        'user-agent': 'GridHub',
      };
      let url = endpoint.url;
      let body: string;
      if (!isAlarm(payload) && !isDigest(payload)) {
        throw new DeliveryError(`a ${String(payload.kind)} message has no ${format} form`, {
          retryable: false,
        });
      }
      const msg: OutboxMessage = payload;
      switch (format) {
        case 'webhook': {
          // The model as it is, plus the words a person would read, for integrations that forward them.
          const push = renderPush(msg);
          const text =
            msg.kind === 'alarm'
              ? alarmPlainText(msg, msg.lang)
              : digestMarkdown(msg, msg.lang, LIMITS.robotSummaryBytes);
          body = JSON.stringify({
            ...payload,
            message: { title: push.title, text },
            idempotencyKey: key,
            attempt: meta?.attempt ?? 1,
          });
          if (endpoint.secret) {
            const ts = now();
            headers['x-gridhub-timestamp'] = String(ts);
            headers['x-gridhub-signature'] = gridhubSign(ts, body, endpoint.secret);
          }
          break;
        }
        case 'wecom':
          // The WeCom group robot has no signing: the key in its URL is the credential.
          body = JSON.stringify(renderWeCom(msg));
          break;
        case 'dingtalk': {
          if (endpoint.secret) {
            const ts = now();
            const u = new URL(url);
            u.searchParams.set('timestamp', String(ts));
            u.searchParams.set('sign', dingtalkSign(ts, endpoint.secret));
            url = u.toString();
          }
          body = JSON.stringify(renderDingTalk(msg));
          break;
        }
        case 'feishu': {
          const signed: Record<string, string> = {};
          if (endpoint.secret) {
            const ts = Math.floor(now() / 1000);
            signed.timestamp = String(ts);
            signed.sign = feishuSign(ts, endpoint.secret);
          }
          body = JSON.stringify({ ...signed, ...renderFeishu(msg) });
          break;
        }
      }
      const answer = await post(url, body, { headers, timeoutMs: options.timeoutMs });
      if (format !== 'webhook') {
        // The robots answer 200 with their own error code: WeCom/DingTalk `errcode`, Feishu `code`/`StatusCode`.
        const j = parseJson(answer.body);
        const code = j ? (j.errcode ?? j.code ?? j.StatusCode ?? 0) : 0;
        if (code !== 0) {
          throw new DeliveryError(
            `${format} refused: ${String(code)} ${String(j?.errmsg ?? j?.msg ?? '')}`.trim(),
            {
              status: answer.status,
            },
          );
        }
      }
      return { status: answer.status, receipt: `HTTP ${answer.status}` };
    },
  };
}
