import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventReading } from '../../src/domain/reading.ts';
import { type DemoCredentials, topics } from '../../src/domain/wire.ts';
import { openDatabase } from '../../src/storage/sqlite.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { ackOf, connectRaw, type RawClient } from '../ingest/raw-mqtt.ts';

/**
 * Exactly one alert per press when the real hub process is killed with SIGKILL mid-load and started again:
 * mqtt.js devices (reconnecting, resending what was not acknowledged, without DUP as mqtt.js does) and one
 * device whose PUBACKs were lost in the crash, which resends presses the hub had already recorded.
 */
const children: ChildProcess[] = [];
const clients: MqttClient[] = [];
const raws: RawClient[] = [];
const dirs: string[] = [];
let hub: TestHub | undefined;

afterEach(async () => {
  await hub?.close();
  hub = undefined;
  for (const r of raws.splice(0)) r.socket.destroy();
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** `npm start`'s entry point as a real process on a fixed MQTT port (devices reconnect to the same address). */
function startHubProcess(dataDir: string, mqttPort: number): Promise<{ proc: ChildProcess; http: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env,
        GRIDHUB_DATA_DIR: dataDir,
        GRIDHUB_HOST: '127.0.0.1',
        GRIDHUB_HTTP_PORT: '0',
        GRIDHUB_MQTT_PORT: String(mqttPort),
        GRIDHUB_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(p);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`hub did not start:\n${out}`)), 45_000);
    p.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /API (http:\/\/[\d.]+:\d+)\s+MQTT mqtt:/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ proc: p, http: m[1] });
      }
    });
    p.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    p.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`hub exited with ${code}:\n${out}`));
    });
  });
}

function pressAlerts(dataDir: string): Map<string, number> {
  const db = openDatabase(join(dataDir, 'gridhub.db'));
  try {
    const rows = db
      .prepare<[], { device_id: string; n: number }>(
        `SELECT device_id, COUNT(*) AS n FROM alerts WHERE device_type = 'call_button' GROUP BY device_id`,
      )
      .all();
    return new Map(rows.map((r) => [r.device_id, r.n]));
  } finally {
    db.close();
  }
}

async function metric(http: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('SIGKILL mid-load', () => {
  it('every press opens exactly one alert after the hub is killed and restarted, resends included', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gridhub-redelivery-'));
    dirs.push(dataDir);
    const mqttPort = await freePort();
    const first = await startHubProcess(dataDir, mqttPort);
    const url = `mqtt://127.0.0.1:${mqttPort}`;
    const creds = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8')) as DemoCredentials;
    const buttons = creds.devices.filter((d) => d.type === 'call_button');
    expect(buttons.length).toBeGreaterThanOrEqual(5);
    const loaders = buttons.slice(0, 4);
    const lossy = buttons[4] as (typeof buttons)[number];
    const already = pressAlerts(dataDir);

    // The device whose PUBACKs the crash swallows: 20 presses the hub recorded and acknowledged…
    const raw = await connectRaw(mqttPort, { username: lossy.id, password: lossy.secret, clean: false });
    raws.push(raw);
    const lossyTopic = topics.event(lossy.id);
    for (let id = 1; id <= 20; id++) {
      const from = raw.received.length;
      raw.publish({ topic: lossyTopic, payload: '{"event":"press"}', qos: 1, messageId: id });
      await raw.next(ackOf('puback', id), from);
    }

    // …and four mqtt.js buttons pressing at 200 presses/s in all, reconnecting on their own
    const PER_DEVICE = 120;
    const devices = await Promise.all(
      loaders.map(async (b) => {
        const c = await connectAsync(url, {
          username: b.id,
          password: b.secret,
          clientId: b.id,
          clean: false,
          reconnectPeriod: 200,
          connectTimeout: 5_000,
          protocolVersion: 4,
        });
        clients.push(c);
        c.on('error', () => undefined);
        return { c, id: b.id };
      }),
    );
    let acked = 0;
    const presses = devices.map(async ({ c, id }) => {
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < PER_DEVICE; i++) {
        pending.push(
          c.publishAsync(topics.event(id), '{"event":"press"}', { qos: 1 }).then(() => {
            acked++;
          }),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
      await Promise.all(pending);
    });
    // kill mid-load, while presses are in flight
    while (acked < 150) await new Promise((r) => setTimeout(r, 5));
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));
    raw.socket.destroy();

    const second = await startHubProcess(dataDir, mqttPort);
    // every mqtt.js press is acknowledged in the end: resent after the reconnect if the crash ate its PUBACK
    await Promise.race([
      Promise.all(presses),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`only ${acked} presses acknowledged`)), 60_000),
      ),
    ]);
    // the lossy device resends all 20 on its new connection, as mqtt.js would: same ids, no DUP
    const again = await connectRaw(mqttPort, { username: lossy.id, password: lossy.secret, clean: false });
    raws.push(again);
    for (let id = 1; id <= 20; id++) {
      const from = again.received.length;
      again.publish({ topic: lossyTopic, payload: '{"event":"press"}', qos: 1, messageId: id });
      await again.next(ackOf('puback', id), from);
    }

    const alerts = pressAlerts(dataDir);
    const counts = loaders.map((b) => (alerts.get(b.id) ?? 0) - (already.get(b.id) ?? 0));
    const recognised = await metric(second.http, 'gridhub_ingest_duplicates_total', 'reason="reconnect"');
    process.stdout.write(
      `SIGKILL redelivery: presses per device ${PER_DEVICE}, alerts ${counts.join('/')}, lossy ${alerts.get(lossy.id) ?? 0}/20, recognised resends ${recognised}\n`,
    );
    expect(counts).toEqual(loaders.map(() => PER_DEVICE));
    expect((alerts.get(lossy.id) ?? 0) - (already.get(lossy.id) ?? 0)).toBe(20);
    expect(recognised).toBeGreaterThanOrEqual(20);
  }, 150_000);
});

describe('journal replay', () => {
  it('a replayed event the dispatcher had already taken opens no second alert, and is counted', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gridhub-replay-'));
    dirs.push(dataDir);
    hub = await startTestHub({ dataDir });
    const button = hub.credentials?.devices.find((d) => d.type === 'call_button');
    if (!button) throw new Error('the demo has no call button');
    const taken: EventReading[] = [];
    hub.hub.bus.on('reading.accepted', (r) => {
      if (r.kind === 'event') taken.push(r);
    });
    const c = await connectAsync(hub.hub.urls.mqtt, { username: button.id, password: button.secret });
    clients.push(c);
    await c.publishAsync(topics.event(button.id), '{"event":"press"}', { qos: 1 });
    await c.endAsync();
    await hub.close();
    hub = undefined;
    const before = pressAlerts(dataDir).get(button.id) ?? 0;
    // as after a SIGKILL between the dispatcher's commit and ingest marking the row done
    const { journalId, ...reading } = taken[0] as EventReading;
    const db = openDatabase(join(dataDir, 'gridhub.db'));
    db.prepare('INSERT INTO ingest_journal (id, device_id, received_at, reading) VALUES (?, ?, ?, ?)').run(
      journalId,
      button.id,
      reading.receivedAt,
      JSON.stringify(reading),
    );
    db.close();
    hub = await startTestHub({ dataDir });
    expect(pressAlerts(dataDir).get(button.id) ?? 0).toBe(before);
    expect(
      await metric(
        hub.hub.urls.http,
        'gridhub_alerts_raised_total',
        'severity="critical",outcome="replayed"',
      ),
    ).toBe(1);
  }, 60_000);
});
