/**
 * Load mode: N device connections (or G "gateway" connections) publishing valid telemetry at R msg/s, with
 * optional publish-to-alarm latency probes. Bounded in count and time; every connection keeps a bounded
 * window of unfinished publishes so the generator itself never queues without limit.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../src/domain/wire.ts';
import { sampleTelemetry } from './behaviours.ts';
import type { CredentialDevice, Credentials } from './credentials.ts';
import { encodePublish, RawMqttClient } from './raw-mqtt.ts';
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
  onConnected?: (n: number, connectSeconds: number) => void;
  /** Called when the timed load starts and when it stops offering (the bench samples the hub there). */
  onPhase?: (phase: 'start' | 'end') => void;
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
  /** Each answered probe: when it was pressed (epoch ms) and how long its alarm took, in press order. */
  probes: { at: number; ms: number }[];
  /**
   * The generator's own CPU (user + system) from the first connect to the end, and as a share of one core over
   * that time: a generator near 100 % caps what it can offer, whatever the broker could take.
   */
  cpuSeconds: number;
  cpuPercentOfCore: number;
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
  client: RawMqttClient;
  packets: { bytes: Buffer; idOffset: number }[];
}

async function connectMany<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<{ failures: number; firstError?: string }> {
  let failures = 0;
  let firstError: string | undefined;
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let it = queue.shift(); it !== undefined; it = queue.shift()) {
        try {
          await fn(it);
        } catch (err) {
          failures++;
          firstError ??= (err as Error).message;
        }
      }
    }),
  );
  return { failures, firstError };
}

