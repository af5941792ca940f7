/**
 * Raw throughput of the InfluxDB telemetry sink: readings → line protocol → batches → influxd, measured end to
 * end (until InfluxDB has acknowledged every line), for several batch sizes, with and without gzip.
 *
 *   node --import tsx bench/telemetry-sink.ts [--lines 200000] [--batches 500,1000,2000,5000,10000]
 *   node --import tsx bench/telemetry-sink.ts --outage   (5 000 readings/s for 40 s, influxd killed for 20 s)
 *
 * Starts its own influxd 1.x (GRIDHUB_TEST_INFLUXD or /usr/bin/influxd) on 127.0.0.1 with a temp dir; the
 * sink runs with api v1 (`/write`). The figures sized the defaults in src/telemetry/config.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { Histogram } from 'prom-client';
import { createCatalogue } from '../src/catalogue/catalogue.ts';
import { createSystemClock } from '../src/clock/clock.ts';
import type { TelemetryReading } from '../src/domain/reading.ts';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import { influxConfigSchema, telemetryConfigSchema } from '../src/telemetry/config.ts';
import { createInfluxStore } from '../src/telemetry/influx-store.ts';
import { findInfluxd, startInfluxd } from '../test/telemetry/influxd.ts';

export interface TelemetrySinkBenchRow {
  batchSize: number;
  gzip: boolean;
  lines: number;
  seconds: number;
  linesPerSecond: number;
  requests: number;
  meanRequestMs: number;
}

export interface TelemetrySinkBenchResult {
  influxd: string;
  node: string;
  cpu: string;
  cores: number;
  rows: TelemetrySinkBenchRow[];
}

const DEVICES = 1_000;

export async function runTelemetrySinkBench(
  options: { lines?: number; batchSizes?: number[]; gzip?: boolean[]; report?: (s: string) => void } = {},
): Promise<TelemetrySinkBenchResult> {
  const lines = options.lines ?? 200_000;
  const batchSizes = options.batchSizes ?? [500, 1_000, 2_000, 5_000, 10_000];
  const gzipModes = options.gzip ?? [true, false];
  const say = options.report ?? (() => {});
  const binary = findInfluxd();
  if (!binary) throw new Error('no influxd: apt-get install -y influxdb, or set GRIDHUB_TEST_INFLUXD');
  const dir = mkdtempSync(join(os.tmpdir(), 'gridhub-bench-influx-'));
  const influxd = await startInfluxd(binary, join(dir, 'influxd'));
  const catalogue = createCatalogue();
  const log = pino({ level: 'warn' });
  const rows: TelemetrySinkBenchRow[] = [];
  const place = { street: 'st-01', community: 'co-03', grid: 'gr-12', estate: 'es-07', building: 'bd-21' };
  let t = Date.UTC(2026, 0, 1);
  try {
    await influxd.query('CREATE DATABASE bench');
    for (const gzip of gzipModes) {
      for (const batchSize of batchSizes) {
        const metrics = createMetricsRegistry({ defaultMetrics: false });
        const sink = createInfluxStore({
          influx: influxConfigSchema.parse({
            url: influxd.url,
            api: 'v1',
            database: 'bench',
            batchSize,
            flushInterval: 200,
            maxQueuedLines: Math.max(lines * 2, 100_000),
            gzipThreshold: gzip ? 1_000 : 2 ** 31,
          }),
          telemetry: telemetryConfigSchema.parse({}),
          dataDir: join(dir, `sink-${batchSize}-${gzip}`),
          catalogue,
          log,
          metrics,
          clock: createSystemClock(),
        });
        const reading: TelemetryReading = {
          kind: 'telemetry',
          deviceId: '',
          deviceType: 'smoke',
          placeId: 'bd-21',
          place,
          floor: null,
          ts: 0,
          receivedAt: 0,
          qos: 0,
          values: {},
        };
        const started = performance.now();
        for (let i = 0; i < lines; i++) {
          reading.deviceId = `smoke-${String(i % DEVICES).padStart(5, '0')}`;
          reading.ts = t++;
          reading.values = {
            temperature: 20 + (i % 50) / 10,
            smoke: 0.01,
            alarm: false,
            battery: 87,
            rssi: -71,
          };
          sink.writeReading(reading);
          // Let the sender run, as it would between MQTT messages.
          if (i % 2_000 === 1_999) await new Promise((r) => setImmediate(r));
        }
        if (!(await sink.drained(120_000))) throw new Error('sink did not drain within 120 s');
        const seconds = (performance.now() - started) / 1000;
        const st = sink.status();
        await sink.close();
        if (st.written !== lines || st.spooled !== 0)
          throw new Error(`written ${st.written}, spooled ${st.spooled}`);
        const h = await (
          metrics.getSingleMetric('gridhub_telemetry_write_duration_seconds') as Histogram
        ).get();
        const count = h.values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
        const sum = h.values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
        const row = {
          batchSize,
          gzip,
          lines,
          seconds: Math.round(seconds * 100) / 100,
          linesPerSecond: Math.round(lines / seconds),
          requests: count,
          meanRequestMs: count ? Math.round((sum / count) * 10_000) / 10 : 0,
        };
        rows.push(row);
        say(
          `batch ${String(batchSize).padStart(6)}  gzip ${gzip ? 'on ' : 'off'}  ${String(row.linesPerSecond).padStart(7)} lines/s  ` +
            `${row.requests} requests, mean ${row.meanRequestMs} ms`,
        );
      }
    }
    const stored = await influxd.query('SELECT count("temperature") FROM "smoke"', 'bench');
    const total = Number(stored[0]?.values[0]?.[1] ?? 0);
    if (total !== lines * rows.length)
      throw new Error(`InfluxDB holds ${total} points, expected ${lines * rows.length}`);
  } finally {
    await influxd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    influxd: binary,
    node: process.version,
    cpu: os.cpus()[0]?.model ?? '?',
    cores: os.cpus().length,
    rows,
  };
}

export interface TelemetryOutageBenchResult {
  rate: number;
  seconds: number;
  outageSeconds: number;
  sent: number;
  stored: number;
  spooled: number;
  dropped: number;
  peakSpoolBytes: number;
  /** From InfluxDB's return until the spool was empty again (new lines kept arriving meanwhile). */
  catchUpSeconds: number;
}

