import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock, TimerHandle } from '../clock/clock.ts';
import type {
  Aggregate,
  AlertChangePoint,
  TelemetryPoint,
  TelemetryReader,
  TelemetrySink,
} from '../domain/ports.ts';
import type { Reading, TelemetryReading } from '../domain/reading.ts';
import { type Db, migrate, openDatabase } from '../storage/sqlite.ts';
import type { TelemetryConfig } from './config.ts';
import { createTelemetryMetrics } from './metrics.ts';
import { MAX_POINTS, resolveQuery } from './query.ts';
import { createStamper } from './timestamps.ts';

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
  /** Delete points older than `retention` (also runs every `pruneInterval`); returns points deleted. */
  prune(): number;
  /** Chunks by level, for tests and the bench: how many seeks a query of the whole range costs. */
  chunkCount(): number;
}

/** Chunks of one level merged into one of the next once there are this many. */
const MERGE_FAN_IN = 16;
/** Chunks of this level are never merged further (retention deletes them). */
const TOP_LEVEL = 3;
/** Chunk ids of new batches step by this, leaving room for the merged chunks just above their newest source. */
const ID_STEP = 16;

const MIGRATIONS = [
  // v1: one narrow row per field value, keyed (device, field, ts).
  `CREATE TABLE samples (
     device TEXT NOT NULL, field TEXT NOT NULL, ts INTEGER NOT NULL, value,
     PRIMARY KEY (device, field, ts)) WITHOUT ROWID;
   CREATE INDEX samples_ts ON samples (ts);`,
  // v2: one row per reading, in chunks (see createEmbeddedStore). The v1 rows of one (device, ts) become one
  // point at ns 0 (they were the fields of one reading); booleans were 0/1 and stay so, which reads the same.
  `CREATE TABLE points (
     chunk INTEGER NOT NULL, device TEXT NOT NULL, ts INTEGER NOT NULL, ns INTEGER NOT NULL, vals TEXT NOT NULL,
     PRIMARY KEY (chunk, device, ts, ns)) WITHOUT ROWID;
   CREATE TABLE chunks (
     id INTEGER PRIMARY KEY, level INTEGER NOT NULL, min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL,
     rows INTEGER NOT NULL);
   INSERT INTO points (chunk, device, ts, ns, vals)
     SELECT 0, device, ts, 0, json_group_object(field, value) FROM samples GROUP BY device, ts;
   INSERT INTO chunks (id, level, min_ts, max_ts, rows)
     SELECT 0, ${TOP_LEVEL}, MIN(ts), MAX(ts), COUNT(*) FROM points WHERE chunk = 0 HAVING COUNT(*) > 0;
   DROP TABLE samples;`,
];

type Values = TelemetryReading['values'];
type Row = [device: string, ts: number, ns: number, vals: Values];

interface Chunk {
  id: number;
  level: number;
  min_ts: number;
  max_ts: number;
  rows: number;
}

const byKey = (a: Row, b: Row) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1] || a[2] - b[2]);

interface Scanned {
  ts: number;
  ns: number;
  chunk: number;
  v: number | string;
}

interface Bucket {
  sum: number;
  n: number;
  min: number | string;
  max: number | string;
  /** ts × 10⁶ + ns of the latest point, and its value. */
  lastAt: number;
  last: number | string;
}

interface SqlBucket {
  b: number;
  n: number;
  sum?: number;
  min?: number | string;
  max?: number | string;
  last?: number | string;
  lastAt?: number;
}

function fromSql(b: SqlBucket): Bucket {
  const any = (b.last ?? b.min ?? 0) as number | string;
  return {
    sum: b.sum ?? 0,
    n: b.n,
    min: b.min ?? any,
    max: b.max ?? any,
    lastAt: b.lastAt ?? 0,
    last: b.last ?? any,
  };
}

/**
 * Fold device-timed rows (ns = 0) into the buckets: they may repeat across chunks, so each time's newest chunk
 * wins before it is counted.
 */
