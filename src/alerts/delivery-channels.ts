/**
 * The outbox channels a hub's configuration asks for, and which targets it may send to. Built by the composition
 * root (src/hub.ts) and handed to the dispatcher, which only delivers through them.
 */
import { type Channel, mqttChannel } from '../channels/channel.ts';
import { createOutboundPolicy, type OutboundPolicy } from '../channels/endpoints.ts';
import { gatewayChannel } from '../channels/gateway.ts';
import { smsSettings } from '../channels/templates/index.ts';
import { WEBHOOK_FORMATS, webhookChannel } from '../channels/webhook.ts';
import { type PushStore, webPushChannel } from '../channels/webpush.ts';
import type { Clock } from '../clock/clock.ts';
import type { WorkerPublisher } from '../domain/ports.ts';
import type { AlertsConfig } from './config.ts';
import { laneTimeoutOf } from './lanes.ts';
import { PHONE_CHANNELS } from './must-reach.ts';

/**
 * MQTT to the workers' phones (through the hub's broker), the webhook formats (plain, WeCom, DingTalk, Feishu)
 * over `alerts.webhooks`, Web Push, and SMS and voice when a gateway is configured; in that order.
 */
export function deliveryChannels(
  cfg: AlertsConfig,
  deps: { publisher: WorkerPublisher; pushStore: PushStore; clock: Clock },
): Channel[] {
  const channels: Channel[] = [mqttChannel(deps.publisher)];
  for (const format of WEBHOOK_FORMATS) {
    channels.push(webhookChannel({ format, endpoints: cfg.webhooks, timeoutMs: laneTimeoutOf(cfg, format) }));
  }
  channels.push(
    webPushChannel({
      store: deps.pushStore,
      clock: deps.clock,
      subject: cfg.webPushSubject,
      ttlSeconds: cfg.webPushTtlSeconds,
      timeoutMs: laneTimeoutOf(cfg, 'webpush'),
    }),
  );
  if (cfg.smsGatewayUrl) {
    for (const name of PHONE_CHANNELS) {
      channels.push(
        gatewayChannel({
          name,
          url: cfg.smsGatewayUrl,
          secret: cfg.smsGatewaySecret,
          timeoutMs: laneTimeoutOf(cfg, name),
          sms: smsSettings({
            signName: cfg.messages.smsSignName,
            maxSegments: cfg.messages.smsMaxSegments,
            codes: cfg.messages.smsTemplateCodes,
          }),
        }),
      );
    }
  }
  return channels;
}

/** Which targets and push endpoints the hub may send to: the admin-configured endpoints only. */
export function outboundPolicy(cfg: AlertsConfig): OutboundPolicy {
  return createOutboundPolicy({ webhookNames: Object.keys(cfg.webhooks), pushServices: cfg.webPushServices });
}
