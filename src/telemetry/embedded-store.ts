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
import { startMerger } from './merger.ts';
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
/**
 * A burst that ends leaves a partial batch: once at least QUIET_MIN_READINGS wait and none came for QUIET_MS,
 * they are written then instead of at `embeddedFlushInterval` (1 s), so that what a burst brought is stored
 * within ~0.1 s of its end. Steady traffic has no such pause and still fills whole batches; a trickle (under
 * ~100 readings a second) never reaches the minimum and keeps one chunk per interval, so chunks stay few.
 */
const QUIET_MS = 50;
/**
 * Batches held in memory while a merge runs before they are written all the same (flushNow), which then waits
 * for the merge's lock on the event loop the alarms share. 32 batches (64 000 readings by default, some 10 MB)
 * against 4: at half load (60 000 msg/s, 2 runs each) the slowest flush 18–21 ms against 28–39 ms, and the
 * alarm p99 20–21 ms against 34–41 ms.
 */
const MERGE_HOLD_BATCHES = 32;
const QUIET_MIN_READINGS = 100;

/** The store's schema, version by version (exported so a test can build an older one and upgrade it). */
export const TELEMETRY_MIGRATIONS = [
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
  // v3: one row per device and chunk, its readings one JSON array (see createEmbeddedStore). The points of a
  // v2 (chunk, device) become its entries in key order; `chunks.rows` counted points and still does.
  `CREATE TABLE series (
     chunk INTEGER NOT NULL, device TEXT NOT NULL, min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL,
     n INTEGER NOT NULL, pts TEXT NOT NULL,
     PRIMARY KEY (chunk, device)) WITHOUT ROWID;
   INSERT INTO series (chunk, device, min_ts, max_ts, n, pts)
     SELECT chunk, device, MIN(ts), MAX(ts), COUNT(*),
            group_concat(ts || ',' || ns || ',' || vals, ',' ORDER BY ts, ns)
     FROM points GROUP BY chunk, device;
   DROP TABLE points;`,
];

type Values = TelemetryReading['values'];

interface Chunk {
  id: number;
  level: number;
  min_ts: number;
  max_ts: number;
  rows: number;
}

/** The readings of one device in one batch, on their way to one `series` row. */
interface Pending {
  /** `ts,ns,{values}` per reading, in arrival order: the inside of the row's JSON array. */
  parts: string[];
  min: number;
  max: number;
}

/** One stored entry of a queried field: its time, its value and where it came in (later wins a repeat). */
interface Entry {
  ts: number;
  ns: number;
  seq: number;
  v: number | string | boolean;
}

const byTime = (a: Entry, b: Entry) => a.ts - b.ts || a.ns - b.ns || a.seq - b.seq;

