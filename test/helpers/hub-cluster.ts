/**
 * Several real hub processes (`node --import tsx src/main.ts`) on one throw-away PostgreSQL, consuming one
 * Mosquitto through its shared subscription (issue #18), with the load generators and collectors a failover
 * run needs: call-button presses (QoS 1, each with its `eventId`), telemetry (QoS 0), a worker subscriber on the
 * alarm topics, each hub's live stream (SSE) and its alert list. Used by test/hub/failover.test.ts and by the
 * failover case of the bench (bench/failover.ts), which differ only in rates and duration.
 *
 * Durations the hubs measure on their (accelerated) clock fall in two kinds: the product's own (SLA, escalation
 * ladders) run fast, which is what lets a test see escalation steps; the machinery's (instance lease, outbox
 * claims, delivery timeouts, redelivery window) are scaled back to their real-time defaults, so that failover is
 * timed as in production and a busy machine does not make timeouts fire in a few real milliseconds.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import pg from 'pg';
import { sampleTelemetry } from '../../devices-sim/behaviours.ts';
import { createRng } from '../../devices-sim/rng.ts';
import type { DeviceTypeId } from '../../src/catalogue/types.ts';
import { type DemoCredentials, topics, type WorkerAlarm } from '../../src/domain/wire.ts';
import { startMosquitto } from '../ingest/harness.ts';
import { apiOf } from './api.ts';
import { findPostgresBin, freePort, POSTGRES_MISSING, startPostgres, type TestPostgres } from './postgres.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** Why a cluster cannot run on this machine (no mosquitto, no PostgreSQL), or undefined when it can. */
export const CLUSTER_MISSING: string | undefined = spawnSync('mosquitto', ['-h']).error
  ? 'mosquitto is not installed (apt-get install mosquitto, or run .ci/run): multi-process failover skipped'
  : findPostgresBin()
    ? undefined
    : `${POSTGRES_MISSING}; multi-process failover skipped`;

export interface HubProcess {
  readonly name: string;
  readonly httpUrl: string;
  readonly pid: number;
  readonly dataDir: string;
  /** Whether it was killed (or exited). */
  readonly gone: boolean;
  /** stdout and stderr so far, for a failure message. */
  output(): string;
  /** `kill -9`: no shutdown of any kind; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM and wait (SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** `fetch` with a bearer token. */
  api(token: string, path: string, init?: RequestInit): Promise<Response>;
  /** The sum of a Prometheus counter over its label sets having `labels`, from /metrics. */
  counter(name: string, labels?: Record<string, string>): Promise<number>;
}

export interface HubCluster {
  readonly mqttUrl: string;
  readonly databaseUrl: string;
  readonly hubs: readonly HubProcess[];
  readonly credentials: DemoCredentials;
  /** Call buttons provisioned for the run (one press each), spread over the demo's places. */
  readonly pressDevices: readonly string[];
  readonly clockSpeed: number;
  /** The hubs' common clock: what `clock.now()` reads in every instance now. */
  hubNow(): number;
  /** The hub clock's reading at a real moment (`Date.now()` ms). */
  hubAt(realMs: number): number;
  /** A query on the shared database (for checks the API has no view of, e.g. the whole timeline). */
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  instances: number;
  /** Hub clock speed (GRIDHUB_CLOCK_SPEED); 1 = real time. */
  clockSpeed: number;
  /** Call buttons to provision through the first hub's API before the others start. */
  pressDevices: number;
  /** More GRIDHUB_* settings for every instance. */
  env?: Record<string, string>;
  /** PostgreSQL counts the statements it is sent (pg_stat_statements, test/helpers/statement-stats.ts). */
  statementStats?: boolean;
}

/** The machinery's real-time defaults, expressed on a clock running `speed` × (see the header). */
export function realTimeEnv(speed: number): Record<string, string> {
  const real = (ms: number) => String(Math.round(ms * speed));
  return {
    GRIDHUB_LEASE_TTL_MS: real(3_000),
    GRIDHUB_ALERTS_CLAIM_LEASE_MS: real(60_000),
    GRIDHUB_ALERTS_DELIVERY_TIMEOUT_MS: real(10_000),
    GRIDHUB_ALERTS_LANE_TIMEOUTS_MS: JSON.stringify({ mqtt: Math.round(5_000 * speed) }),
    GRIDHUB_MQTT_REDELIVERY_WINDOW_MS: real(120_000),
  };
}

