/**
 * Load mode: N device connections (or G "gateway" connections) publishing valid telemetry at R msg/s, with
 * optional publish-to-alarm latency probes. Bounded in count and time; every connection keeps a bounded
 * window of unfinished publishes so the generator itself never queues without limit.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../src/domain/wire.ts';
import { sampleTelemetry } from './behaviours.ts';
import type { CredentialDevice, Credentials } from './credentials.ts';
import { createRng } from './rng.ts';

export interface LoadOptions {
  mqttUrl: string;
  /** Devices publishing telemetry; with `gateways`, only the first G connect and share the rate. */
  devices: readonly CredentialDevice[];
  gateways?: number;
  /** Total offered msg/s; 0 = as fast as the windows allow. */
  rate: number;
  qos: 0 | 1;
  durationS: number;
  /** Unfinished publishes allowed per connection (QoS 1: unacknowledged; QoS 0: unwritten). */
  window?: number;
  /** Count what a subscriber on `gh/+/telemetry` receives (the bare-broker baseline's forwarding). */
  subscribeAll?: boolean;
  probe?: { devices: readonly CredentialDevice[]; workers: Credentials['workers']; perSecond: number };
  connectConcurrency?: number;
  /** Connect, report, and stay idle for `durationS` (memory per idle connection). */
  idle?: boolean;
  progress?: (line: string) => void;
  /** Called once every connection is up (idle mode uses it to tell the bench to measure). */
  onConnected?: (n: number) => void;
}

export interface LatencyStats {
  count: number;
  lost: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export interface LoadResult {
  connections: number;
  connectFailures: number;
  connectSeconds: number;
  seconds: number;
  sent: number;
  completed: number;
  rejected: number;
  received: number;
  sentPerSec: number;
  completedPerSec: number;
  receivedPerSec: number;
  latencyMs: LatencyStats;
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function latencyStats(samples: readonly number[], lost: number): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  const r = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);
  return {
    count: s.length,
    lost,
    p50: r(percentile(s, 50)),
    p90: r(percentile(s, 90)),
    p99: r(percentile(s, 99)),
    max: r(s.length ? (s[s.length - 1] as number) : null),
  };
}

interface Conn {
  id: string;
  client: MqttClient;
  topic: string;
  payloads: Buffer[];
  outstanding: number;
}

