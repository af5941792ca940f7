/**
 * A fleet of simulated devices: one MQTT connection each, driven by their behaviours on a shared clock, plus
 * listeners on the grid workers' alarm topics.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Clock } from '../src/clock/clock.ts';
import type { DeviceErrorMessage } from '../src/domain/wire.ts';
import { type Behaviour, type BehaviourOptions, createBehaviour } from './behaviours.ts';
import type { CredentialDevice, Credentials } from './credentials.ts';
import { createDeviceClient, type DeviceClient } from './device-client.ts';
import { deviceRng } from './rng.ts';

export interface FleetOptions {
  mqttUrl: string;
  devices: readonly CredentialDevice[];
  /** Devices whose background behaviour runs (the others only do what the scenario says). */
  background: ReadonlySet<string>;
  clock: Clock;
  seed: string | number;
  log: Logger;
  behaviour?: Partial<BehaviourOptions>;
  /** Each answer on a device's errors topic, as it arrives. */
  onDeviceError?: (deviceId: string, err: DeviceErrorMessage | { raw: string }) => void;
  /** Connections opened at once; more would only queue behind the hub's login throttling. */
  connectConcurrency?: number;
}

export interface Fleet {
  client(id: string): DeviceClient | undefined;
  errors: Map<string, (DeviceErrorMessage | { raw: string })[]>;
  stats: { published: number; dropped: number; failed: number };
  connectAll(): Promise<{ connected: number; failed: { id: string; reason: string }[] }>;
  startBehaviours(): void;
  stop(): Promise<void>;
}

export function createFleet(o: FleetOptions): Fleet {
  const log = o.log.child({ module: 'fleet' });
  const clients = new Map<string, DeviceClient>();
  const behaviours: Behaviour[] = [];
  const errors = new Map<string, (DeviceErrorMessage | { raw: string })[]>();
  const stats = { published: 0, dropped: 0, failed: 0 };

  for (const d of o.devices) {
    clients.set(
      d.id,
      createDeviceClient({
        url: o.mqttUrl,
        id: d.id,
        secret: d.secret,
        log: o.log,
        onError: (e) => {
          errors.set(d.id, [...(errors.get(d.id) ?? []), e]);
          o.onDeviceError?.(d.id, e);
        },
      }),
    );
  }

  const send = (c: DeviceClient, channel: 'telemetry' | 'event', payload: object, qos: 0 | 1) => {
    // A disconnected device loses what it meant to say, as real sensors without storage do.
    if (!c.connected()) {
      stats.dropped++;
      return;
    }
    stats.published++;
    c.publish(channel, payload, qos).catch((err: Error) => {
      stats.failed++;
      log.debug({ deviceId: c.id, err: err.message }, 'publish failed');
    });
  };

  return {
    client: (id) => clients.get(id),
    errors,
    stats,
    async connectAll() {
      const failed: { id: string; reason: string }[] = [];
      const queue = [...clients.values()];
      const workers = Array.from({ length: Math.min(queue.length, o.connectConcurrency ?? 50) }, async () => {
        for (let c = queue.shift(); c; c = queue.shift()) {
          try {
            await c.connect();
          } catch (err) {
            failed.push({ id: c.id, reason: (err as Error).message });
          }
        }
      });
      await Promise.all(workers);
      return { connected: clients.size - failed.length, failed };
    },
    startBehaviours() {
      for (const d of o.devices) {
        if (!o.background.has(d.id)) continue;
        const c = clients.get(d.id);
        if (!c) continue;
        const b = createBehaviour(d, {
          clock: o.clock,
          rng: deviceRng(o.seed, d.id),
          options: o.behaviour,
          out: {
            telemetry: (values) => send(c, 'telemetry', values, 0),
            // Events that raise alerts go at QoS 1 (design §3): the hub acknowledges them once recorded.
            event: (name, data) => send(c, 'event', data ? { event: name, data } : { event: name }, 1),
          },
        });
        b.start();
        behaviours.push(b);
      }
    },
    async stop() {
      for (const b of behaviours) b.stop();
      await Promise.all([...clients.values()].map((c) => c.end().catch(() => undefined)));
    },
  };
}

export interface AlarmListener {
  messages: { at: number; topic: string; text: string }[];
  connected: number;
  onMessage(fn: (topic: string, text: string, at: number) => void): void;
  stop(): Promise<void>;
}

/** Subscribe to every worker's alarm topic with the worker's own MQTT credentials (user name + API token). */
export async function listenToWorkerAlarms(
  mqttUrl: string,
  workers: Credentials['workers'],
  log: Logger,
): Promise<AlarmListener> {
  const messages: AlarmListener['messages'] = [];
  const listeners: ((topic: string, text: string, at: number) => void)[] = [];
  const clients: MqttClient[] = [];
  await Promise.all(
    workers.map(async (w) => {
      try {
        const c = await mqtt.connectAsync(mqttUrl, {
          clientId: `sim-${w.username}-${process.pid}`,
          username: w.username,
          password: w.token,
          protocolVersion: 4,
          clean: true,
          reconnectPeriod: 2_000,
          connectTimeout: 10_000,
        });
        c.on('message', (topic, payload) => {
          const at = performance.now();
          const text = payload.toString('utf8');
          messages.push({ at, topic, text });
          for (const l of listeners) l(topic, text, at);
        });
        const granted = await c.subscribeAsync(w.alarmsTopic, { qos: 1 });
        if (granted.some((g) => g.qos === 128))
          log.warn({ worker: w.username }, 'alarm topic subscription refused');
        clients.push(c);
      } catch (err) {
        log.warn({ worker: w.username, err: (err as Error).message }, 'worker cannot connect to MQTT');
      }
    }),
  );
  return {
    messages,
    connected: clients.length,
    onMessage: (fn) => listeners.push(fn),
    async stop() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    },
  };
}
