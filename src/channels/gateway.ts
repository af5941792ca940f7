import { type Channel, DeliveryError, type DeliveryMeta } from './channel.ts';
import { post } from './http.ts';
import { renderMessage } from './render.ts';
import { gridhubSign } from './webhook.ts';

export interface GatewayOptions {
  /** `sms` or `voice`: the same gateway, told which in the body. */
  name: 'sms' | 'voice';
  url: string;
  secret?: string | undefined;
  timeoutMs: number;
  now?: () => number;
}

/**
 * The SMS/voice gateway reached by webhook: one POST per message with the phone number, the text to send or
 * speak, the alert id and the idempotency key (body and `Idempotency-Key` header). Signed like the plain JSON
 * webhook when a secret is set.
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
      const msg = renderMessage(payload);
      const key = meta?.idempotencyKey ?? '';
      const body = JSON.stringify({
        channel: options.name,
        to: target,
        text: msg.text,
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