interface Bucket {
  sum: number;
  n: number;
  min: number | string | boolean;
  max: number | string | boolean;
  last: number | string | boolean;
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

function finite(values: Values): boolean {
  for (const k in values) {
    const v = values[k];
    if (typeof v === 'number' && !Number.isFinite(v)) return false;
  }
  return true;
}

/** `"name":` of each field name seen, so that a reading's values are written without JSON.stringify. */
const keyText = new Map<string, string>();
/** Field names are the catalogue's (validated at ingest): a few dozen. The bound is only a guard. */
const KEY_TEXT_MAX = 4096;

/**
 * A reading's values as JSON text, the same as JSON.stringify gives for them (finite numbers, booleans and
 * strings), at about a third of its cost: on this path it ran for every reading.
 */
function valuesJson(values: Values): string {
  let s = '{';
  for (const k in values) {
    const v = values[k];
    let key = keyText.get(k);
    if (key === undefined) {
      key = `${JSON.stringify(k)}:`;
      if (keyText.size < KEY_TEXT_MAX) keyText.set(k, key);
    }
    if (s.length > 1) s += ',';
    s += key + (typeof v === 'string' ? JSON.stringify(v) : String(v));
  }
  return `${s}}`;
}

/**
 * The entries of `field` in one row's array (`[ts, ns, {values}, ts, ns, {values}, …]`) within [from, to],
 * appended to `out`. A reading without the field is no point of it, as in InfluxDB.
 */
function collect(pts: string, field: string, from: number, to: number, out: Entry[]): void {
  const a = JSON.parse(`[${pts}]`) as (number | Values)[];
  for (let i = 0; i + 2 < a.length; i += 3) {
    const ts = a[i] as number;
    if (ts < from || ts > to) continue;
    const v = (a[i + 2] as Values)[field];
    if (v === undefined || v === null) continue;
    out.push({ ts, ns: a[i + 1] as number, seq: out.length, v });
  }
}

/**
 * The telemetry store of `npm start` without InfluxDB: `<dataDir>/telemetry.db`, separate from the main
 * database so that telemetry volume never slows alert and registry writes. It keeps each reading's telemetry
 * values (what the charts query); events, status and alert changes live in the main stores.
 *
 * One row per device and chunk — `(chunk, device) → [ts, ns, {values}, …]` (JSON, in arrival order) — with the
 * same point rule as InfluxDB: a hub-stamped reading gets a nanosecond `ns` no other reading of its device has;
 * a device-given `ts` is kept and a repeat of it replaces the earlier point, field by field, at read time (the
 * later entry wins: later in its row, or in a newer chunk).
 *
 * Why chunks: a key that starts with the device makes every insert land beside that device's previous rows, a
 * random B-tree position once there are many devices (92 µs a reading with 2 000 devices, issue #19). Here each
 * buffered batch becomes a new chunk whose id is above every other, so each insert appends at the right edge of
 * the tree whatever the number of devices. Why one row per device of a chunk, not per reading: a row costs
 * SQLite and better-sqlite3 a few µs whatever its size, so the readings of a device that sends often share one
 * (2 000 readings of 2 gateways: 2 rows), and a device that sends rarely still costs one row per reading, as
 * before. A query seeks once per chunk overlapping its time range; to keep that count small, every 16 chunks of
 * one level are merged into one of the next level, up to level 3: one row per device again, its arrays joined
 * as text in chunk order by SQLite (no reading is parsed or rewritten one by one). Merges that would join more
 * than `embeddedMergeMaxRows` readings are not done — those chunks are already large and move up a level as they
 * are — so no merge stalls ingest for long. Levels are ordered by age (a higher level holds older data) and a
 * merged chunk takes the id just above its newest source, so "the newest chunk wins" stays true for repeated
 * timestamps. Retention drops whole chunks, and rewrites the rows of the one chunk it cuts through.
 */
export function createEmbeddedStore(deps: EmbeddedStoreDeps): EmbeddedStore {
  const { telemetry: cfg, catalogue, clock } = deps;
  const log = deps.log.child({ module: 'telemetry', store: 'embedded' });
  const m = createTelemetryMetrics(deps.metrics);
  const readingsCell = m.readings.labels({ store: 'embedded' });
  const replacedCell = m.replacedPoints.labels({ store: 'embedded' });
  const writtenCell = m.writtenLines.labels({ store: 'embedded' });
  const pointsCell = m.pointsWritten.labels({ store: 'embedded' });
  // WAL checkpoints on a worker thread, off the event loop the alarms share (src/storage/checkpointer.ts)
  const file = join(deps.dataDir, 'telemetry.db');
  const db: Db = openDatabase(file, { checkpoints: 'background' });
  migrate(db, 'telemetry', TELEMETRY_MIGRATIONS);
  const stamper = createStamper();

  const insert = db.prepare<
    [chunk: number, device: string, minTs: number, maxTs: number, n: number, pts: string]
  >('INSERT INTO series (chunk, device, min_ts, max_ts, n, pts) VALUES (?, ?, ?, ?, ?, ?)');
  const insertChunk = db.prepare<[number, number, number, number, number]>(
    'INSERT INTO chunks (id, level, min_ts, max_ts, rows) VALUES (?, ?, ?, ?, ?)',
  );
  const lastId = (): number =>
    db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM chunks').get()?.id ?? 0;
  let nextId = Math.ceil((lastId() + 1) / ID_STEP) * ID_STEP;

  const writeBatch = db.transaction((byDevice: Map<string, Pending>, readings: number) => {
    const id = nextId;
    nextId += ID_STEP;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    // In key order, so that every insert appends at the right edge of the chunk's key range.
    for (const device of [...byDevice.keys()].sort()) {
      const p = byDevice.get(device) as Pending;
      insert.run(id, device, p.min, p.max, p.parts.length, p.parts.join(','));
      if (p.min < min) min = p.min;
      if (p.max > max) max = p.max;
    }
    insertChunk.run(id, 0, min, max, readings);
  });

  /**
   * Readings taken since the counter was last brought up to date: it is, at every flush (at most
   * `embeddedFlushInterval` later), so a prom-client increment does not run for every reading.
   */
  let uncounted = 0;
  function countReadings(): void {
    if (uncounted === 0) return;
    readingsCell.inc(uncounted);
    uncounted = 0;
  }

  let byDevice = new Map<string, Pending>();
  let buffered = 0;
  let flushTimer: TimerHandle | undefined;
  let quietTimer: TimerHandle | undefined;
  /** Readings added since the quiet check was last armed. */
  let addedSinceCheck = 0;
  let pruneTimer: TimerHandle | undefined;
  let closed = false;

  function quietCheck(): void {
    quietTimer = undefined;
    if (buffered === 0) return;
    if (addedSinceCheck === 0) {
      flushNow();
      return;
    }
    addedSinceCheck = 0;
    quietTimer = clock.setTimeout(quietCheck, QUIET_MS);
  }

  function flushNow(): void {
    // a merge holds the store's write lock: batches wait for it (mergeIfFull), to a bound
    if (merging !== undefined && buffered < MERGE_HOLD_BATCHES * cfg.embeddedBatchSize) {
      flushWanted = true;
      return;
    }
    flushWanted = false;
    if (flushTimer) clock.clearTimeout(flushTimer);
    flushTimer = undefined;
    if (quietTimer) clock.clearTimeout(quietTimer);
    quietTimer = undefined;
    countReadings();
    if (buffered === 0) return;
    const batch = byDevice;
    const n = buffered;
    byDevice = new Map();
    buffered = 0;
    const end = m.writeDuration.startTimer();
    try {
      writeBatch(batch, n);
      writtenCell.inc(n);
      pointsCell.inc(n);
    } catch (err) {
      m.writeFailures.inc({ status: 'sqlite' });
      m.droppedLines.inc({ reason: 'sqlite_error' }, n);
      log.error({ err, rows: n }, 'embedded telemetry insert failed; rows dropped');
      return;
    } finally {
      end();
      m.queuedLines.set(buffered);
    }
    mergeIfFull();
  }

  /**
   * Merges run on the merger's thread (merger.ts); while one runs, batches wait in memory (the store's one
   * writer is then the merger), up to `MERGE_HOLD_BATCHES` batches: past that they are written all the same,
   * waiting for the merge's lock rather than holding more.
   */
  const merger = startMerger(file, {
    fanIn: MERGE_FAN_IN,
    topLevel: TOP_LEVEL,
    maxRows: cfg.embeddedMergeMaxRows,
  });
  let merging: Promise<void> | undefined;
  /** A flush came while a merge ran (its timer, the quiet check): it runs when the merge is done. */
  let flushWanted = false;
  const levelFull = db.prepare<[number, number], { full: number }>(
    'SELECT COUNT(*) >= ? AS full FROM chunks WHERE level < ? GROUP BY level ORDER BY full DESC LIMIT 1',
  );

  function mergeIfFull(): void {
    if (merging !== undefined || closed || levelFull.get(MERGE_FAN_IN, TOP_LEVEL)?.full !== 1) return;
    const end = m.mergeDuration.startTimer();
    let failed = false;
    merging = merger.run().then(
      () => undefined,
      // The batches are stored; a merge that failed leaves its chunks as they were and is tried after the next.
      (err: unknown) => {
        failed = true;
        log.error({ err }, 'embedded telemetry merge failed');
      },
    );
    void merging.then(() => {
      end();
      merging = undefined;
      // what waited for it (a full batch, or a flush its timer asked for), and a level the merge filled
      if (flushWanted || buffered >= cfg.embeddedBatchSize) flushNow();
      if (!failed) mergeIfFull();
    });
  }

  /**
   * Until no merge runs: with a `flushNow` before it, what `flush`, `query` and `close` promise (everything
   * taken written, since a flush asked during a merge runs when it ends, and merged).
   */
  async function merged(): Promise<void> {
    while (merging !== undefined) await merging;
  }

  /** The entries of a row from `cutoff` on, as a row's array text, and how many there are. */
  function keepFrom(pts: string, cutoff: number): { pts: string; n: number; min: number } {
    const a = JSON.parse(`[${pts}]`) as (number | Values)[];
    const kept: string[] = [];
    let min = Number.POSITIVE_INFINITY;
    for (let i = 0; i + 2 < a.length; i += 3) {
      const ts = a[i] as number;
      if (ts < cutoff) continue;
      if (ts < min) min = ts;
      kept.push(`${ts},${a[i + 1]},${JSON.stringify(a[i + 2])}`);
    }
    return { pts: kept.join(','), n: kept.length, min };
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
          n += c.rows;
          db.prepare<[number]>('DELETE FROM series WHERE chunk = ?').run(c.id);
          db.prepare<[number]>('DELETE FROM chunks WHERE id = ?').run(c.id);
          continue;
        }
        // The chunk the cutoff goes through: its rows are cut one by one (once per chunk and prune).
        let gone = 0;
        const cut = db
          .prepare<[number, number], { device: string; max_ts: number; n: number; pts: string }>(
            'SELECT device, max_ts, n, pts FROM series WHERE chunk = ? AND min_ts < ?',
          )
          .all(c.id, cutoff);
        for (const row of cut) {
          if (row.max_ts < cutoff) {
            db.prepare<[number, string]>('DELETE FROM series WHERE chunk = ? AND device = ?').run(
              c.id,
              row.device,
            );
            gone += row.n;
            continue;
          }
          const k = keepFrom(row.pts, cutoff);
          db.prepare<[number, number, string, number, string]>(
            'UPDATE series SET min_ts = ?, n = ?, pts = ? WHERE chunk = ? AND device = ?',
          ).run(k.min, k.n, k.pts, c.id, row.device);
          gone += row.n - k.n;
        }
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
      // after a merge under way: a prune is a write, and would wait for the merge's lock on the event loop
      void merged().then(() => {
        if (closed) return;
        try {
          prune();
        } catch (err) {
          log.error({ err }, 'telemetry prune failed');
        }
        schedulePrune();
      });
    }, cfg.pruneInterval);
  }
  prune();
  schedulePrune();

  function add(reading: Reading): void {
    if (closed || reading.kind !== 'telemetry') return;
    uncounted++;
    if (!finite(reading.values)) {
      // The same refusal as the line-protocol encoder (NON_FINITE_NUMBER): never store something else.
      countReadings();
      m.droppedLines.inc({ reason: 'unwritable' });
      log.warn({ deviceId: reading.deviceId, reason: 'NON_FINITE_NUMBER' }, 'reading not stored');
      return;
    }
    const t = stamper.stamp(reading.deviceId, reading.ts, reading.receivedAt, reading.deviceTs === true);
    if (t.replaces) replacedCell.inc();
    const part = `${t.ms},${t.ns},${valuesJson(reading.values)}`;
    const p = byDevice.get(reading.deviceId);
    if (p === undefined) byDevice.set(reading.deviceId, { parts: [part], min: t.ms, max: t.ms });
    else {
      p.parts.push(part);
      if (t.ms < p.min) p.min = t.ms;
      if (t.ms > p.max) p.max = t.ms;
    }
    buffered++;
    addedSinceCheck++;
    if (buffered >= cfg.embeddedBatchSize) {
      flushNow();
      return;
    }
    if (!flushTimer) flushTimer = clock.setTimeout(flushNow, cfg.embeddedFlushInterval);
    else if ((buffered & 63) === 0) m.queuedLines.set(buffered);
    if (!quietTimer && buffered >= QUIET_MIN_READINGS) {
      addedSinceCheck = 0;
      quietTimer = clock.setTimeout(quietCheck, QUIET_MS);
    }
  }

  // The rows of one device over a time range, from every chunk that overlaps it, oldest chunk first.
  const rowsOf = db.prepare<[number, number, string, number, number], { pts: string }>(
    `SELECT pts FROM series
      WHERE chunk IN (SELECT id FROM chunks WHERE max_ts >= ? AND min_ts <= ?)
        AND device = ? AND max_ts >= ? AND min_ts <= ?
      ORDER BY chunk`,
  );

  /** The points of one field, in time order, a repeated (ts, ns) resolved to its latest entry. */
  function pointsOf(deviceId: string, field: string, from: number, to: number): Entry[] {
    const all: Entry[] = [];
    for (const row of rowsOf.iterate(from, to, deviceId, from, to)) collect(row.pts, field, from, to, all);
    all.sort(byTime);
    const out: Entry[] = [];
    for (const e of all) {
      const prev = out.at(-1);
      if (prev && prev.ts === e.ts && prev.ns === e.ns) out[out.length - 1] = e;
      else out.push(e);
    }
    return out;
  }

  return {
    kind: 'embedded',
    writeReading: add,
    writeAlertChange(_change: AlertChangePoint) {
      // Alert history is the alert store's timeline; only InfluxDB gets the `alerts` measurement for Grafana.
    },
    async flush() {
      flushNow();
      await merged();
    },
    prune,
    chunkCount: () => db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM chunks').get()?.n ?? 0,
    check: async () => undefined,
    async query(q) {
      const r = resolveQuery(q, catalogue);
      // what was taken before the query is in its answer (written after a merge that holds them)
      flushNow();
      await merged();
      const decode = (v: unknown): TelemetryPoint['value'] =>
        r.spec.kind === 'boolean' ? v === 1 || v === true : (v as number | string);
      const from = Math.trunc(q.from);
      const to = Math.trunc(q.to);
      const points = pointsOf(q.deviceId, q.field, from, to);
      if (!r.agg) {
        const n = Math.min(points.length, MAX_POINTS);
        const out: TelemetryPoint[] = new Array(n);
        for (let i = 0; i < n; i++) {
          const p = points[i] as Entry;
          out[i] = { ts: p.ts, value: decode(p.v) };
        }
        return out;
      }
      // Without `every`, one bucket for the whole range, starting at `from`; with it, aligned to the epoch.
      const every = q.everyMs === undefined ? undefined : Math.trunc(q.everyMs);
      const buckets = new Map<number, Bucket>();
      for (const p of points) {
        const key = every === undefined ? from : p.ts - (p.ts % every);
        const v = p.v;
        const b = buckets.get(key);
        if (!b) {
          buckets.set(key, { sum: typeof v === 'number' ? v : 0, n: 1, min: v, max: v, last: v });
          continue;
        }
        if (typeof v === 'number') b.sum += v;
        b.n++;
        if (v < b.min) b.min = v;
        if (v > b.max) b.max = v;
        b.last = v; // points come in time order
      }
      return [...buckets.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([ts, b]) => ({ ts, value: finish(b, r.agg as Aggregate, decode) }));
    },
    async close() {
      if (closed) return;
      flushNow();
      await merged();
      closed = true;
      if (pruneTimer) clock.clearTimeout(pruneTimer);
      await merger.stop();
      db.close();
    },
  };
}
