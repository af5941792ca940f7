import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock, TimerHandle } from '../clock/clock.ts';
import type { AlertChangePoint, TelemetryPoint, TelemetryReader, TelemetrySink } from '../domain/ports.ts';
import type { Reading } from '../domain/reading.ts';
import { type Db, migrate, openDatabase } from '../storage/sqlite.ts';
import type { TelemetryConfig } from './config.ts';
import { createTelemetryMetrics } from './metrics.ts';
import { MAX_POINTS, resolveQuery } from './query.ts';

export interface EmbeddedStoreDeps {
  telemetry: TelemetryConfig;
  dataDir: string;
  catalogue: Catalogue;
  log: Logger;
  metrics: Registry;
  clock: Clock;
}

export interface EmbeddedStore extends TelemetrySink, TelemetryReader {
  readonly kind: 'embedded';
  /** Always undefined: the file is opened at creation (an unwritable data dir throws there). */
  check(): Promise<string | undefined>;
  /** Delete rows older than `retention` (also runs every `pruneInterval`); returns rows deleted. */
  prune(): number;
}

const MIGRATIONS = [
  // One narrow row per field value: queries are always (device, field, time range). SQLite keeps each value's
  // own type (REAL, INTEGER for booleans as 0/1, TEXT). Same key = same point, as in InfluxDB.
  `CREATE TABLE samples (
     device TEXT NOT NULL, field TEXT NOT NULL, ts INTEGER NOT NULL, value,
     PRIMARY KEY (device, field, ts)) WITHOUT ROWID;
   CREATE INDEX samples_ts ON samples (ts);`,
];

type Row = [device: string, field: string, ts: number, value: number | string];

/**
 * The telemetry store of `npm start` without InfluxDB: `<dataDir>/telemetry.db`, separate from the main
 * database so that telemetry volume never slows alert and registry writes. It keeps each reading's telemetry
 * fields (what the charts query); events, status and alert changes live in the main stores.
 */
export function createEmbeddedStore(deps: EmbeddedStoreDeps): EmbeddedStore {
  const { telemetry: cfg, catalogue, clock } = deps;
  const log = deps.log.child({ module: 'telemetry', store: 'embedded' });
  const m = createTelemetryMetrics(deps.metrics);
  const db: Db = openDatabase(join(deps.dataDir, 'telemetry.db'));
  migrate(db, 'telemetry', MIGRATIONS);
  const insert = db.prepare<Row>(
    'INSERT OR REPLACE INTO samples (device, field, ts, value) VALUES (?, ?, ?, ?)',
  );
  const insertAll = db.transaction((rows: Row[]) => {
    for (const r of rows) insert.run(...r);
  });
  const deleteOld = db.prepare<[number]>('DELETE FROM samples WHERE ts < ?');

  let rows: Row[] = [];
  let flushTimer: TimerHandle | undefined;
  let pruneTimer: TimerHandle | undefined;
  let closed = false;

  function flushNow(): void {
    if (flushTimer) clock.clearTimeout(flushTimer);
    flushTimer = undefined;
    if (rows.length === 0) return;
    const batch = rows;
    rows = [];
    const end = m.writeDuration.startTimer();
    try {
      insertAll(batch);
      m.writtenLines.inc({ store: 'embedded' }, batch.length);
    } catch (err) {
      m.writeFailures.inc({ status: 'sqlite' });
      m.droppedLines.inc({ reason: 'sqlite_error' }, batch.length);
      log.error({ err, rows: batch.length }, 'embedded telemetry insert failed; rows dropped');
    } finally {
      end();
      m.queuedLines.set(rows.length);
    }
  }

  function prune(): number {
    flushNow();
    const n = deleteOld.run(clock.now() - cfg.retention).changes;
    if (n > 0) log.info({ rows: n, retentionMs: cfg.retention }, 'pruned old telemetry');
    return n;
  }

  function schedulePrune(): void {
    pruneTimer = clock.setTimeout(() => {
      try {
        prune();
      } catch (err) {
        log.error({ err }, 'telemetry prune failed');
      }
      if (!closed) schedulePrune();
    }, cfg.pruneInterval);
  }
  prune();
  schedulePrune();

  function add(reading: Reading): void {
    if (closed || reading.kind !== 'telemetry') return;
    for (const [field, v] of Object.entries(reading.values)) {
      if (typeof v === 'number' && !Number.isFinite(v)) continue;
      rows.push([reading.deviceId, field, Math.trunc(reading.ts), typeof v === 'boolean' ? (v ? 1 : 0) : v]);
    }
    if (rows.length >= cfg.embeddedBatchSize) flushNow();
    else if (!flushTimer && rows.length > 0)
      flushTimer = clock.setTimeout(flushNow, cfg.embeddedFlushInterval);
    m.queuedLines.set(rows.length);
  }

  const base = 'FROM samples WHERE device = ? AND field = ? AND ts >= ? AND ts <= ?';
  const SQL_AGG = {
    mean: 'AVG(value)',
    min: 'MIN(value)',
    max: 'MAX(value)',
    count: 'COUNT(value)',
    last: 'value',
  };

  return {
    kind: 'embedded',
    writeReading: add,
    writeAlertChange(_change: AlertChangePoint) {
      // Alert history is the alert store's timeline; only InfluxDB gets the `alerts` measurement for Grafana.
    },
    async flush() {
      flushNow();
    },
    prune,
    check: async () => undefined,
    async query(q) {
      const r = resolveQuery(q, catalogue);
      flushNow();
      const decode = (v: unknown): TelemetryPoint['value'] =>
        v === null || v === undefined
          ? null
          : r.spec.kind === 'boolean' && r.agg !== 'count'
            ? v === 1
            : (v as number | string);
      const params = [q.deviceId, q.field, Math.trunc(q.from), Math.trunc(q.to)];
      if (!r.agg) {
        return db
          .prepare<unknown[], { ts: number; value: unknown }>(
            `SELECT ts, value ${base} ORDER BY ts LIMIT ${MAX_POINTS}`,
          )
          .all(...params)
          .map((row) => ({ ts: row.ts, value: decode(row.value) }));
      }
      // `last`: SQLite takes a bare column from the row that holds MAX(ts).
      const select = `${SQL_AGG[r.agg]} AS value, COUNT(value) AS n${r.agg === 'last' ? ', MAX(ts)' : ''}`;
      if (q.everyMs === undefined) {
        const row = db
          .prepare<unknown[], { value: unknown; n: number }>(`SELECT ${select} ${base}`)
          .get(...params);
        return row && row.n > 0 ? [{ ts: Math.trunc(q.from), value: decode(row.value) }] : [];
      }
      // Buckets aligned to the epoch, empty ones left out: the same as InfluxQL GROUP BY time(...) fill(none).
      const every = Math.trunc(q.everyMs);
      return db
        .prepare<unknown[], { b: number; value: unknown }>(
          `SELECT ts - (ts % ${every}) AS b, ${select} ${base} GROUP BY b ORDER BY b`,
        )
        .all(...params)
        .map((row) => ({ ts: row.b, value: decode(row.value) }));
    },
    async close() {
      if (closed) return;
      flushNow();
      closed = true;
      if (pruneTimer) clock.clearTimeout(pruneTimer);
      db.close();
    },
  };
}
