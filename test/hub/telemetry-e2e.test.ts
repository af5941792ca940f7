import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { DemoCredentials } from '../../src/domain/wire.ts';
import { topics } from '../../src/domain/wire.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { findInfluxd, INFLUXD_MISSING, type Influxd, startInfluxd } from '../telemetry/influxd.ts';

const influxd = findInfluxd();
if (!influxd) console.warn(INFLUXD_MISSING);

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

type Device = DemoCredentials['devices'][number];

async function connect(t: TestHub, device: Device): Promise<MqttClient> {
  const c = await connectAsync(t.hub.urls.mqtt, { username: device.id, password: device.secret });
  cleanups.push(() => c.endAsync(true));
  return c;
}

async function publishReadings(t: TestHub, deviceType: string, payloads: object[]): Promise<string> {
  const device = t.credentials!.devices.find((d) => d.type === deviceType)!;
  const c = await connect(t, device);
  for (const p of payloads) await c.publishAsync(topics.telemetry(device.id), JSON.stringify(p), { qos: 1 });
  return device.id;
}

/**
 * Bin readings that carry their sequence number in three fields, kept clear of the default rules' thresholds
 * (fill < 90, temperature < 70, battery ≥ 20): fill 0–89, temperature −40–69, battery 20–100.
 */
const binReading = (seq: number) => ({
  fill: seq % 90,
  temperature: (Math.floor(seq / 90) % 110) - 40,
  battery: Math.floor(seq / 9900) + 20,
});
const seqOf = ([fill, temperature, battery]: number[]) =>
  ((battery as number) - 20) * 9900 + ((temperature as number) + 40) * 90 + (fill as number);

