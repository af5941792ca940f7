import type { PlacePath } from '../domain/places.ts';
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
    async deliver(target, payload) {
      await publisher.publishToWorker(target, payload);
      return { receipt: 'broker accepted (QoS 1)' };
    },
  };
}

/** One message on the dashboard stream: the change and the alert as it was then. */
export interface StreamMessage {
  type: string;
  alertId: string;
  at: number;
  place: PlacePath;
  /** Departments whistled into the alert (a department user sees only those). */
  departments: string[];
  alert: Record<string, unknown>;
}

export type StreamListener = (msg: StreamMessage) => void;

/** The dashboard stream's fan-out: SSE connections subscribe and filter by their user's scope. */
export interface AlertStream {
  subscribe(listener: StreamListener): () => void;
  readonly subscribers: number;
}

export function streamChannel(): Channel & AlertStream {
  const listeners = new Set<StreamListener>();
  return {
    name: 'stream',
    recordInTimeline: false,
    async deliver(_target, payload) {
      for (const l of listeners) {
        try {
          l(payload as unknown as StreamMessage);
        } catch {
          // A broken connection must not stop the others; its own close handler unsubscribes it.
        }
      }
      return undefined;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get subscribers() {
      return listeners.size;
    },
  };
}