function aggregate(buckets: Map<number, Bucket>, rows: Scanned[], bucketOf: (ts: number) => number): void {
  const add = (ts: number, ns: number, v: number | string) => {
    const key = bucketOf(ts);
    const at = ts * 1_000_000 + ns;
    const b = buckets.get(key);
    if (!b) {
      buckets.set(key, { sum: typeof v === 'number' ? v : 0, n: 1, min: v, max: v, lastAt: at, last: v });
      return;
    }
    if (typeof v === 'number') b.sum += v;
    b.n++;
    if (v < b.min) b.min = v;
    if (v > b.max) b.max = v;
    if (at >= b.lastAt) {
      b.lastAt = at;
      b.last = v;
    }
  };
  const newest = new Map<number, Scanned>();
  for (const row of rows) {
    const seen = newest.get(row.ts);
    if (!seen || row.chunk > seen.chunk) newest.set(row.ts, row);
  }
  for (const row of newest.values()) add(row.ts, 0, row.v);
}

function finish(b: Bucket, agg: Aggregate, decode: (v: unknown) => TelemetryPoint['value']) {
  switch (agg) {
    case 'mean':
      return b.sum / b.n;
    case 'count':
      return b.n;
    case 'min':
      return decode(b.min);
    case 'max':
      return decode(b.max);
    case 'last':
      return decode(b.last);
  }
}

function finite(values: TelemetryReading['values']): boolean {
  for (const k in values) {
    const v = values[k];
    if (typeof v === 'number' && !Number.isFinite(v)) return false;
  }
  return true;
}

/**
 * The telemetry store of `npm start` without InfluxDB: `<dataDir>/telemetry.db`, separate from the main
 * database so that telemetry volume never slows alert and registry writes. It keeps each reading's telemetry
 * values (what the charts query); events, status and alert changes live in the main stores.
 *
 * One row per reading — `(chunk, device, ts, ns) → vals` (JSON) — with the same point rule as InfluxDB: a
 * hub-stamped reading gets a nanosecond `ns` no other reading of its device has; a device-given `ts` is kept
 * and a repeat of it replaces the earlier point (newest chunk wins).
 *
 * Why chunks: a key that starts with the device makes every insert land beside that device's previous rows, a
 * random B-tree position once there are many devices (92 µs a reading with 2 000 devices, issue #19). Here each
 * buffered batch is sorted and written as a new chunk whose id is above every other, so each insert appends at
 * the right edge of the tree whatever the number of devices. A query seeks once per chunk overlapping its time
 * range; to keep that count small, every 16 chunks of one level are merged (sorted, again appended) into one
 * of the next level, up to level 3. Merges that would rewrite more than `embeddedMergeMaxRows` rows are not
 * done — those chunks are already large and move up a level as they are — so no merge stalls ingest for long.
 * Levels are ordered by age (a higher level holds older data) and a merged chunk takes the id just above its
 * newest source, so "the newest chunk wins" stays true for repeated timestamps. Retention drops whole chunks.
 */