async function metric(t: TestHub, name: string): Promise<number> {
  const text = await (await fetch(`${t.hub.urls.http}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}
const acceptedBins = (t: TestHub) =>
  metric(t, 'gridhub_ingest_accepted_total{type="bin",channel="telemetry"}');

/**
 * `devices` bin devices each publish `perSecond` messages of `batch` readings without ts (QoS 1, a bounded
 * window in flight) for `seconds`; `during(elapsedMs)` is called every 100 ms. Returns readings per device.
 */
async function load(
  t: TestHub,
  opts: {
    devices: Device[];
    perSecond: number;
    batch: number;
    seconds: number;
    during?: (ms: number) => void;
  },
): Promise<number> {
  const clients = await Promise.all(opts.devices.map((d) => connect(t, d)));
  const started = Date.now();
  const ticks = opts.perSecond * opts.seconds;
  let last = 0;
  await Promise.all(
    clients.map(async (c, k) => {
      const id = (opts.devices[k] as Device).id;
      const inflight: Promise<unknown>[] = [];
      for (let i = 0; i < ticks; i++) {
        // Paced against the wall clock: message i is due at i / perSecond.
        const due = started + (i * 1000) / opts.perSecond;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        const body = Array.from({ length: opts.batch }, (_, j) => binReading(i * opts.batch + j));
        inflight.push(c.publishAsync(topics.telemetry(id), JSON.stringify(body), { qos: 1 }));
        if (inflight.length >= 20) await inflight.shift();
        if (k === 0 && Date.now() - last >= 100) {
          last = Date.now();
          opts.during?.(last - started);
        }
      }
      await Promise.all(inflight);
    }),
  );
  return ticks * opts.batch;
}

/** Every point of a device in time order holds the next sequence number. */
function inOrder(rows: number[][]): boolean {
  return rows.every((r, i) => seqOf(r) === i);
}

type StoreUnderTest = {
  name: string;
  start(): Promise<TestHub>;
  /** Points stored for a device: its (fill, temperature, battery) in time order. */
  points(t: TestHub, deviceId: string): Promise<number[][]>;
};

const base = Date.parse('2026-01-05T08:00:00Z');
let influx: Influxd | undefined;

async function startInflux(): Promise<Influxd> {
  if (influx) return influx;
  const dir = mkdtempSync(join(tmpdir(), 'gridhub-influx-e2e-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startInfluxd(influxd as string, dir);
  cleanups.push(() => server.stop());
  influx = server;
  return server;
}

/** Each hub gets its own database: the demo's device ids are the same in every hub. */
const databases = new Map<TestHub, string>();
let dbCount = 0;

const embedded: StoreUnderTest = {
  name: 'embedded store',
  async start() {
    const t = await startTestHub();
    cleanups.push(() => t.close());
    expect(t.hub.telemetry.kind).toBe('embedded');
    return t;
  },
  async points(t, deviceId) {
    await t.hub.telemetry.flush();
    const q = { deviceId, deviceType: 'bin' as const, from: 0, to: Date.now() + 60_000 };
    const fill = await t.hub.telemetry.query({ ...q, field: 'fill' });
    const temp = await t.hub.telemetry.query({ ...q, field: 'temperature' });
    const battery = await t.hub.telemetry.query({ ...q, field: 'battery' });
    // The store answers at most 10 000 raw points a query: count them separately.
    const [n] = await t.hub.telemetry.query({ ...q, field: 'fill', fn: 'count' });
    expect(fill.length).toBe(Math.min(Number(n?.value ?? 0), 10_000));
    return fill.map((p, i) => [p.value as number, temp[i]?.value as number, battery[i]?.value as number]);
  },
};

const influxStore: StoreUnderTest = {
  name: 'InfluxDB 1.x',
  async start() {
    const server = await startInflux();
    const database = `gridhub_${++dbCount}`;
    await server.query(`CREATE DATABASE ${database}`);
    const t = await startTestHub({
      env: { GRIDHUB_INFLUX_URL: server.url, GRIDHUB_INFLUX_API: 'v1', GRIDHUB_INFLUX_DATABASE: database },
    });
    databases.set(t, database);
    cleanups.push(() => t.close());
    expect(t.hub.telemetry.kind).toBe('influx');
    return t;
  },
  async points(t, deviceId) {
    await t.hub.telemetry.flush();
    const rows = await (influx as Influxd).query(
      `SELECT fill, temperature, battery FROM bin WHERE device = '${deviceId}' ORDER BY time`,
      databases.get(t),
    );
    return (rows[0]?.values ?? []).map((v) => [v[1] as number, v[2] as number, v[3] as number]);
  },
};

describe('readings over MQTT into the embedded store, read back through the API', () => {
  it('serves GET /api/telemetry from the embedded store when no InfluxDB is configured', async () => {
    const t = await embedded.start();
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
  }, 60_000);
});

const stores = influxd ? [embedded, influxStore] : [embedded];

describe.each(stores)('every accepted reading is one stored point ($name)', (store) => {
  it('keeps bursts within one millisecond and arrays without ts, in order; one point per repeated device ts', async () => {
    const t = await store.start();
    const [a, b] = t.credentials!.devices.filter((d) => d.type === 'bin');
    const accepted0 = await acceptedBins(t);
    // A burst: 300 single readings without ts, written back to back (many arrive in one millisecond).
    const ca = await connect(t, a as Device);
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        ca.publishAsync(topics.telemetry((a as Device).id), JSON.stringify(binReading(i)), { qos: 1 }),
      ),
    );
    // Arrays without ts: 100 payloads of 3 readings each (3 readings in one receive millisecond every time).
    const cb = await connect(t, b as Device);
    for (let i = 0; i < 100; i++) {
      const body = [0, 1, 2].map((j) => binReading(i * 3 + j));
      await cb.publishAsync(topics.telemetry((b as Device).id), JSON.stringify(body), { qos: 1 });
    }
    // Two readings with the same device ts: the same instant by the device's word.
    await cb.publishAsync(
      topics.telemetry((b as Device).id),
      JSON.stringify([
        { fill: 1, temperature: 1, battery: 50, ts: base },
        { fill: 2, temperature: 2, battery: 50, ts: base },
      ]),
      { qos: 1 },
    );
    expect((await acceptedBins(t)) - accepted0).toBe(300 + 300 + 2);
    const pa = await store.points(t, (a as Device).id);
    expect(pa).toHaveLength(300);
    expect(inOrder(pa)).toBe(true);
    const pb = await store.points(t, (b as Device).id);
    expect(pb).toHaveLength(301);
    expect(pb[0]).toEqual([2, 2, 50]); // the device's ts (2026-01-05) is before the receive times; the later won
    expect(inOrder(pb.slice(1))).toBe(true);
    expect(await metric(t, 'gridhub_telemetry_replaced_points_total')).toBe(1);
  }, 60_000);

  it('under several thousand readings a second for 20 s: points stored = readings accepted', async () => {
    const t = await store.start();
    const devices = t.credentials!.devices.filter((d) => d.type === 'bin');
    expect(devices.length).toBeGreaterThanOrEqual(8);
    const accepted0 = await acceptedBins(t);
    const t0 = Date.now();
    // 8 devices × 50 messages/s × 10 readings = 4 000 readings/s (more with the demo's other bins).
    const perDevice = await load(t, { devices, perSecond: 50, batch: 10, seconds: 20 });
    const seconds = (Date.now() - t0) / 1000;
    const accepted = (await acceptedBins(t)) - accepted0;
    expect(accepted).toBe(perDevice * devices.length);
    let stored = 0;
    for (const d of devices) {
      const points = await store.points(t, d.id);
      if (points.length < 10_000) expect(inOrder(points)).toBe(true);
      const [n] = await t.hub.telemetry.query({
        deviceId: d.id,
        deviceType: 'bin',
        field: 'fill',
        from: 0,
        to: Date.now() + 60_000,
        fn: 'count',
      });
      stored += Number(n?.value ?? 0);
    }
    const written = await metric(t, 'gridhub_telemetry_points_written_total');
    console.log(
      `[${store.name}] ${accepted} readings accepted in ${seconds.toFixed(1)} s (${Math.round(accepted / seconds)}/s), ` +
        `${stored} points stored, points_written_total ${written}`,
    );
    expect(stored).toBe(accepted);
    expect(written).toBeGreaterThanOrEqual(accepted);
  }, 90_000);
});

describe.skipIf(!influxd)('InfluxDB outage under load', () => {
  it('every reading is in InfluxDB, in order, within 10 s of its return', async () => {
    const server = await startInflux();
    const t = await influxStore.start();
    const devices = t.credentials!.devices.filter((d) => d.type === 'bin').slice(0, 4);
    const accepted0 = await acceptedBins(t);
    let stoppedAt = 0;
    let stopping: Promise<void> | undefined;
    let starting: Promise<void> | undefined;
    let back = 0;
    let drained = 0;
    const status = () =>
      (t.hub.telemetry as unknown as { status(): Record<string, number | string> }).status();
    // 4 devices × 50 messages/s × 10 readings = 2 000 readings/s for 12 s; influxd away from 3 s to 7 s.
    const perDevice = await load(t, {
      devices,
      perSecond: 50,
      batch: 10,
      seconds: 12,
      during(ms) {
        if (ms >= 3_000 && !stopping) {
          stoppedAt = Date.now();
          stopping = server.stop();
        }
        if (ms >= 7_000 && stopping && !starting)
          starting = stopping
            .then(() => server.start())
            .then(() => {
              back = Date.now();
            });
        // The spool is empty again: everything published during the outage is in InfluxDB.
        if (back && !drained && status().mode === 'direct') drained = Date.now();
      },
    });
    await starting;
    const total = perDevice * devices.length;
    expect((await acceptedBins(t)) - accepted0).toBe(total);
    // Poll InfluxDB itself until every reading is there (at most 10 s after it answered again).
    const ids = devices.map((d) => `'${d.id}'`).join(' OR device = ');
    let stored = 0;
    while (Date.now() - back < 10_000) {
      const rows = await server.query(`SELECT count(fill) FROM bin WHERE device = ${ids}`, databases.get(t));
      stored = Number(rows[0]?.values[0]?.[1] ?? 0);
      if (stored === total) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const caughtUp = Date.now() - back;
    const st = status();
    console.log(
      `[outage] influxd away ${back - stoppedAt} ms; spool drained ${drained - back} ms after it answered ` +
        `again, under load; ${total} readings, all ${stored} in InfluxDB ${caughtUp} ms after its return (the ` +
        `load ran on until then); spooled ${st.spooled}, replayed ${st.replayed}, dropped ${st.dropped}`,
    );
    expect(drained).toBeGreaterThan(0);
    expect(drained - back).toBeLessThanOrEqual(5_000);
    expect(stored).toBe(total);
    expect(caughtUp).toBeLessThanOrEqual(10_000);
    expect(st.spooled).toBeGreaterThan(0);
    for (const d of devices) expect(inOrder(await influxStore.points(t, d.id))).toBe(true);
  }, 90_000);
});
