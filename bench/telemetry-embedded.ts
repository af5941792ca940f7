/**
 * Cost per reading of the embedded telemetry store (src/telemetry/embedded-store.ts) with 2 and 20 000 devices,
 * against the schema it replaced (v1: one row per field, keyed (device, field, ts), INSERT OR REPLACE, an index
 * on ts), both on one core in this process, on a real file in a temp dir (WAL, synchronous=NORMAL).
 *
 *   node --import tsx bench/telemetry-embedded.ts [--readings 500000]
 *
 * `npm run bench` calls `runEmbeddedStoreBench()` and writes its figures to the results file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createCatalogue } from '../src/catalogue/catalogue.ts';
import { ManualClock } from '../src/clock/clock.ts';
import type { TelemetryReading } from '../src/domain/reading.ts';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import { openDatabase } from '../src/storage/sqlite.ts';
import { telemetryConfigSchema } from '../src/telemetry/config.ts';
import { createEmbeddedStore } from '../src/telemetry/embedded-store.ts';

export interface EmbeddedStoreBenchRow {
  schema: 'v3 chunks (one row per device and chunk)' | 'v1 (one row per field)';
  devices: number;
  readings: number;
  /** Wall time and this process's CPU time per reading, including the final flush (and merges for v2). */
  usPerReading: number;
  cpuUsPerReading: number;
  /** One device, the whole range: raw points (≤ 10 000) and 1-minute means. */
  queryRawMs?: number;
  queryBucketsMs?: number;
  chunks?: number;
}

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
const place = { street: 'st-01', community: 'co-03', grid: 'gr-12', estate: 'es-07', building: 'bd-21' };

function reading(i: number, devices: number): TelemetryReading {
  // 50 readings per receive millisecond across the devices: hub stamps with tie-breaks, as under load.
  const at = T0 + Math.floor(i / 50);
  return {
    kind: 'telemetry',
    deviceId: `bench-${String(i % devices).padStart(6, '0')}`,
    deviceType: 'bin',
    placeId: 'E1-B1-U1',
    place,
    floor: null,
    ts: at,
    receivedAt: at,
    qos: 0,
    values: { fill: i % 100, temperature: 20 + (i % 7) / 2, tilt: i % 97 === 0, battery: 88 },
  };
}

function timed(run: () => void, n: number): { usPerReading: number; cpuUsPerReading: number } {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  run();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const r = (x: number) => Math.round(x * 100) / 100;
  return { usPerReading: r((wall * 1000) / n), cpuUsPerReading: r((cpu.user + cpu.system) / n) };
}

async function benchV2(dir: string, devices: number, n: number): Promise<EmbeddedStoreBenchRow> {
  const clock = new ManualClock(T0 + n);
  const store = createEmbeddedStore({
    telemetry: telemetryConfigSchema.parse({}),
    dataDir: dir,
    catalogue: createCatalogue(),
    log: pino({ level: 'warn' }),
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    clock,
  });
  const cost = timed(() => {
    for (let i = 0; i < n; i++) store.writeReading(reading(i, devices));
    void store.flush(); // synchronous inside: the batch is written before flush() returns its promise
  }, n);
  const q = {
    deviceId: 'bench-000001',
    deviceType: 'bin' as const,
    field: 'fill',
    from: T0,
    to: T0 + Math.ceil(n / 50),
  };
  let t = performance.now();
  await store.query(q);
  const queryRawMs = Math.round((performance.now() - t) * 100) / 100;
  t = performance.now();
  await store.query({ ...q, everyMs: 60_000, fn: 'mean' });
  const queryBucketsMs = Math.round((performance.now() - t) * 100) / 100;
  const chunks = store.chunkCount();
  await store.close();
  return {
    schema: 'v3 chunks (one row per device and chunk)',
    devices,
    readings: n,
    ...cost,
    queryRawMs,
    queryBucketsMs,
    chunks,
  };
}

/** The v1 write path as it was: rows buffered, 2 000 per transaction, 4 rows for a bin reading. */
async function benchV1(dir: string, devices: number, n: number): Promise<EmbeddedStoreBenchRow> {
  const db = openDatabase(join(dir, 'telemetry-v1.db'));
  db.exec(`CREATE TABLE samples (device TEXT NOT NULL, field TEXT NOT NULL, ts INTEGER NOT NULL, value,
             PRIMARY KEY (device, field, ts)) WITHOUT ROWID;
           CREATE INDEX samples_ts ON samples (ts);`);
  const insert = db.prepare('INSERT OR REPLACE INTO samples (device, field, ts, value) VALUES (?, ?, ?, ?)');
  type Row = [string, string, number, number | string];
  const insertAll = db.transaction((rows: Row[]) => {
    for (const r of rows) insert.run(...r);
  });
  const cost = timed(() => {
    let rows: Row[] = [];
    for (let i = 0; i < n; i++) {
      const r = reading(i, devices);
      for (const [field, v] of Object.entries(r.values))
        rows.push([r.deviceId, field, r.ts, typeof v === 'boolean' ? (v ? 1 : 0) : v]);
      if (rows.length >= 2_000) {
        insertAll(rows);
        rows = [];
      }
    }
    insertAll(rows);
  }, n);
  db.close();
  return { schema: 'v1 (one row per field)', devices, readings: n, ...cost };
}

export async function runEmbeddedStoreBench(
  options: { quick?: boolean; readings?: number; report?: (s: string) => void } = {},
): Promise<{ node: string; cpu: string; rows: EmbeddedStoreBenchRow[]; note: string }> {
  const n = options.readings ?? (options.quick ? 100_000 : 500_000);
  const say = options.report ?? (() => {});
  const rows: EmbeddedStoreBenchRow[] = [];
  for (const devices of [2, 20_000]) {
    for (const run of [benchV2, benchV1]) {
      const dir = mkdtempSync(join(os.tmpdir(), 'gridhub-bench-embedded-'));
      try {
        const row = await run(dir, devices, n);
        rows.push(row);
        say(
          `${row.schema}, ${devices} devices: ${row.usPerReading} µs/reading (cpu ${row.cpuUsPerReading})` +
            (row.chunks !== undefined
              ? `, ${row.chunks} chunks, query raw ${row.queryRawMs} ms, 1-min means ${row.queryBucketsMs} ms`
              : ''),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  return {
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    rows,
    note: 'one process, one core; bin readings (4 fields); wall and CPU time per reading including the final flush',
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { readings: { type: 'string' }, quick: { type: 'boolean' } } });
  const r = await runEmbeddedStoreBench({
    ...(values.readings ? { readings: Number(values.readings) } : {}),
    quick: values.quick ?? false,
    report: (s) => process.stderr.write(`${s}\n`),
  });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
}