export function createEmbeddedStore(deps: EmbeddedStoreDeps): EmbeddedStore {
  const { telemetry: cfg, catalogue, clock } = deps;
  const log = deps.log.child({ module: 'telemetry', store: 'embedded' });
  const m = createTelemetryMetrics(deps.metrics);
  const readingsCell = m.readings.labels({ store: 'embedded' });
  const replacedCell = m.replacedPoints.labels({ store: 'embedded' });
  // WAL checkpoints on a worker thread, off the event loop the alarms share (src/storage/checkpointer.ts)
  const db: Db = openDatabase(join(deps.dataDir, 'telemetry.db'), { checkpoints: 'background' });
  migrate(db, 'telemetry', MIGRATIONS);
  const stamper = createStamper();

  const insert = db.prepare<[chunk: number, device: string, ts: number, ns: number, vals: string]>(
    'INSERT OR REPLACE INTO points (chunk, device, ts, ns, vals) VALUES (?, ?, ?, ?, ?)',
  );
  const insertChunk = db.prepare<[number, number, number, number, number]>(
    'INSERT INTO chunks (id, level, min_ts, max_ts, rows) VALUES (?, ?, ?, ?, ?)',
  );
  const chunksOfLevel = db.prepare<[number], Chunk>('SELECT * FROM chunks WHERE level = ? ORDER BY id');
  const lastId = (): number =>
    db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM chunks').get()?.id ?? 0;
  let nextId = Math.ceil((lastId() + 1) / ID_STEP) * ID_STEP;

  const writeBatch = db.transaction((rows: Row[]) => {
    const id = nextId;
    nextId += ID_STEP;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const r of rows) {
      insert.run(id, r[0], r[1], r[2], JSON.stringify(r[3]));
      if (r[1] < min) min = r[1];
      if (r[1] > max) max = r[1];
    }
    insertChunk.run(id, 0, min, max, rows.length);
  });

  /** Merge (or move up) full levels; runs after each batch, inside its own transactions. */
  function compact(): void {
    for (let level = 0; level < TOP_LEVEL; level++) {
      const chunks = chunksOfLevel.all(level);
      if (chunks.length < MERGE_FAN_IN) return;
      const ids = chunks.map((c) => c.id);
      const total = chunks.reduce((n, c) => n + c.rows, 0);
      const list = ids.join(',');
      if (total > cfg.embeddedMergeMaxRows) {
        db.prepare(`UPDATE chunks SET level = ? WHERE id IN (${list})`).run(level + 1);
        continue;
      }
      const id = (ids.at(-1) as number) + 1;
      db.transaction(() => {
        // Sorted by key, the newest chunk last: a repeated timestamp merges into one point, newer fields winning.
        db.prepare(
          `INSERT INTO points (chunk, device, ts, ns, vals)
           SELECT ?, device, ts, ns, vals FROM points WHERE chunk IN (${list}) ORDER BY device, ts, ns, chunk
           ON CONFLICT (chunk, device, ts, ns) DO UPDATE SET vals = json_patch(vals, excluded.vals)`,
        ).run(id);
        db.prepare(`DELETE FROM points WHERE chunk IN (${list})`).run();
        db.prepare(`DELETE FROM chunks WHERE id IN (${list})`).run();
        const rows =
          db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM points WHERE chunk = ?').get(id)
            ?.n ?? 0;
        insertChunk.run(
          id,
          level + 1,
          Math.min(...chunks.map((c) => c.min_ts)),
          Math.max(...chunks.map((c) => c.max_ts)),
          rows,
        );
      })();
    }
  }

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
      // Array.prototype.sort is stable: of two rows with one key (a repeated device ts), the later comes last
      // and its fields win over the earlier's, which is how InfluxDB merges a point written twice.
      batch.sort(byKey);
      const merged: Row[] = [];
      for (const r of batch) {
        const prev = merged.at(-1);
        if (prev && prev[0] === r[0] && prev[1] === r[1] && prev[2] === r[2])
          prev[3] = { ...prev[3], ...r[3] };
        else merged.push(r);
      }
      writeBatch(merged);
      m.writtenLines.inc({ store: 'embedded' }, batch.length);
      m.pointsWritten.inc({ store: 'embedded' }, batch.length);
    } catch (err) {
      m.writeFailures.inc({ status: 'sqlite' });
      m.droppedLines.inc({ reason: 'sqlite_error' }, batch.length);
      log.error({ err, rows: batch.length }, 'embedded telemetry insert failed; rows dropped');
      return;
    } finally {
      end();
      m.queuedLines.set(rows.length);
    }
    try {
      compact();
    } catch (err) {
      // The batch is stored; a merge that failed leaves its chunks as they were and is tried after the next.
      log.error({ err }, 'embedded telemetry merge failed');
    }
  }

  function prune(): number {
    flushNow();
    const cutoff = clock.now() - cfg.retention;
    let n = 0;
    db.transaction(() => {
      const old = db
        .prepare<[number], Chunk>('SELECT * FROM chunks WHERE min_ts < ? ORDER BY id')
        .all(cutoff);
      for (const c of old) {
        if (c.max_ts < cutoff) {
          n += db.prepare<[number]>('DELETE FROM points WHERE chunk = ?').run(c.id).changes;
          db.prepare<[number]>('DELETE FROM chunks WHERE id = ?').run(c.id);
          continue;
        }
        const gone = db
          .prepare<[number, number]>('DELETE FROM points WHERE chunk = ? AND ts < ?')
          .run(c.id, cutoff).changes;
        n += gone;
        db.prepare<[number, number, number]>(
          'UPDATE chunks SET min_ts = ?, rows = rows - ? WHERE id = ?',
        ).run(cutoff, gone, c.id);
      }
    })();
    if (n > 0) log.info({ points: n, retentionMs: cfg.retention }, 'pruned old telemetry');
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
    readingsCell.inc();
    if (!finite(reading.values)) {
      // The same refusal as the line-protocol encoder (NON_FINITE_NUMBER): never store something else.
      m.droppedLines.inc({ reason: 'unwritable' });
      log.warn({ deviceId: reading.deviceId, reason: 'NON_FINITE_NUMBER' }, 'reading not stored');
      return;
    }
    const t = stamper.stamp(reading.deviceId, reading.ts, reading.receivedAt, reading.deviceTs === true);
    if (t.replaces) replacedCell.inc();
    rows.push([reading.deviceId, t.ms, t.ns, reading.values]);
    if (rows.length >= cfg.embeddedBatchSize) flushNow();
    else if (!flushTimer) flushTimer = clock.setTimeout(flushNow, cfg.embeddedFlushInterval);
    m.queuedLines.set(rows.length);
  }

  // One field of one device over a time range, from every chunk that overlaps it. Only device-given times
  // (ns = 0) can repeat across chunks; the newest chunk's value wins, as in a point InfluxDB merged.
  const range = `FROM points
      WHERE chunk IN (SELECT id FROM chunks WHERE max_ts >= ? AND min_ts <= ?)
        AND device = ? AND ts >= ? AND ts <= ? AND v IS NOT NULL`;
  const rawPoints = db.prepare<unknown[], Scanned>(
    `SELECT ts, ns, chunk, json_extract(vals, ?) AS v ${range} ORDER BY ts, ns, chunk`,
  );
  // Hub-stamped points (ns > 0) are unique by construction: SQLite folds them per bucket without a row
  // reaching JavaScript. Device-timed ones (ns = 0) are deduplicated here first (see `aggregate`).
  const bucketed = (fold: string) =>
    db.prepare<unknown[], SqlBucket>(
      `SELECT ts - (ts % ?) AS b, ${fold} FROM (SELECT ts, ns, json_extract(vals, ?) AS v ${range} AND ns > 0)
       GROUP BY b`,
    );
  const foldStats = bucketed('SUM(v) AS sum, COUNT(v) AS n, MIN(v) AS min, MAX(v) AS max');
  // SQLite takes a bare column (v) from the row that holds the one MAX() of the query.
  const foldLast = bucketed('COUNT(v) AS n, v AS last, MAX(ts * 1000000 + ns) AS lastAt');
  const deviceTimed = db.prepare<unknown[], Scanned>(
    `SELECT ts, ns, chunk, json_extract(vals, ?) AS v ${range} AND ns = 0`,
  );

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
    chunkCount: () => db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM chunks').get()?.n ?? 0,
    check: async () => undefined,
    async query(q) {
      const r = resolveQuery(q, catalogue);
      flushNow();
      const decode = (v: unknown): TelemetryPoint['value'] =>
        r.spec.kind === 'boolean' ? v === 1 || v === true : (v as number | string);
      const from = Math.trunc(q.from);
      const to = Math.trunc(q.to);
      const params = [`$."${q.field}"`, from, to, q.deviceId, from, to];
      if (!r.agg) {
        const out: TelemetryPoint[] = [];
        let prev: Scanned | undefined;
        for (const row of rawPoints.iterate(...params)) {
          if (prev && prev.ts === row.ts && prev.ns === row.ns) {
            (out.at(-1) as TelemetryPoint).value = decode(row.v); // a newer chunk's value for the same point
            continue;
          }
          if (out.length >= MAX_POINTS) break;
          out.push({ ts: row.ts, value: decode(row.v) });
          prev = row;
        }
        return out;
      }
      // Without `every`, one bucket for the whole range: width beyond it, aligned so that it starts at `from`.
      const every = q.everyMs === undefined ? undefined : Math.trunc(q.everyMs);
      const width = every ?? Number.MAX_SAFE_INTEGER;
      const bucketOf = (ts: number) => (every === undefined ? from : ts - (ts % every));
      const buckets = new Map<number, Bucket>();
      const fold = r.agg === 'last' ? foldLast : foldStats;
      for (const b of fold.all(width, ...params)) {
        if (b.n > 0) buckets.set(bucketOf(b.b), fromSql(b));
      }
      aggregate(buckets, deviceTimed.all(...params), bucketOf);
      return [...buckets.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([ts, b]) => ({ ts, value: finish(b, r.agg as Aggregate, decode) }));
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
