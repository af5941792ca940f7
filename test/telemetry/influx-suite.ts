import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSystemClock } from '../../src/clock/clock.ts';
import type { InfluxConfig } from '../../src/telemetry/config.ts';
import { createInfluxStore, type InfluxStore } from '../../src/telemetry/influx-store.ts';
import {
  alertChange,
  catalogue,
  eventReading,
  influxConfig,
  log,
  metrics,
  smokeReading,
  statusReading,
  telemetryConfig,
  tempDir,
} from './helpers.ts';

/** A running InfluxDB the suite writes to, that it can take away and bring back. */
export interface SuiteServer {
  /** Connection settings of the sink under test (url, api, credentials, database/bucket). */
  influx: Partial<InfluxConfig>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** InfluxQL against the database the sink writes to. */
  query(q: string): Promise<{ columns: string[]; values: unknown[][] }[]>;
}

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
let suites = 0;

/** The InfluxDB sink tests, run against each server kind (local influxd 1.x, influxdb:2.7 container). */
export function influxSinkSuite(name: string, server: () => SuiteServer): void {
  describe(`InfluxDB sink (${name})`, () => {
    // Suites may share a database: each writes its own devices.
    const P = `s${++suites}-`;
    const open: InfluxStore[] = [];
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    function sink(dataDir = tempDir('influx'), over: Partial<InfluxConfig> = {}): InfluxStore {
      const s = createInfluxStore({
        influx: influxConfig({ ...server().influx, ...over }),
        telemetry: telemetryConfig(),
        dataDir,
        catalogue,
        log,
        metrics: metrics(),
        clock: createSystemClock(),
      });
      open.push(s);
      return s;
    }

    async function count(measurement: string, field: string, device: string): Promise<number> {
      const series = await server().query(
        `SELECT count("${field}") FROM "${measurement}" WHERE "device" = '${device}'`,
      );
      return Number(series[0]?.values[0]?.[1] ?? 0);
    }

    it('writes readings and alert changes as the documented points', async () => {
      const s = sink();
      expect(await s.check()).toBeUndefined();
      expect(await sink(undefined, { database: 'nope', bucket: 'nope' }).check()).toMatch(
        /database\/bucket nope: ./,
      );
      s.writeReading(
        smokeReading(`${P}doc-smoke`, T0, { temperature: 21.5, smoke: 0.01, alarm: false, battery: 90 }),
      );
      s.writeReading(eventReading(`${P}doc-cam`, T0 + 1));
      s.writeReading(statusReading(`${P}doc-bin`, T0 + 2));
      s.writeAlertChange(alertChange(`${P}doc-smoke`, T0 + 3));
      await s.flush();

      const [smoke] = await server().query(`SELECT * FROM "smoke" WHERE "device" = '${P}doc-smoke'`);
      expect(smoke).toBeDefined();
      const row = Object.fromEntries(smoke!.columns.map((c, i) => [c, smoke!.values[0]?.[i]]));
      expect(row).toMatchObject({
        time: T0,
        device: `${P}doc-smoke`,
        street: 's1',
        community: 'c1',
        grid: 'g1',
        estate: 'e1',
        building: 'b1',
        temperature: 21.5,
        smoke: 0.01,
        alarm: false,
        battery: 90,
      });
      expect(smoke!.columns).not.toContain('unit');

      const [ev] = await server().query(`SELECT * FROM "events" WHERE "device" = '${P}doc-cam'`);
      const evRow = Object.fromEntries(ev!.columns.map((c, i) => [c, ev!.values[0]?.[i]]));
      expect(evRow).toMatchObject({
        time: T0 + 1,
        type: 'throw_camera',
        event: 'throw_detected',
        building: 'b1',
        count: 1,
        confidence: 0.93,
        floor: 12,
        facade: 'south "A"',
        clipId: 'clip-1',
      });

      const [st] = await server().query(`SELECT * FROM "status" WHERE "device" = '${P}doc-bin'`);
      const stRow = Object.fromEntries(st!.columns.map((c, i) => [c, st!.values[0]?.[i]]));
      expect(stRow).toMatchObject({ time: T0 + 2, online: false, type: 'bin', source: 'will', estate: 'e1' });
      expect(stRow.building ?? null).toBeNull();

      const [al] = await server().query(`SELECT * FROM "alerts" WHERE "device" = '${P}doc-smoke'`);
      const alRow = Object.fromEntries(al!.columns.map((c, i) => [c, al!.values[0]?.[i]]));
      expect(alRow).toMatchObject({
        time: T0 + 3,
        severity: 'critical',
        category: 'fire',
        change: 'acknowledged',
        status: 'acknowledged',
        alert_id: 'a-42',
        age_s: 42.5,
        grid: 'g1',
      });
    });

    it('stores every reading as its own point: a burst in one millisecond, an array without ts, in order', async () => {
      const s = sink();
      const device = `${P}burst-smoke`;
      // 500 readings received in one millisecond (a burst, or one array payload without ts), then the device's
      // own ts twice: the same instant by its word, so one point, the later values, and counted.
      for (let i = 0; i < 500; i++) s.writeReading(smokeReading(device, T0, { temperature: i }));
      s.writeReading({ ...smokeReading(device, T0 + 10, { temperature: 1000 }), deviceTs: true });
      s.writeReading({ ...smokeReading(device, T0 + 10, { temperature: 1001 }), deviceTs: true });
      await s.flush();
      expect(await count('smoke', 'temperature', device)).toBe(501);
      const [series] = await server().query(
        `SELECT "temperature" FROM "smoke" WHERE "device" = '${device}' ORDER BY time`,
      );
      expect(series?.values.map((v) => v[1])).toEqual([...Array.from({ length: 500 }, (_, i) => i), 1001]);
      expect(s.status()).toMatchObject({ written: 502, replaced: 1, dropped: 0 });
    });

    it('answers queries with raw points and each aggregate', async () => {
      const s = sink();
      // Two 1-minute buckets: 10, 20, 30 then 40, 50.
      [10, 20, 30, 40, 50].forEach((t, i) => {
        s.writeReading(smokeReading(`${P}q-smoke`, T0 + i * 20_000, { temperature: t }));
      });
      await s.flush();
      const base = {
        deviceId: `${P}q-smoke`,
        deviceType: 'smoke' as const,
        field: 'temperature',
        from: T0,
        to: T0 + 120_000,
      };
      expect(await s.query(base)).toEqual(
        [10, 20, 30, 40, 50].map((value, i) => ({ ts: T0 + i * 20_000, value })),
      );
      const every = 60_000;
      expect(await s.query({ ...base, everyMs: every, fn: 'mean' })).toEqual([
        { ts: T0, value: 20 },
        { ts: T0 + every, value: 45 },
      ]);
      expect((await s.query({ ...base, everyMs: every, fn: 'min' })).map((p) => p.value)).toEqual([10, 40]);
      expect((await s.query({ ...base, everyMs: every, fn: 'max' })).map((p) => p.value)).toEqual([30, 50]);
      expect((await s.query({ ...base, everyMs: every, fn: 'last' })).map((p) => p.value)).toEqual([30, 50]);
      expect((await s.query({ ...base, everyMs: every, fn: 'count' })).map((p) => p.value)).toEqual([3, 2]);
      expect(await s.query({ ...base, fn: 'max' })).toEqual([{ ts: T0, value: 50 }]);
    });

    it('dead-letters a line InfluxDB refuses and writes the rest of its batch', async () => {
      const dataDir = tempDir('influx-dl');
      const s = sink(dataDir);
      s.writeReading(smokeReading(`${P}dl-smoke`, T0, { temperature: 20 }));
      await s.flush();
      // A string where the series already has a float: InfluxDB answers 400 (1.x) / 422 (2.x) field type conflict.
      for (let i = 1; i <= 20; i++) {
        const values = i === 7 ? { temperature: 'hot' } : { temperature: 20 + i };
        s.writeReading(smokeReading(`${P}dl-smoke`, T0 + i * 1000, values));
      }
      await s.flush();
      expect(await count('smoke', 'temperature', `${P}dl-smoke`)).toBe(20);
      const file = join(dataDir, 'spool', 'dead-letter.jsonl');
      const entries = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(entries).toHaveLength(1);
      expect(entries[0]?.line).toContain('temperature="hot"');
      expect([400, 422]).toContain(entries[0]?.status);
      expect(String(entries[0]?.reason)).toMatch(/conflict/);
      expect(s.status()).toMatchObject({ deadLettered: 1, spoolBytes: 0 });
    });

    it('spools through an outage and replays every line exactly once', async () => {
      const s = sink();
      const N = 3000;
      const device = `${P}outage-smoke`;
      let sent = 0;
      const send = async (n: number) => {
        for (let k = 0; k < n; k++, sent++) {
          s.writeReading(
            smokeReading(device, T0 + sent * 1000, { temperature: sent % 100, battery: sent / N }),
          );
          if (sent % 100 === 99) await new Promise((r) => setTimeout(r, 10));
        }
      };
      await send(1000);
      await server().stop();
      await send(1000);
      const during = s.status();
      expect(during.mode).toBe('spooling');
      expect(during.spoolBytes).toBeGreaterThan(0);
      await server().start();
      await send(N - 2000);
      expect(await s.drained(30_000)).toBe(true);
      const st = s.status();
      const stored = await count('smoke', 'temperature', device);
      console.log(
        `[outage ${name}] sent=${N} stored=${stored} written=${st.written} spooled=${st.spooled} ` +
          `replayed=${st.replayed} dropped=${st.dropped} (spool at stop+1000: ${during.spoolBytes} B)`,
      );
      expect(stored).toBe(N);
      expect(st.dropped).toBe(0);
      expect(st.spooled).toBeGreaterThan(0);
      for (const i of [0, 999, 1000, 1500, 1999, 2000, N - 1]) {
        const [series] = await server().query(
          `SELECT "temperature", "battery" FROM "smoke" WHERE "device" = '${device}' AND time >= ${T0 + i * 1000}ms AND time < ${T0 + i * 1000 + 1}ms`,
        );
        expect(series?.values).toEqual([[T0 + i * 1000, i % 100, i / N]]);
      }
    });

    it('keeps the spool across a sink restart and replays it at the next start', async () => {
      const dataDir = tempDir('influx-restart');
      const first = sink(dataDir);
      const device = `${P}restart-smoke`;
      await server().stop();
      try {
        for (let i = 0; i < 700; i++)
          first.writeReading(smokeReading(device, T0 + i * 1000, { temperature: i }));
        await first.flush();
        await first.close();
      } finally {
        await server().start();
      }
      const segments = readdirSync(join(dataDir, 'spool')).filter((f) => f.endsWith('.lp'));
      expect(segments.length).toBeGreaterThan(0);
      expect(await count('smoke', 'temperature', device)).toBe(0);

      const second = sink(dataDir);
      expect(second.status().mode).toBe('spooling');
      second.writeReading(smokeReading(device, T0 + 700_000, { temperature: 700 }));
      expect(await second.drained(20_000)).toBe(true);
      expect(await count('smoke', 'temperature', device)).toBe(701);
      expect(second.status()).toMatchObject({ replayed: 701, spoolBytes: 0 });
      expect(readdirSync(join(dataDir, 'spool')).filter((f) => f.endsWith('.lp'))).toEqual([]);
      expect(existsSync(join(dataDir, 'spool', 'cursor.json'))).toBe(true);
    });
  });
}