/**
 * The design's outage target, scaled in time: readings at `rate` per second for `seconds`, with influxd killed
 * (SIGKILL) from `outageAt` for `outageSeconds`; then every line must be in InfluxDB exactly once.
 */
export async function runTelemetryOutageBench(
  options: { rate?: number; seconds?: number; outageAt?: number; outageSeconds?: number } = {},
): Promise<TelemetryOutageBenchResult> {
  const rate = options.rate ?? 5_000;
  const seconds = options.seconds ?? 40;
  const outageAt = options.outageAt ?? 5;
  const outageSeconds = options.outageSeconds ?? 20;
  const binary = findInfluxd();
  if (!binary) throw new Error('no influxd: apt-get install -y influxdb, or set GRIDHUB_TEST_INFLUXD');
  const dir = mkdtempSync(join(os.tmpdir(), 'gridhub-bench-outage-'));
  const influxd = await startInfluxd(binary, join(dir, 'influxd'));
  const sink = createInfluxStore({
    influx: influxConfigSchema.parse({
      url: influxd.url,
      api: 'v1',
      database: 'bench',
      retryMaxDelay: 2_000,
    }),
    telemetry: telemetryConfigSchema.parse({}),
    dataDir: join(dir, 'sink'),
    catalogue: createCatalogue(),
    log: pino({ level: 'warn' }),
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    clock: createSystemClock(),
  });
  try {
    await influxd.query('CREATE DATABASE bench');
    const t0 = Date.UTC(2026, 0, 1);
    const place = { street: 'st-01', community: 'co-03', grid: 'gr-12', estate: 'es-07', building: 'bd-21' };
    let sent = 0;
    let peak = 0;
    let down = false;
    let backAt = 0;
    let caughtUpAt = 0;
    const start = performance.now();
    for (;;) {
      const elapsed = (performance.now() - start) / 1000;
      if (elapsed >= seconds) break;
      if (!down && !backAt && elapsed >= outageAt) {
        down = true;
        await influxd.stop();
      } else if (down && elapsed >= outageAt + outageSeconds) {
        down = false;
        await influxd.start();
        backAt = performance.now();
      }
      const due = Math.floor(elapsed * rate);
      for (; sent < due; sent++) {
        sink.writeReading({
          kind: 'telemetry',
          deviceId: `smoke-${String(sent % DEVICES).padStart(5, '0')}`,
          deviceType: 'smoke',
          placeId: 'bd-21',
          place,
          floor: null,
          ts: t0 + sent,
          receivedAt: 0,
          qos: 0,
          values: { temperature: 20 + (sent % 50) / 10, battery: sent },
        });
      }
      const st = sink.status();
      peak = Math.max(peak, st.spoolBytes);
      if (backAt && !caughtUpAt && st.mode === 'direct') caughtUpAt = performance.now();
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!(await sink.drained(120_000))) throw new Error('sink did not drain within 120 s');
    if (!caughtUpAt) caughtUpAt = performance.now();
    const st = sink.status();
    const stored = Number(
      (await influxd.query('SELECT count("battery") FROM "smoke"', 'bench'))[0]?.values[0]?.[1] ?? 0,
    );
    return {
      rate,
      seconds,
      outageSeconds,
      sent,
      stored,
      spooled: st.spooled,
      dropped: st.dropped,
      peakSpoolBytes: peak,
      catchUpSeconds: Math.round((caughtUpAt - backAt) / 100) / 10,
    };
  } finally {
    await sink.close();
    await influxd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '200000' },
      batches: { type: 'string' },
      outage: { type: 'boolean', default: false },
    },
  });
  if (values.outage) {
    const r = await runTelemetryOutageBench();
    process.stdout.write(`${JSON.stringify(r)}\n`);
    if (r.stored !== r.sent) process.exitCode = 1;
  } else {
    const result = await runTelemetrySinkBench({
      lines: Number(values.lines),
      ...(values.batches ? { batchSizes: values.batches.split(',').map(Number) } : {}),
      report: (s) => process.stdout.write(`${s}\n`),
    });
    process.stdout.write(
      `node ${result.node}, ${result.cores} × ${result.cpu}, ${result.influxd}; ` +
        `command: node --import tsx bench/telemetry-sink.ts --lines ${values.lines}\n`,
    );
  }
}
