import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import type { Registry as MetricsRegistry } from 'prom-client';
import { createCatalogue, type DeviceTypeId } from '../../src/catalogue/catalogue.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import { createEventBus, type EventBus } from '../../src/domain/events.ts';
import type { Reading } from '../../src/domain/reading.ts';
import type { DeviceErrorMessage } from '../../src/domain/wire.ts';
import { type MqttConfig, mqttConfigSchema } from '../../src/ingest/config.ts';
import { createMqttIngest, type Ingest } from '../../src/ingest/ingest.ts';
import type { JournalStore } from '../../src/ingest/journal.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { createLoginGate, DEFAULT_LOGIN_GATE, type LoginGateOptions } from '../../src/registry/login-gate.ts';
import { createRegistry, type Registry } from '../../src/registry/registry.ts';
import { type Db, openDatabase } from '../../src/storage/sqlite.ts';

export interface Harness {
  dir: string;
  db: Db;
  clock: ManualClock;
  registry: Registry;
  metrics: MetricsRegistry;
  bus: EventBus;
  ingest: Ingest;
  port: number;
  tlsPort: number | undefined;
  url: string;
  readings: Reading[];
  /** Replace to make the rules stage misbehave in a test. */
  sink: { onReading: (r: Reading) => void };
  /** id and secret of one provisioned device per type. */
  devices: Record<DeviceTypeId, { id: string; secret: string }>;
  worker: { username: string; token: string; personId: string };
  otherWorker: { username: string; token: string; personId: string };
  integration: { username: string; token: string };
  manager: { username: string; token: string };
  clients: MqttClient[];
  connect(
    username: string | undefined,
    password: string | undefined,
    opts?: IClientOptions,
  ): Promise<MqttClient>;
  connectDevice(type: DeviceTypeId, opts?: IClientOptions): Promise<MqttClient>;
  counter(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export const TYPES: DeviceTypeId[] = ['smoke', 'throw_camera', 'ebike_elevator', 'bin', 'call_button'];

/**
 * A real hub slice: SQLite registry in a temp dir, the ingest stage on an ephemeral port, readings collected.
 * Clients are real mqtt.js clients at MQTT 3.1.1.
 */
/** One server key for every harness, so a reopened data dir verifies the secrets it holds. */
const HARNESS_KEY = Buffer.alloc(32, 7);

export async function startHarness(
  overrides: Partial<MqttConfig> = {},
  reopen?: { dir: string },
  gateOptions: Partial<LoginGateOptions> = {},
  /** The QoS 1 journal elsewhere than the harness's SQLite file (the shared store). */
  journal?: JournalStore,
): Promise<Harness> {
  const dir = reopen?.dir ?? mkdtempSync(join(os.tmpdir(), 'gridhub-ingest-'));
  const db = openDatabase(join(dir, 'gridhub.db'));
  const clock = new ManualClock();
  const catalogue = createCatalogue();
  // the lowest password cost the config allows: these tests are about the broker, not the KDF
  const registry = createRegistry(db, catalogue, clock, { passwordCost: 16_384, secretKey: HARNESS_KEY });
  const log = createLogger(process.env.GRIDHUB_TEST_LOG ?? 'silent');
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const bus = createEventBus(log);
  const readings: Reading[] = [];
  const sink = { onReading: (r: Reading) => void readings.push(r) };
  const now = clock.now();

  const devices = {} as Record<DeviceTypeId, { id: string; secret: string }>;
  let worker = { username: 'w-li', token: '', personId: 'p-li' };
  let otherWorker = { username: 'w-wang', token: '', personId: 'p-wang' };
  let integration = { username: 'node-red', token: '' };
  let manager = { username: 'mgr-zhao', token: '' };
  if (!reopen) {
    const { places, people, users } = registry;
    await places.create({ id: 'st1', level: 'street', name: 'Street', parentId: null });
    await places.create({ id: 'co1', level: 'community', name: 'Community', parentId: 'st1' });
    await places.create({ id: 'gr1', level: 'grid', name: 'Grid 1', parentId: 'co1' });
    await places.create({ id: 'es1', level: 'estate', name: 'Estate', parentId: 'gr1' });
    await places.create({ id: 'bd1', level: 'building', name: 'Building 1', parentId: 'es1' });
    for (const type of TYPES) {
      const id = `${type.replace('_', '')}-1`;
      const { secret } = await registry.devices.provision({ id, type, placeId: 'bd1', floor: 3 }, now);
      devices[type] = { id, secret };
    }
    await registry.devices.provision({ id: 'smoke-2', type: 'smoke', placeId: 'bd1', floor: 4 }, now);
    await people.create({ id: 'p-li', name: 'Li', role: 'grid_worker', placeIds: ['gr1'] });
    await people.create({ id: 'p-wang', name: 'Wang', role: 'grid_worker', placeIds: ['gr1'] });
    const password = 'correct horse battery';
    await users.create({ username: 'w-li', password, role: 'worker', personId: 'p-li', scope: ['gr1'] }, now);
    await users.create(
      { username: 'w-wang', password, role: 'worker', personId: 'p-wang', scope: ['gr1'] },
      now,
    );
    // integrations see only devices inside their scope (user_scopes), like every non-admin user
    await users.create({ username: 'node-red', password, role: 'integration', scope: ['st1'] }, now);
    await users.create({ username: 'mgr-zhao', password, role: 'manager', scope: ['co1'] }, now);
    worker = { ...worker, token: await users.issueToken('w-li', 'api', now) };
    otherWorker = { ...otherWorker, token: await users.issueToken('w-wang', 'api', now) };
    integration = { ...integration, token: await users.issueToken('node-red', 'api', now) };
    manager = { ...manager, token: await users.issueToken('mgr-zhao', 'api', now) };
  }

  const config = mqttConfigSchema.parse({ port: 0, tlsPort: 0, ...overrides });
  const loginGate = createLoginGate(clock, {
    ...DEFAULT_LOGIN_GATE,
    freePerSource: 1_000,
    freePerAccount: 1_000,
    ...gateOptions,
  });
  // external-broker mode when overrides.externalUrl is set; tests of it never touch `broker`
  const ingest = (await createMqttIngest({
    config,
    host: '127.0.0.1',
    catalogue,
    devices: registry.devices,
    tokens: registry.users,
    clock,
    log,
    metrics,
    bus,
    db,
    loginGate,
    ...(journal ? { journal } : {}),
  })) as Ingest;
  ingest.consume((r) => sink.onReading(r));
  let mqttPort: number;
  let tlsPort: number | undefined;
  try {
    ({ mqttPort, tlsPort } = await ingest.listen());
  } catch (err) {
    await ingest.close();
    db.close();
    if (!reopen) removeDir(dir);
    throw err;
  }
  const url = overrides.externalUrl ?? `mqtt://127.0.0.1:${mqttPort}`;
  const clients: MqttClient[] = [];

  const h: Harness = {
    dir,
    db,
    clock,
    registry,
    metrics,
    bus,
    ingest,
    port: mqttPort,
    tlsPort,
    url,
    readings,
    sink,
    devices,
    worker,
    otherWorker,
    integration,
    manager,
    clients,
    async connect(username, password, opts = {}) {
      const client = await connectAsync(url, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5_000,
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...opts,
      });
      clients.push(client);
      return client;
    },
    connectDevice(type, opts = {}) {
      const d = devices[type];
      return h.connect(d.id, d.secret, opts);
    },
    async counter(name, labels = {}) {
      const metric = metrics.getSingleMetric(name);
      if (!metric) return 0;
      const { values } = await metric.get();
      return values
        .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
        .reduce((sum, v) => sum + v.value, 0);
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await ingest.close();
      db.close();
    },
  };
  return h;
}

/**
 * A Mosquitto on a free loopback port with a config in a temp dir; undefined when it is not installed. `config`:
 * more lines for mosquitto.conf (e.g. `max_queued_messages 0`).
 */
export async function startMosquitto(
  options: { config?: readonly string[] } = {},
): Promise<{ url: string; pid: number | undefined; stop(): Promise<void> } | undefined> {
  if (spawnSync('mosquitto', ['-h']).error) return undefined;
  const dir = mkdtempSync(join(os.tmpdir(), 'gridhub-mosquitto-'));
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const conf = join(dir, 'mosquitto.conf');
  const extra = (options.config ?? []).map((line) => `${line}\n`).join('');
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n${extra}`,
  );
  const proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  const deadline = Date.now() + 5_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ port, host: '127.0.0.1' }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error('mosquitto did not start');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: proc.pid,
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      removeDir(dir);
    },
  };
}

/** A redis-server on a free loopback port, nothing saved to disk; undefined when it is not installed. */
export async function startRedis(): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  if (spawnSync('redis-server', ['--version']).error) return undefined;
  const dir = mkdtempSync(join(os.tmpdir(), 'gridhub-redis-'));
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 5_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ port, host: '127.0.0.1' }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error('redis-server did not start');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}/0`,
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      removeDir(dir);
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Collect `count` messages on `topic`, or fail after `timeoutMs`. */
export function nextMessages(client: MqttClient, topic: string, count: number, timeoutMs = 3_000) {
  return new Promise<{ topic: string; payload: Buffer; qos: number }[]>((resolve, reject) => {
    const got: { topic: string; payload: Buffer; qos: number }[] = [];
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`expected ${count} message(s) on ${topic}, got ${got.length}`));
    }, timeoutMs);
    function onMessage(t: string, payload: Buffer, packet: { qos: number }) {
      if (t !== topic) return;
      got.push({ topic: t, payload, qos: packet.qos });
      if (got.length === count) {
        clearTimeout(timer);
        client.off('message', onMessage);
        resolve(got);
      }
    }
    client.on('message', onMessage);
  });
}

