import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { topics } from '../../src/domain/wire.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { findInfluxd, INFLUXD_MISSING, type Influxd, startInfluxd } from '../telemetry/influxd.ts';

const influxd = findInfluxd();
if (!influxd) console.warn(INFLUXD_MISSING);

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function publishReadings(t: TestHub, deviceType: string, payloads: object[]): Promise<string> {
  const device = t.credentials!.devices.find((d) => d.type === deviceType)!;
  const c: MqttClient = await connectAsync(t.hub.urls.mqtt, { username: device.id, password: device.secret });
  cleanups.push(() => c.endAsync(true));
  for (const p of payloads) await c.publishAsync(topics.telemetry(device.id), JSON.stringify(p), { qos: 1 });
  return device.id;
}

describe('readings over MQTT into the embedded store, read back through the API', () => {
  it('serves GET /api/telemetry from the embedded store when no InfluxDB is configured', async () => {
    const t = await startTestHub();
    cleanups.push(() => t.close());
    expect(t.hub.telemetry.kind).toBe('embedded');
    const base = Date.parse('2026-01-05T08:00:00Z');
    const id = await publishReadings(
      t,
      'bin',
      [10, 20, 30, 40].map((fill, i) => ({ fill, ts: base + i * 60_000 })),
    );
    await t.hub.telemetry.flush();
    const token = await t.login('admin');
    const res = await t.api(
      token,
      `/api/telemetry?device=${id}&field=fill&from=${base}&to=${base + 3_600_000}&every=2m&fn=max`,
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { points: { ts: number; value: number }[] };
    expect(body.points.filter((p) => p.value !== null)).toEqual([
      { ts: base, value: 20 },
      { ts: base + 120_000, value: 40 },
    ]);
  });
});

describe.skipIf(!influxd)('readings over MQTT into a real InfluxDB (v1 API)', () => {
  it('writes each reading as the documented point and answers queries with InfluxQL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridhub-influx-e2e-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const server: Influxd = await startInfluxd(influxd as string, dir);
    cleanups.push(() => server.stop());
    await server.query('CREATE DATABASE gridhub');
    const t = await startTestHub({
      env: { GRIDHUB_INFLUX_URL: server.url, GRIDHUB_INFLUX_API: 'v1', GRIDHUB_INFLUX_DATABASE: 'gridhub' },
    });
    cleanups.push(() => t.close());
    expect(t.hub.telemetry.kind).toBe('influx');
    const ts = Date.parse('2026-01-05T08:00:00Z');
    const id = await publishReadings(t, 'smoke', [
      { smoke: 0.05, temperature: 24.5, battery: 88, alarm: false, ts },
    ]);
    await t.hub.telemetry.flush();
    const rows = await server.query(`SELECT * FROM smoke WHERE device = '${id}'`, 'gridhub');
    const device = t.hub.registry.devices.get(id)!;
    expect(rows[0]?.values).toHaveLength(1);
    const point = Object.fromEntries((rows[0]?.columns ?? []).map((c, i) => [c, rows[0]?.values[0]?.[i]]));
    expect(point).toMatchObject({
      time: ts,
      device: id,
      street: device.place.street,
      community: device.place.community,
      grid: device.place.grid,
      estate: device.place.estate,
      building: device.place.building,
      smoke: 0.05,
      temperature: 24.5,
      battery: 88,
      alarm: false,
    });
    const token = await t.login('admin');
    const res = await t.api(
      token,
      `/api/telemetry?device=${id}&field=temperature&from=${ts - 1000}&to=${ts + 1000}`,
    );
    expect(((await res.json()) as { points: unknown[] }).points).toEqual([{ ts, value: 24.5 }]);
  });
});
