import type { WorkerPublisher } from '../domain/ports.ts';

/** What the outbox knows about one delivery besides its target and payload. */
export interface DeliveryMeta {
  /** Stable across retries of the same message: receivers de-duplicate on it. */
  idempotencyKey: string;
  alertId: string;
  attempt: number;
}

/** What a channel reports back: a receipt for the timeline and, for HTTP channels, the response code. */
export interface DeliveryReceipt {
  receipt?: string;
  status?: number;
}

/**
 * A failed delivery. `retryable: false` (a 4xx other than 408/429, a missing subscription) sends the row to the
 * dead state at once instead of burning its retries.
 */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
  readonly status: number | undefined;
  readonly retryable: boolean;
  constructor(message: string, options: { status?: number; retryable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.status = options.status;
    this.retryable = options.retryable ?? true;
  }
}

/**
 * A delivery path of the outbox, keyed by name (`mqtt`, `stream`, `webhook`, `wecom`, `dingtalk`, `feishu`,
 * `webpush`, `sms`, `voice`). `deliver` resolves when the channel has taken the message (the receipt) and rejects
 * to have it retried with back-off.
 */
export interface Channel {
  readonly name: string;
  /** Whether attempts and receipts go into the alert's timeline (not for the broadcast dashboard stream). */
  readonly recordInTimeline: boolean;
  deliver(
    target: string,
    payload: Record<string, unknown>,
    meta?: DeliveryMeta,
  ): Promise<DeliveryReceipt | undefined>;
  /** Targets this channel has for a person without a contact entry (Web Push: their subscribed devices). */
  targetsFor?(personId: string): string[];
}

/** MQTT to `gh/workers/{personId}/alarms` at QoS 1: resolved on the broker's acceptance. */
export function mqttChannel(publisher: WorkerPublisher): Channel {
  return {
    name: 'mqtt',
    recordInTimeline: true,
    async deliver(target, payload, meta) {
      // the outbox row's key names the message: a re-send of it carries the same, and the phone drops it
      await publisher.publishToWorker(
        target,
        meta ? { ...payload, messageId: meta.idempotencyKey } : payload,
      );
      return { receipt: 'broker accepted (QoS 1)' };
    },
  };
}

// The dashboards' live stream is no outbox channel: it is fed from the event bus (stream.ts).
export type { AlertStream, StreamListener, StreamMessage } from './stream.ts';