export async function nextErrors(
  client: MqttClient,
  deviceId: string,
  count: number,
): Promise<DeviceErrorMessage[]> {
  const msgs = await nextMessages(client, `gh/${deviceId}/errors`, count);
  return msgs.map((m) => JSON.parse(m.payload.toString()) as DeviceErrorMessage);
}

/** The QoS granted per filter, 128 for a refused one (mqtt.js rejects the promise then; the SUBACK is on it). */
export async function granted(client: MqttClient, filters: string[], qos: 0 | 1 = 0): Promise<number[]> {
  try {
    const g = await client.subscribeAsync(filters, { qos });
    return g.map((x) => x.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted;
  }
}

/** Wait until `predicate` holds (polling on the event loop), or fail. */
export async function until(predicate: () => boolean, timeoutMs = 3_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Encode an MQTT 3.1.1 CONNECT by hand, for what mqtt.js refuses to send (bad client ids, raw framing). */
export function rawConnect(opts: {
  clientId: Buffer | string;
  clean?: boolean;
  username?: string;
  password?: string;
  keepalive?: number;
  will?: { topic: string; payload: string };
}): Buffer {
  const str = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    const len = Buffer.alloc(2);
    len.writeUInt16BE(buf.length);
    return Buffer.concat([len, buf]);
  };
  let flags = 0;
  if (opts.clean ?? true) flags |= 0x02;
  if (opts.will) flags |= 0x04;
  if (opts.password !== undefined) flags |= 0x40;
  if (opts.username !== undefined) flags |= 0x80;
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(opts.keepalive ?? 0);
  const parts = [str('MQTT'), Buffer.from([4, flags]), keepalive, str(opts.clientId)];
  if (opts.will) parts.push(str(opts.will.topic), str(opts.will.payload));
  if (opts.username !== undefined) parts.push(str(opts.username));
  if (opts.password !== undefined) parts.push(str(opts.password));
  return frame(0x10, Buffer.concat(parts));
}

export function rawPublish(
  topic: Buffer | string,
  payload: string,
  opts: { qos?: 0 | 1 | 2; messageId?: number } = {},
): Buffer {
  const t = typeof topic === 'string' ? Buffer.from(topic, 'utf8') : topic;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(t.length);
  const qos = opts.qos ?? 0;
  const id = Buffer.alloc(qos > 0 ? 2 : 0);
  if (qos > 0) id.writeUInt16BE(opts.messageId ?? 1);
  return frame(0x30 | (qos << 1), Buffer.concat([len, t, id, Buffer.from(payload, 'utf8')]));
}

function frame(header: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([header, ...len]), body]);
}

/** A raw TCP connection that records what the broker sends and when it closes. */
export async function rawSocket(port: number) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const state = { data: Buffer.alloc(0), closed: false };
  socket.on('data', (d: Buffer) => {
    state.data = Buffer.concat([state.data, d]);
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    state.closed = true;
  });
  return {
    socket,
    state,
    /** CONNACK return code once received. */
    async connack(): Promise<number> {
      await until(() => state.data.length >= 4 || state.closed, 3_000, 'CONNACK');
      if (state.data.length < 4) throw new Error('closed without CONNACK');
      if (state.data[0] !== 0x20) throw new Error(`expected CONNACK, got 0x${state.data[0]?.toString(16)}`);
      return state.data[3] as number;
    },
  };
}