export async function startHubCluster(options: ClusterOptions): Promise<HubCluster> {
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    // Mosquitto's defaults queue at most 1 000 messages per session and then drop QoS 1 messages silently: a
    // production broker in front of GridHub must not (the README's deployment notes), nor may this one.
    const broker = await startMosquitto({ config: ['max_queued_messages 0', 'max_inflight_messages 100'] });
    if (!broker) throw new Error('mosquitto is not installed');
    cleanups.push(() => broker.stop());
    const pgc: TestPostgres = await startPostgres({ statementStats: options.statementStats === true });
    cleanups.push(() => pgc.stop());
    const databaseUrl = await pgc.createDatabase();
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    cleanups.push(() => pool.end());
    if (options.statementStats) await pool.query('CREATE EXTENSION pg_stat_statements');

    // one anchor for every instance's accelerated clock, or each would read its own time (GRIDHUB_CLOCK_ANCHOR)
    const anchor = Date.now();
    const hubAt = (realMs: number) => anchor + (realMs - anchor) * speed;
    // device secrets are hashed with one key on a shared database: the first instance creates it, all read it
    const keyDir = mkdtempSync(join(tmpdir(), 'gridhub-cluster-key-'));
    cleanups.push(async () => rmSync(keyDir, { recursive: true, force: true }));
    const speed = options.clockSpeed;
    const env = {
      GRIDHUB_DATABASE_URL: databaseUrl,
      GRIDHUB_MQTT_EXTERNAL_URL: broker.url,
      GRIDHUB_CLOCK_SPEED: String(speed),
      GRIDHUB_CLOCK_ANCHOR: String(anchor),
      GRIDHUB_SECRET_KEY_FILE: join(keyDir, 'hub.key'),
      GRIDHUB_DEMO: 'true',
      GRIDHUB_DEMO_ACTIVITY: 'false',
      GRIDHUB_HTTP_PASSWORD_COST: '16384',
      GRIDHUB_HTTP_RATE_LIMIT_PER_MINUTE: '0',
      GRIDHUB_LOG_LEVEL: process.env.GRIDHUB_TEST_LOG_LEVEL ?? 'warn',
      ...realTimeEnv(speed),
      ...options.env,
    };
    const hubs: HubProcess[] = [];
    const start = async (i: number) => {
      const hub = await startHubProcess(`hub-${i + 1}`, env);
      cleanups.push(() => hub.stop());
      hubs.push(hub);
      return hub;
    };
    // the first seeds the demo and writes the credentials; the press devices go in before the others start
    const first = await start(0);
    const credentials = JSON.parse(
      readFileSync(join(first.dataDir, 'demo-credentials.json'), 'utf8'),
    ) as DemoCredentials;
    const admin = await loginAs(first, credentials, 'admin');
    const pressDevices = await provisionButtons(first, admin, credentials, options.pressDevices);
    for (let i = 1; i < options.instances; i++) await start(i);

    return {
      mqttUrl: broker.url,
      databaseUrl,
      hubs,
      credentials,
      pressDevices,
      clockSpeed: speed,
      hubNow: () => hubAt(Date.now()),
      hubAt,
      async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
        return (await pool.query<R>(text, values)).rows;
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * One hub process on a free HTTP port, resolved once its /readyz answers 200 (only the instance that seeds the
 * demo prints its addresses; the others log them at info, which a loaded run keeps at warn).
 */
async function startHubProcess(name: string, env: Record<string, string>): Promise<HubProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), `gridhub-${name}-`));
  const httpUrl = `http://127.0.0.1:${await freePort()}`;
  // GRIDHUB_CLUSTER_NODE_FLAGS: node flags for every instance, to diagnose a run (`--cpu-prof,--cpu-prof-dir=…`)
  const flags = process.env.GRIDHUB_CLUSTER_NODE_FLAGS?.split(',').filter(Boolean) ?? [];
  const proc: ChildProcess = spawn(process.execPath, [...flags, '--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      GRIDHUB_DATA_DIR: dataDir,
      GRIDHUB_HTTP_PORT: new URL(httpUrl).port,
      GRIDHUB_INSTANCE_ID: name,
      // the consumer sessions are persistent: each instance needs its own client ids on the broker
      GRIDHUB_MQTT_EXTERNAL_CLIENT_ID: `gridhub-${name}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let gone = false;
  // GRIDHUB_CLUSTER_LOG_DIR keeps each instance's whole output (a failover run to diagnose), not only its start
  const logDir = process.env.GRIDHUB_CLUSTER_LOG_DIR;
  if (logDir) mkdirSync(logDir, { recursive: true });
  const file = logDir ? createWriteStream(join(logDir, `${name}.log`)) : undefined;
  const keep = (chunk: Buffer) => {
    file?.write(chunk);
    if (out.length < 200_000) out += chunk.toString();
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      gone = true;
      file?.end();
      resolve();
    }),
  );
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (gone)
      throw new Error(
        `${name} exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${out.slice(-4000)}`,
      );
    const ready = await fetch(`${httpUrl}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${name} was not ready within 90 s:\n${out.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const api = apiOf(httpUrl);
  return {
    name,
    httpUrl,
    pid: proc.pid as number,
    dataDir,
    get gone() {
      return gone;
    },
    output: () => out,
    async kill() {
      if (!gone) proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (!gone) {
        proc.kill('SIGTERM');
        const hard = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(hard);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
    api,
    async counter(metric, labels = {}) {
      const text = await (await fetch(`${httpUrl}/metrics`)).text();
      const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${metric} `) && !line.startsWith(`${metric}{`)) continue;
        if (wanted.every((w) => line.includes(w))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return sum;
    },
  };
}

/** Log in on `hub` as a demo user; the bearer token. */
export async function loginAs(hub: HubProcess, creds: DemoCredentials, username: string): Promise<string> {
  const user = creds.users.find((u) => u.username === username);
  if (!user) throw new Error(`no demo user ${username}`);
  const res = await fetch(`${hub.httpUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: user.password }),
  });
  if (res.status !== 200)
    throw new Error(`login ${username} on ${hub.name}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** `count` call buttons provisioned through the API, over the places of the demo's own call buttons. */
async function provisionButtons(
  hub: HubProcess,
  admin: string,
  creds: DemoCredentials,
  count: number,
): Promise<string[]> {
  const places = [...new Set(creds.devices.filter((d) => d.type === 'call_button').map((d) => d.placeId))];
  const ids = Array.from({ length: count }, (_, i) => `fo-call-${String(i + 1).padStart(5, '0')}`);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      const res = await hub.api(admin, '/api/devices', {
        method: 'POST',
        body: JSON.stringify({
          id: ids[i],
          type: 'call_button',
          placeId: places[i % places.length],
          floor: 1,
        }),
      });
      if (res.status !== 201) throw new Error(`provision ${ids[i]}: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return ids;
}

// ---------------------------------------------------------------------------------------------------------
// Load generators. One connection each: the external broker does the device authentication and ACL, which
// these tests are not about, so one anonymous client publishes on every device's topics.

export interface Press {
  readonly deviceId: string;
  readonly eventId: string;
  readonly sentAt: number;
  /** When Mosquitto's PUBACK came (Date.now()); undefined while in flight or if it never came. */
  ackedAt?: number;
}

export interface PressLoad {
  readonly presses: readonly Press[];
  /** Resolves when every press was sent and has its PUBACK (or failed). */
  readonly done: Promise<void>;
}

/** One press per device at `ratePerSec`, QoS 1, each with its own `eventId`. */
export async function startPresses(
  url: string,
  devices: readonly string[],
  ratePerSec: number,
): Promise<PressLoad> {
  const client = await connectAsync(url, { clientId: `fo-presses-${process.pid}`, reconnectPeriod: 0 });
  const presses: Press[] = [];
  const acks: Promise<void>[] = [];
  const t0 = Date.now();
  const done = (async () => {
    while (presses.length < devices.length) {
      const due = Math.min(devices.length, Math.floor(((Date.now() - t0) / 1000) * ratePerSec) + 1);
      while (presses.length < due) {
        const deviceId = devices[presses.length] as string;
        const press: Press = { deviceId, eventId: `press-${deviceId}`, sentAt: Date.now() };
        presses.push(press);
        acks.push(
          client
            .publishAsync(
              topics.event(deviceId),
              JSON.stringify({ event: 'press', eventId: press.eventId }),
              {
                qos: 1,
              },
            )
            .then(() => {
              press.ackedAt = Date.now();
            }),
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.allSettled(acks);
    await client.endAsync();
  })();
  return { presses, done };
}

export interface TelemetryLoad {
  sent(): number;
  stop(): Promise<void>;
}

/** Quiet telemetry (no alerts of its own) of the demo's devices at `ratePerSec`, QoS 0, round-robin. */
export async function startTelemetry(
  url: string,
  creds: DemoCredentials,
  ratePerSec: number,
): Promise<TelemetryLoad> {
  const client = await connectAsync(url, { clientId: `fo-telemetry-${process.pid}`, reconnectPeriod: 0 });
  const rng = createRng(18);
  // pre-encoded, so that the generator's own cost stays small beside the hubs'
  const messages = creds.devices.flatMap((d) =>
    Array.from({ length: 4 }, () => ({
      topic: topics.telemetry(d.id),
      payload: JSON.stringify(sampleTelemetry(d.type as DeviceTypeId, rng)),
    })),
  );
  /** The schedule's position, and what was written: a generator that fell behind skips, and skips count not. */
  let slot = 0;
  let sent = 0;
  let stopped = false;
  const t0 = Date.now();
  const loop = (async () => {
    while (!stopped) {
      const due = Math.floor(((Date.now() - t0) / 1000) * ratePerSec);
      // a generator that fell behind (the machine is busy) catches up at most 1 s of messages at once
      slot = Math.max(slot, due - ratePerSec);
      while (slot < due) {
        const m = messages[slot % messages.length] as { topic: string; payload: string };
        client.publish(m.topic, m.payload, { qos: 0 });
        slot++;
        sent++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    sent: () => sent,
    async stop() {
      stopped = true;
      await loop;
      await client.endAsync();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Collectors.

export interface AlarmSeen {
  readonly alertId: string;
  readonly deviceId: string;
  readonly change: string;
  readonly recipient: string;
  /** The message's identity (`messageId`): the same on a re-send, which the worker's app drops. */
  readonly messageId: string | undefined;
  /** When the hub made the message (its `sentAt`, hub clock): at the commit that queued it. */
  readonly sentAt: number | undefined;
  readonly at: number;
}

/** A subscriber on every worker's alarm topic (`gh/workers/+/alarms`), as the workers' phones are. */
export async function collectAlarms(url: string): Promise<{ alarms: AlarmSeen[]; stop(): Promise<void> }> {
  const client: MqttClient = await connectAsync(url, {
    clientId: `fo-workers-${process.pid}`,
    reconnectPeriod: 0,
  });
  const alarms: AlarmSeen[] = [];
  client.on('message', (_topic, payload) => {
    const at = Date.now();
    const msg = JSON.parse(payload.toString()) as Partial<WorkerAlarm>; // what the phones receive
    if (msg.kind !== 'alarm' || !msg.alertId || !msg.device) return;
    alarms.push({
      alertId: msg.alertId,
      deviceId: msg.device.id,
      change: String(msg.change),
      recipient: JSON.stringify(msg.recipient),
      messageId: msg.messageId,
      sentAt: msg.sentAt,
      at,
    });
  });
  await client.subscribeAsync(topics.workerAlarms('+'), { qos: 1 });
  return { alarms, stop: () => client.endAsync(true) };
}

export interface StreamEvent {
  readonly type: string;
  readonly alertId: string;
  readonly at: number;
}

/** The live stream (SSE) of one hub as a board reads it: every `alert` event with its arrival time. */
export async function openBoardStream(
  hub: HubProcess,
  token: string,
): Promise<{ events: StreamEvent[]; closedAt(): number | undefined; close(): void }> {
  const issued = await hub.api(token, '/api/auth/stream-ticket', { method: 'POST', body: '{}' });
  if (!issued.ok) throw new Error(`stream ticket on ${hub.name}: ${issued.status}`);
  const { ticket } = (await issued.json()) as { ticket: string };
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(new URL(`/api/alerts/stream?ticket=${ticket}`, hub.httpUrl), resolve);
    req.on('error', reject);
    req.end();
  });
  if (res.statusCode !== 200) throw new Error(`stream on ${hub.name}: ${res.statusCode}`);
  const events: StreamEvent[] = [];
  let buffer = '';
  // when the hub ended the stream (a board cut off for falling behind reconnects; this one does not)
  let closedAt: number | undefined;
  let closing = false;
  res.setEncoding('utf8');
  res.on('error', () => undefined);
  res.on('close', () => {
    if (!closing) closedAt = Date.now();
  });
  res.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!block.includes('event: alert')) continue;
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (!data) continue;
      const msg = JSON.parse(data) as { type: string; alertId: string };
      events.push({ type: msg.type, alertId: msg.alertId, at: Date.now() });
    }
  });
  return {
    events,
    closedAt: () => closedAt,
    close: () => {
      closing = true;
      res.destroy();
    },
  };
}

/** Every alert of `category` one hub's API lists, page by page (500 a page, the most it gives). */
export async function listAlerts(
  hub: HubProcess,
  token: string,
  category: string,
): Promise<{ total: number; items: { id: string; deviceId: string }[] }> {
  const items: { id: string; deviceId: string }[] = [];
  let total = 0;
  for (let offset = 0; ; offset += 500) {
    const res = await hub.api(token, `/api/alerts?category=${category}&limit=500&offset=${offset}`);
    if (res.status !== 200)
      throw new Error(`GET /api/alerts on ${hub.name}: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { total: number; items: { id: string; deviceId: string }[] };
    total = page.total;
    items.push(...page.items);
    if (page.items.length < 500 || items.length >= total) break;
  }
  return { total, items };
}

/** Poll `probe` until it returns something other than undefined/false, or fail naming `what` after `ms`. */
export async function waitFor<T>(
  what: string,
  ms: number,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
