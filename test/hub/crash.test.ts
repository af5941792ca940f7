import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventReading } from '../../src/domain/reading.ts';
import { type DemoCredentials, topics } from '../../src/domain/wire.ts';
import { openDatabase } from '../../src/storage/sqlite.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

const dirs: string[] = [];
const clients: MqttClient[] = [];
let child: ChildProcess | undefined;
let hub: TestHub | undefined;

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  child?.kill('SIGKILL');
  child = undefined;
  await hub?.close();
  hub = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gridhub-crash-'));
  dirs.push(d);
  return d;
}

function pressAlerts(dataDir: string, deviceIds: readonly string[]): number {
  const db = openDatabase(join(dataDir, 'gridhub.db'));
  try {
    const marks = deviceIds.map(() => '?').join(',');
    return (
      db
        .prepare<string[], { n: number }>(
          `SELECT COUNT(*) AS n FROM alerts WHERE device_type = 'call_button' AND device_id IN (${marks})`,
        )
        .get(...deviceIds)?.n ?? 0
    );
  } finally {
    db.close();
  }
}

/** Start `npm start`'s entry point as a real process and wait for the MQTT address it prints. */
function startHubProcess(dataDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env,
        GRIDHUB_DATA_DIR: dataDir,
        GRIDHUB_HTTP_PORT: '0',
        GRIDHUB_MQTT_PORT: '0',
        GRIDHUB_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = p;
    let out = '';
    const timer = setTimeout(() => reject(new Error(`hub did not start:\n${out}`)), 30_000);
    p.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /MQTT (mqtt:\/\/[\d.]+:\d+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    p.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    p.on('exit', (code) => reject(new Error(`hub exited with ${code}:\n${out}`)));
  });
}

describe('crash safety of QoS 1 events', () => {
  it('keeps every acknowledged press after the hub is killed with SIGKILL mid-load', async () => {
    const dataDir = tempDir();
    const mqttUrl = await startHubProcess(dataDir);
    const credentials = JSON.parse(
      readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8'),
    ) as DemoCredentials;
    const buttons = credentials.devices.filter((d) => d.type === 'call_button').slice(0, 4);

    let acked = 0;
    let sent = 0;
    const publishers = await Promise.all(
      buttons.map(async (b) => {
        const c = await connectAsync(mqttUrl, { username: b.id, password: b.secret, reconnectPeriod: 0 });
        clients.push(c);
        return { c, id: b.id };
      }),
    );
    const loops = publishers.map(async ({ c, id }) => {
      for (let i = 0; i < 200; i++) {
        sent++;
        try {
          await c.publishAsync(topics.event(id), JSON.stringify({ event: 'press' }), { qos: 1 });
          acked++;
        } catch {
          return;
        }
        if (acked === 150) {
          child?.kill('SIGKILL');
          // In-flight publishes would wait for a PUBACK that never comes: drop the connections.
          for (const p of publishers) p.c.end(true);
        }
      }
    });
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 20_000))]);
    expect(acked).toBeGreaterThanOrEqual(150);

    hub = await startTestHub({ dataDir, demo: true });
    const ids = buttons.map((b) => b.id);
    const stored = pressAlerts(dataDir, ids);
    process.stdout.write(`SIGKILL test: sent=${sent} acknowledged=${acked} alerts after restart=${stored}\n`);
    expect(stored).toBeGreaterThanOrEqual(acked);
    expect(stored).toBeLessThanOrEqual(sent);
  }, 60_000);

  it('replays a journaled event that never reached the dispatcher, and not one it had already taken', async () => {
    const dataDir = tempDir();
    hub = await startTestHub({ dataDir });
    const [taken, lost] = hub.credentials!.devices.filter((d) => d.type === 'call_button');
    const readings: EventReading[] = [];
    hub.hub.bus.on('reading.accepted', (r) => {
      if (r.kind === 'event') readings.push(r);
    });
    const c = await connectAsync(hub.hub.urls.mqtt, { username: taken!.id, password: taken!.secret });
    clients.push(c);
    await c.publishAsync(topics.event(taken!.id), JSON.stringify({ event: 'press' }), { qos: 1 });
    await c.endAsync();
    const first = readings[0]!;
    expect(first.journalId).toBeTypeOf('number');
    await hub.close();
    hub = undefined;
    expect(pressAlerts(dataDir, [taken!.id])).toBe(1);

    // As after a crash between the dispatcher's commit and ingest marking the event done, plus one event that
    // was journaled and acknowledged but never processed.
    const db = openDatabase(join(dataDir, 'gridhub.db'));
    const insert = db.prepare(
      'INSERT INTO ingest_journal (id, device_id, received_at, reading) VALUES (?, ?, ?, ?)',
    );
    const { journalId, ...again } = first;
    insert.run(journalId, taken!.id, first.receivedAt, JSON.stringify(again));
    const never: EventReading = { ...again, deviceId: lost!.id, placeId: lost!.placeId };
    insert.run((journalId as number) + 1000, lost!.id, first.receivedAt, JSON.stringify(never));
    db.close();

    hub = await startTestHub({ dataDir });
    expect(pressAlerts(dataDir, [taken!.id])).toBe(1);
    expect(pressAlerts(dataDir, [lost!.id])).toBe(1);
    const left = openDatabase(join(dataDir, 'gridhub.db'));
    expect(left.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM ingest_journal').get()?.n).toBe(0);
    left.close();
  });
});