/** Most unfinished bytes a QoS 0 connection may have queued in its socket before the generator waits. */
const QOS0_BACKLOG_BYTES = 256 * 1024;
/** How far the publishers may run ahead of the counting subscriber (bare-broker baseline). */
const SUBSCRIBER_AHEAD = 20_000;
/** Presses answered before the probes' clock starts (not counted), each by another probe device. */
const WARM_UP_PRESSES = 3;

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const progress = o.progress ?? (() => undefined);
  const rng = createRng('load');
  const url = new URL(o.mqttUrl);
  const host = url.hostname;
  const port = Number(url.port || 1883);
  const publishers = o.gateways ? o.devices.slice(0, o.gateways) : o.devices;
  const window = o.window ?? (o.qos === 1 ? 500 : 0);
  const conns: Conn[] = [];
  const extra: MqttClient[] = [];
  let subscriber: RawMqttClient | undefined;

  const tConnect = performance.now();
  const cpu0 = process.cpuUsage();
  const conn = await connectMany(publishers, o.connectConcurrency ?? 100, async (d) => {
    const client = await RawMqttClient.connect({
      host,
      port,
      clientId: d.id,
      username: d.id,
      password: d.secret,
      keepalive: o.idle ? 300 : 120,
    });
    if (!o.idle) await client.subscribe(topics.errors(d.id), 0);
    const packets = Array.from({ length: 4 }, () =>
      encodePublish(topics.telemetry(d.id), Buffer.from(JSON.stringify(sampleTelemetry(d.type, rng))), o.qos),
    );
    conns.push({ id: d.id, client, packets });
  });
  const connectFailures = conn.failures;
  const connectSeconds = (performance.now() - tConnect) / 1000;
  progress(
    `connected ${conns.length}/${publishers.length} in ${connectSeconds.toFixed(1)} s${conn.firstError ? ` (first failure: ${conn.firstError})` : ''}`,
  );

  if (o.subscribeAll) {
    subscriber = await RawMqttClient.connect({
      host,
      port,
      clientId: `load-subscriber-${process.pid}`,
      username: 'load-subscriber',
      password: 'x',
    });
    await subscriber.subscribe('gh/+/telemetry', o.qos);
  }

  // Latency probes: a press on a call button must come back as an alarm on a worker's topic.
  const pendingProbes = new Map<string, number>();
  const samples: number[] = [];
  const pressed: { at: number; ms: number }[] = [];
  const pressedAt = new Map<string, number>();
  let lost = 0;
  const probeConns: { id: string; client: MqttClient }[] = [];
  /** While warming up: takes the alarm of the warm-up press (true), or leaves the message to the probes. */
  let warmingUp: ((topic: string, text: string) => boolean) | undefined;
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
        c.on('message', (topic, payload) => {
          const at = performance.now();
          const text = payload.toString('utf8');
          if (warmingUp?.(topic, text)) return;
          for (const [id, t0] of pendingProbes) {
            // A hub's alarm names the device; through a bare broker the press itself arrives, on its own topic.
            if (text.includes(`"${id}"`) || topic === topics.event(id)) {
              samples.push(at - t0);
              pressed.push({ at: pressedAt.get(id) ?? 0, ms: Math.round((at - t0) * 1000) / 1000 });
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
  // A few presses before the clock starts, not counted: the first round trips of a fresh generator process and of
  // fresh connections run cold code (mqtt.js' first parse here, the broker's first deliveries to the worker's new
  // session), and one of them was the slowest probe of its case, hub and bare broker alike (bench/README.md).
  for (const p of probeConns.slice(0, WARM_UP_PRESSES)) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, 5_000);
      function finish() {
        clearTimeout(timer);
        warmingUp = undefined;
        resolve();
      }
      warmingUp = (topic, text) => {
        if (!text.includes(`"${p.id}"`) && topic !== topics.event(p.id)) return false;
        finish();
        return true;
      };
      p.client.publish(topics.event(p.id), '{"event":"press"}', { qos: 1 });
    });
  }
  o.onConnected?.(conns.length, connectSeconds);

  const durationMs = o.durationS * 1000;
  let sent = 0;
  const completed = () => (o.qos === 1 ? conns.reduce((n, c) => n + c.client.acked, 0) : sent);
  const rejected = () => conns.reduce((n, c) => n + c.client.received, 0);
  const received = () => subscriber?.received ?? 0;
  o.onPhase?.('start');
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
    let turn = 0;
    await new Promise<void>((done) => {
      const loop = () => {
        const now = performance.now();
        const elapsed = now - t0;
        if (elapsed >= durationMs) {
          done();
          return;
        }
        const allowed = o.rate > 0 ? Math.floor((o.rate * elapsed) / 1000) - sent : Number.POSITIVE_INFINITY;
        // One turn sends a bounded amount, then yields so acks, errors and alarms are read.
        let budget = Math.min(allowed, 20_000);
        // Against a bare broker, stay at most AHEAD messages ahead of what the subscriber got: otherwise aedes
        // queues for the subscriber without bound and collapses (stack.md), and we would measure the cliff.
        if (subscriber) budget = Math.min(budget, SUBSCRIBER_AHEAD - (sent - subscriber.received));
        const sentBefore = sent;
        let blocked = 0;
        // Batches of at least 8 per write keep syscalls (ours and the broker's reads) from dominating.
        const chunk = Math.max(8, Math.min(64, Math.ceil(budget / Math.max(1, conns.length))));
        turn++;
        while (budget > 0 && blocked < conns.length) {
          const c = conns[ci] as Conn;
          ci = (ci + 1) % conns.length;
          const free = c.client.closed
            ? 0
            : o.qos === 1
              ? window - c.client.inflight
              : c.client.backlog < QOS0_BACKLOG_BYTES
                ? chunk
                : 0;
          const k = Math.min(free, budget, chunk);
          if (k <= 0) {
            blocked++;
            continue;
          }
          blocked = 0;
          c.client.publishBatch(c.packets[turn & 3] as { bytes: Buffer; idOffset: number }, o.qos, k);
          sent += k;
          budget -= k;
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
            pressedAt.set(p.id, Date.now());
            p.client.publish(topics.event(p.id), '{"event":"press"}', { qos: 1 });
          }
        }
        if (now - lastReport >= 1000) {
          const rate = ((sent - lastSent) * 1000) / (now - lastReport);
          progress(
            `t=${(elapsed / 1000).toFixed(0)}s sent ${sent} (${Math.round(rate)}/s) done ${completed()} rejected ${rejected()}${o.subscribeAll ? ` received ${received()}` : ''}${probeConns.length ? ` alarms ${samples.length} p50 ${latencyStats(samples, lost).p50 ?? '-'} ms` : ''}`,
          );
          lastReport = now;
          lastSent = sent;
        }
        if (sent === sentBefore) setTimeout(loop, 1);
        else setImmediate(loop);
      };
      loop();
    });
    o.onPhase?.('end');
    // Let the last publishes complete, forwards arrive and probes come back (bounded).
    const drainUntil = performance.now() + 3_000;
    while (
      performance.now() < drainUntil &&
      (completed() < sent || pendingProbes.size > 0 || (o.subscribeAll && received() < completed()))
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  lost += pendingProbes.size;
  const runSeconds = Math.min(seconds, o.durationS);
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const wallSeconds = (performance.now() - tConnect) / 1000;
  const result: LoadResult = {
    connections: conns.length,
    connectFailures,
    connectSeconds,
    seconds: runSeconds,
    sent,
    completed: completed(),
    rejected: rejected(),
    received: received(),
    sentPerSec: Math.round(sent / runSeconds),
    completedPerSec: Math.round(completed() / runSeconds),
    receivedPerSec: Math.round(received() / runSeconds),
    latencyMs: latencyStats(samples, lost),
    probes: pressed.sort((a, b) => a.at - b.at),
    cpuSeconds: Math.round(cpuSeconds * 100) / 100,
    cpuPercentOfCore: Math.round((cpuSeconds / Math.max(0.001, wallSeconds)) * 1000) / 10,
  };
  await Promise.all([
    ...conns.map((c) => c.client.close()),
    ...(subscriber ? [subscriber.close()] : []),
    ...[...probeConns.map((p) => p.client), ...extra].map((c) => c.endAsync(true).catch(() => undefined)),
  ]);
  return result;
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

/**
 * Probes for a broker without authentication (the bench's bare aedes floor): P call buttons `probe-000001`…
 * and one stand-in worker subscribed (QoS 1) to their event topics, so each press is timed from its publish
 * until the broker delivers it to that subscriber — the same clients, pacing and timing as against the hub.
 */
export function syntheticProbes(n: number): {
  devices: CredentialDevice[];
  worker: Credentials['workers'][number];
} {
  const devices = syntheticDevices(n, 'call_button').map((d) => ({
    ...d,
    id: d.id.replace('load-', 'probe-'),
  }));
  return {
    devices,
    worker: {
      personId: 'bare-broker-subscriber',
      username: 'load-worker',
      token: 'x',
      alarmsTopic: topics.event('+'),
    },
  };
}