async function connectMany<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<number> {
  let failures = 0;
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let it = queue.shift(); it !== undefined; it = queue.shift()) {
        try {
          await fn(it);
        } catch {
          failures++;
        }
      }
    }),
  );
  return failures;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const progress = o.progress ?? (() => undefined);
  const rng = createRng('load');
  const publishers = o.gateways ? o.devices.slice(0, o.gateways) : o.devices;
  const window = o.window ?? (o.qos === 1 ? 200 : 1000);
  const conns: Conn[] = [];
  const extra: MqttClient[] = [];
  let rejected = 0;
  let received = 0;

  const tConnect = performance.now();
  const connectFailures = await connectMany(publishers, o.connectConcurrency ?? 100, async (d) => {
    const client = await mqtt.connectAsync(o.mqttUrl, {
      clientId: d.id,
      username: d.id,
      password: d.secret,
      protocolVersion: 4,
      clean: true,
      keepalive: 120,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
    });
    client.on('error', () => undefined);
    if (!o.idle) {
      client.on('message', () => {
        rejected++;
      });
      await client.subscribeAsync(topics.errors(d.id), { qos: 0 });
    }
    const payloads = Array.from({ length: 4 }, () =>
      Buffer.from(JSON.stringify(sampleTelemetry(d.type, rng))),
    );
    conns.push({ id: d.id, client, topic: topics.telemetry(d.id), payloads, outstanding: 0 });
  });
  const connectSeconds = (performance.now() - tConnect) / 1000;
  progress(`connected ${conns.length}/${publishers.length} in ${connectSeconds.toFixed(1)} s`);

  if (o.subscribeAll) {
    const sub = await mqtt.connectAsync(o.mqttUrl, {
      clientId: `load-subscriber-${process.pid}`,
      username: 'load-subscriber',
      password: 'x',
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    sub.on('message', () => {
      received++;
    });
    await sub.subscribeAsync('gh/+/telemetry', { qos: o.qos });
    extra.push(sub);
  }

  // Latency probes: a press on a call button must come back as an alarm on a worker's topic.
  const pendingProbes = new Map<string, number>();
  const samples: number[] = [];
  let lost = 0;
  const probeConns: { id: string; client: MqttClient }[] = [];
  if (o.probe && !o.idle) {
    for (const w of o.probe.workers) {
      try {
        const c = await mqtt.connectAsync(o.mqttUrl, {
          clientId: `load-worker-${w.username}-${process.pid}`,
          username: w.username,
          password: w.token,
          protocolVersion: 4,
          reconnectPeriod: 0,
        });
        c.on('message', (_topic, payload) => {
          const at = performance.now();
          const text = payload.toString('utf8');
          for (const [id, t0] of pendingProbes) {
            if (text.includes(id)) {
              samples.push(at - t0);
              pendingProbes.delete(id);
              break;
            }
          }
        });
        await c.subscribeAsync(w.alarmsTopic, { qos: 1 });
        extra.push(c);
      } catch {
        // A worker that cannot connect only narrows where alarms can arrive.
      }
    }
    for (const d of o.probe.devices) {
      try {
        const c = await mqtt.connectAsync(o.mqttUrl, {
          clientId: d.id,
          username: d.id,
          password: d.secret,
          protocolVersion: 4,
          reconnectPeriod: 0,
        });
        probeConns.push({ id: d.id, client: c });
      } catch {
        // Counted by the absence of samples.
      }
    }
  }
  o.onConnected?.(conns.length);

  const durationMs = o.durationS * 1000;
  let sent = 0;
  let completed = 0;
  const t0 = performance.now();
  let lastReport = t0;
  let lastSent = 0;

  if (o.idle) {
    await new Promise<void>((r) => setTimeout(r, durationMs));
  } else {
    let probeIndex = 0;
    let nextProbe = t0 + 500;
    const probeEvery = o.probe && o.probe.perSecond > 0 ? 1000 / o.probe.perSecond : Number.POSITIVE_INFINITY;
    let ci = 0;
    await new Promise<void>((done) => {
      const loop = () => {
        const now = performance.now();
        const elapsed = now - t0;
        if (elapsed >= durationMs) {
          done();
          return;
        }
        const allowed = o.rate > 0 ? Math.floor((o.rate * elapsed) / 1000) - sent : Number.POSITIVE_INFINITY;
        // One turn of the loop sends at most a few thousand, then yields so acks and probes are read.
        let budget = Math.min(allowed, 5_000);
        let blocked = 0;
        while (budget > 0 && blocked < conns.length && conns.length > 0) {
          const c = conns[ci] as Conn;
          ci = (ci + 1) % conns.length;
          if (c.outstanding >= window || !c.client.connected) {
            blocked++;
            continue;
          }
          blocked = 0;
          c.outstanding++;
          sent++;
          budget--;
          c.client.publish(c.topic, c.payloads[sent & 3] as Buffer, { qos: o.qos }, () => {
            c.outstanding--;
            completed++;
          });
        }
        if (now >= nextProbe && probeConns.length) {
          nextProbe = now + probeEvery;
          const p = probeConns[probeIndex++ % probeConns.length] as { id: string; client: MqttClient };
          // One probe per device at a time, so an alarm can be told apart by its device id.
          const started = pendingProbes.get(p.id);
          if (started !== undefined && now - started > 5_000) {
            pendingProbes.delete(p.id);
            lost++;
          }
          if (!pendingProbes.has(p.id)) {
            pendingProbes.set(p.id, performance.now());
            p.client.publish(topics.event(p.id), '{"event":"press"}', { qos: 1 });
          }
        }
        if (now - lastReport >= 1000) {
          const rate = ((sent - lastSent) * 1000) / (now - lastReport);
          progress(
            `t=${(elapsed / 1000).toFixed(0)}s sent ${sent} (${Math.round(rate)}/s) done ${completed} rejected ${rejected}${o.subscribeAll ? ` received ${received}` : ''}${probeConns.length ? ` alarms ${samples.length} p50 ${latencyStats(samples, lost).p50 ?? '-'} ms` : ''}`,
          );
          lastReport = now;
          lastSent = sent;
        }
        if (allowed <= 0 && o.rate > 0) setTimeout(loop, 1);
        else setImmediate(loop);
      };
      loop();
    });
    // Let the last publishes complete and the last probes come back (bounded).
    const drainUntil = performance.now() + 5_000;
    while (performance.now() < drainUntil && (completed < sent || pendingProbes.size > 0)) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  lost += pendingProbes.size;
  const runSeconds = Math.min(seconds, o.durationS);

  await Promise.all(
    [...conns.map((c) => c.client), ...probeConns.map((p) => p.client), ...extra].map((c) =>
      c.endAsync(true).catch(() => undefined),
    ),
  );
  return {
    connections: conns.length,
    connectFailures,
    connectSeconds,
    seconds: runSeconds,
    sent,
    completed,
    rejected,
    received,
    sentPerSec: Math.round(sent / runSeconds),
    completedPerSec: Math.round(completed / runSeconds),
    receivedPerSec: Math.round(received / runSeconds),
    latencyMs: latencyStats(samples, lost),
  };
}

/** Ids for a broker without authentication (the bare-aedes baseline): `load-000001`… */
export function syntheticDevices(n: number, type: CredentialDevice['type'] = 'smoke'): CredentialDevice[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `load-${String(i + 1).padStart(6, '0')}`,
    type,
    placeId: 'bench',
    placeName: 'bench',
    floor: null,
    secret: 'x',
  }));
}
