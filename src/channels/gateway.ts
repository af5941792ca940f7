import { isAlarm, isDigest, isRatingLink } from '../domain/alarm.ts';
import { type Channel, DeliveryError, type DeliveryMeta } from './channel.ts';
import { post } from './http.ts';
import {
  alarmTitle,
  placePhrase,
  renderRatingSms,
  renderSms,
  renderVoice,
  type SmsSettings,
} from './templates/index.ts';
import { gridhubSign } from './webhook.ts';

export interface GatewayOptions {
  /** `sms` or `voice`: the same gateway, told which in the body. */
  name: 'sms' | 'voice';
  url: string;
  secret?: string | undefined;
  timeoutMs: number;
  sms: SmsSettings;
  now?: () => number;
}

/** What the gateway is asked to send: an SMS by provider template, or a text to speak. */
function gatewayMessage(
  name: 'sms' | 'voice',
  payload: Record<string, unknown>,
  sms: SmsSettings,
): Record<string, unknown> {
  if (isRatingLink(payload)) {
    if (name === 'voice') throw new DeliveryError('a rating link is sent by SMS only', { retryable: false });
    const m = renderRatingSms(sms, {
      lang: payload.lang,
      place: placePhrase(payload, payload.lang, true),
      event: alarmTitle(payload, payload.lang),
      token: payload.token,
      base: payload.base,
    });
    return { ...m, templateParam: m.params };
  }
  if (!isAlarm(payload) && !isDigest(payload)) {
    throw new DeliveryError(`nothing to say for a ${String(payload.kind)} message`, { retryable: false });
  }
  if (name === 'voice') return { ...renderVoice(payload) };
  const m = renderSms(payload, sms);
  return { ...m, templateParam: m.params };
}

/**
 * The SMS/voice gateway reached by webhook: one POST per message. SMS carry the provider template (signature,
 * template code and parameters, as Aliyun and Tencent Cloud take them) and the text it makes; voice calls carry
 * the text to speak. The alert id and idempotency key go along (body and `Idempotency-Key` header). Signed like
 * the plain JSON webhook when a secret is set.
 */
export function gatewayChannel(options: GatewayOptions): Channel {
  const now = options.now ?? Date.now;
  return {
    name: options.name,
    recordInTimeline: true,
    async deliver(target, payload, meta?: DeliveryMeta) {
      if (!/^\+?[0-9][0-9 -]{4,30}$/.test(target)) {
        throw new DeliveryError(`not a phone number: ${target.slice(0, 4)}…`, { retryable: false });
      }
      const msg = gatewayMessage(options.name, payload, options.sms);
      const key = meta?.idempotencyKey ?? '';
      const body = JSON.stringify({
        channel: options.name,
        to: target,
        ...msg,
        alertId: meta?.alertId ?? payload.alertId ?? null,
        severity: payload.severity ?? null,
        idempotencyKey: key,
      });
      const headers: Record<string, string> = {
        'content-type': 'application/json; charset=utf-8',
        'idempotency-key': key,
      };
      if (options.secret) {
        const ts = now();
        headers['x-gridhub-timestamp'] = String(ts);
        headers['x-gridhub-signature'] = gridhubSign(ts, body, options.secret);
      }
      const answer = await post(options.url, body, { headers, timeoutMs: options.timeoutMs });
      // A gateway may hand back its own message id: that is the receipt worth keeping.
      let receipt = `HTTP ${answer.status}`;
      try {
        const j = JSON.parse(answer.body) as { id?: unknown; messageId?: unknown };
        const id = j.messageId ?? j.id;
        if (typeof id === 'string' || typeof id === 'number') receipt += ` id ${id}`;
      } catch {
        // Not JSON: the status is the receipt.
      }
      return { status: answer.status, receipt };
    },
  };
}
