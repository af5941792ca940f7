/**
 * A light life for the demo community on `npm start` (GRIDHUB_DEMO_ACTIVITY, on by default): a few cameras,
 * e-bike detectors and bins of two estates connect as real MQTT clients with their demo credentials, send their
 * heartbeats, and now and then an e-bike rides into a lift and out again, a bin fills and is emptied, or an
 * object is thrown from height — so the board and the map show a living estate without the simulator.
 * Timed by the hub's clock, so it runs accelerated with GRIDHUB_CLOCK_SPEED.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock/clock.ts';
import { type DemoCredentials, topics } from '../domain/wire.ts';

const S = 1000;
const MIN = 60 * S;

export interface DemoActivity {
  /** Resolves once every publish started so far has been acknowledged by the broker. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export interface DemoActivityOptions {
  credentials: DemoCredentials;
  mqttUrl: string;
  clock: Clock;
  log: Logger;
  /** Estates whose devices take part (default: the first estate of each grid of the first community). */
  estates?: readonly string[];
  random?: () => number;
}

type Device = DemoCredentials['devices'][number];

export async function startDemoActivity(o: DemoActivityOptions): Promise<DemoActivity> {
  const random = o.random ?? Math.random;
  const estates = new Set(o.estates ?? ['E1', 'E3']);
  const inEstate = (d: Device) => estates.has(d.placeId.split('-')[0] ?? '');
  const devices = o.credentials.devices.filter(
    (d) => inEstate(d) && ['throw_camera', 'ebike_elevator', 'bin'].includes(d.type),
  );
  const clients = new Map<string, MqttClient>();
  await Promise.all(
    devices.map(async (d) => {
      const c = await connectAsync(o.mqttUrl, {
        username: d.id,
        password: d.secret,
        clientId: `${d.id}-demo`,
        reconnectPeriod: 5000,
        will: { topic: topics.status(d.id), payload: Buffer.from('offline'), qos: 1, retain: false },
      });
      clients.set(d.id, c);
    }),
  );
  const timers = new Set<TimerHandle>();
  const inflight = new Set<Promise<unknown>>();
  let stopped = false;
  const fill = new Map<string, number>(devices.filter((d) => d.type === 'bin').map((d) => [d.id, 20]));

  const send = (d: Device, topic: string, payload: unknown) => {
    const c = clients.get(d.id);
    if (!c || stopped) return;
    const p = c.publishAsync(topic, JSON.stringify(payload), { qos: 1 }).catch((err: unknown) => {
      o.log.warn({ deviceId: d.id, err }, 'demo activity publish failed');
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const after = (ms: number, fn: () => void) => {
    const h = o.clock.setTimeout(() => {
      timers.delete(h);
      if (!stopped) fn();
    }, ms);
    timers.add(h);
  };
  const every = (ms: number, fn: () => void) => {
    const tick = () => {
      fn();
      after(ms, tick);
    };
    tick();
  };
  const pick = (type: string) => {
    const list = devices.filter((d) => d.type === type);
    return list[Math.floor(random() * list.length)];
  };

  // Heartbeats inside each type's interval (cameras and detectors 1 min, bins 15 min).
  every(50 * S, () => {
    for (const d of devices) if (d.type !== 'bin') send(d, topics.telemetry(d.id), { online: true });
  });
  every(12 * MIN, () => {
    for (const d of devices.filter((x) => x.type === 'bin')) {
      send(d, topics.telemetry(d.id), { fill: fill.get(d.id) ?? 20, battery: 86 });
    }
  });

  // The odd happening, every 4 to 8 minutes.
  const happen = () => {
    const r = random();
    if (r < 0.5) {
      const d = pick('ebike_elevator');
      if (d) {
        send(d, topics.event(d.id), {
          event: 'ebike_detected',
          data: { confidence: 0.93, elevatorId: `${d.placeId}-L1` },
        });
        // Most riders turn back when the lift talks to them; the rule counts that as prevented.
        after((r < 0.4 ? 40 : 150) * S, () => send(d, topics.event(d.id), { event: 'ebike_cleared' }));
      }
    } else if (r < 0.85) {
      const d = pick('bin');
      if (d) {
        fill.set(d.id, 95);
        send(d, topics.telemetry(d.id), { fill: 95 });
        after(11 * MIN, () => send(d, topics.telemetry(d.id), { fill: 96 }));
        after(25 * MIN, () => {
          fill.set(d.id, 10);
          send(d, topics.telemetry(d.id), { fill: 10 });
        });
      }
    } else {
      const d = pick('throw_camera');
      if (d) {
        const floor = 3 + Math.floor(random() * 12);
        send(d, topics.event(d.id), {
          event: 'throw_detected',
          data: { confidence: 0.86, floor, facade: 'south', clipId: `demo-${o.clock.now()}` },
        });
      }
    }
    after((4 + random() * 4) * MIN, happen);
  };
  after(2 * MIN, happen);
  o.log.info({ devices: devices.length, estates: [...estates] }, 'demo activity started');

  return {
    async idle() {
      while (inflight.size) await Promise.all([...inflight]);
    },
    async stop() {
      stopped = true;
      for (const h of timers) o.clock.clearTimeout(h);
      timers.clear();
      await Promise.all([...clients.values()].map((c) => c.endAsync().catch(() => undefined)));
    },
  };
}
