/**
 * One simulated device as a real MQTT client: its id and secret as credentials, `offline` as its will, `online`
 * on connect, its own errors topic subscribed, reconnects with exponential backoff and jitter.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { DeviceChannel, DeviceErrorMessage } from '../src/domain/wire.ts';
import { topics } from '../src/domain/wire.ts';

export interface DeviceClientOptions {
  url: string;
  id: string;
  secret: string;
  log: Logger;
  /** Called for each message on `gh/{id}/errors`. */
  onError?: (err: DeviceErrorMessage | { raw: string }) => void;
  keepaliveSeconds?: number;
  /** Backoff bounds for reconnects (real ms). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
}

export interface DeviceClient {
  readonly id: string;
  connected(): boolean;
  /** Resolves on the first CONNACK, rejects when refused (bad credentials) or after `timeoutMs`. */
  connect(timeoutMs?: number): Promise<void>;
  publish(channel: DeviceChannel, payload: string | object, qos?: 0 | 1): Promise<void>;
  /** Drop the socket without DISCONNECT (the broker publishes the will); no reconnect until `connect()`. */
  kill(): void;
  /** Send `offline`, DISCONNECT and stop. */
  end(): Promise<void>;
  readonly errorsReceived: number;
}

export function createDeviceClient(o: DeviceClientOptions): DeviceClient {
  const log = o.log.child({ deviceId: o.id });
  const minBackoff = o.minBackoffMs ?? 500;
  const maxBackoff = o.maxBackoffMs ?? 30_000;
  const random = o.random ?? Math.random;
  let client: MqttClient | undefined;
  let attempts = 0;
  let errorsReceived = 0;

  const build = () => {
    const c = mqtt.connect(o.url, {
      clientId: o.id,
      username: o.id,
      password: o.secret,
      protocolVersion: 4,
      clean: true,
      keepalive: o.keepaliveSeconds ?? 60,
      connectTimeout: 10_000,
      reconnectPeriod: minBackoff,
      will: { topic: topics.status(o.id), payload: Buffer.from('offline'), qos: 1, retain: false },
    });
    c.on('connect', () => {
      attempts = 0;
      c.options.reconnectPeriod = minBackoff;
      c.subscribe(topics.errors(o.id), { qos: 0 }, (err) => {
        if (err) log.warn({ err }, 'cannot subscribe to own errors topic');
      });
      c.publish(topics.status(o.id), 'online', { qos: 1 });
    });
    c.on('close', () => {
      // mqtt.js retries at a fixed period; widen it per attempt so a fleet does not hammer a recovering hub.
      attempts++;
      const exp = Math.min(maxBackoff, minBackoff * 2 ** Math.min(attempts, 16));
      c.options.reconnectPeriod = Math.round(exp / 2 + (random() * exp) / 2);
    });
    c.on('error', (err) => log.debug({ err: err.message }, 'mqtt error'));
    c.on('message', (topic, payload) => {
      if (topic !== topics.errors(o.id)) return;
      errorsReceived++;
      const text = payload.toString('utf8');
      let parsed: DeviceErrorMessage | { raw: string };
      try {
        parsed = JSON.parse(text) as DeviceErrorMessage;
      } catch {
        parsed = { raw: text };
      }
      log.info({ hubError: parsed }, 'hub rejected a payload');
      o.onError?.(parsed);
    });
    return c;
  };

  return {
    id: o.id,
    connected: () => client?.connected ?? false,
    get errorsReceived() {
      return errorsReceived;
    },
    connect(timeoutMs = 15_000) {
      if (client && !client.disconnected && !client.disconnecting) {
        if (client.connected) return Promise.resolve();
      }
      const c = build();
      client = c;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${o.id}: no CONNACK within ${timeoutMs} ms`));
        }, timeoutMs);
        const onConnect = () => {
          cleanup();
          resolve();
        };
        const onError = (err: Error & { code?: number }) => {
          // Refused credentials are final: retrying would only count failed logins against our address.
          if (err.code === 4 || err.code === 5 || /Not authorized|Bad username/i.test(err.message)) {
            cleanup();
            c.end(true);
            reject(new Error(`${o.id}: connection refused: ${err.message}`));
          }
        };
        const cleanup = () => {
          clearTimeout(timer);
          c.off('connect', onConnect);
          c.off('error', onError);
        };
        c.on('connect', onConnect);
        c.on('error', onError);
      });
    },
    publish(channel, payload, qos = 0) {
      const c = client;
      if (!c) return Promise.reject(new Error(`${o.id}: not connected`));
      const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
      return new Promise<void>((resolve, reject) => {
        c.publish(topics[channel](o.id), body, { qos }, (err) => (err ? reject(err) : resolve()));
      });
    },
    kill() {
      const c = client;
      client = undefined;
      // end(true) destroys the stream without a DISCONNECT packet: to the broker it is a lost connection.
      c?.end(true);
    },
    async end() {
      const c = client;
      client = undefined;
      if (!c) return;
      if (c.connected) {
        await new Promise<void>((resolve) =>
          c.publish(topics.status(o.id), 'offline', { qos: 1 }, () => resolve()),
        );
      }
      await c.endAsync();
    },
  };
}
