import { type SqliteWorker, startSqliteWorker } from '../storage/sqlite-worker.ts';

/**
 * The embedded store's merges (embedded-store.ts) on a thread of their own. A merge of 16 chunks rewrites their
 * readings into one row per device: with two gateways at 40 000 readings a second that is ~1.5 MB of text and
 * 20–70 ms of SQLite work every 0.8 s. On the event loop, every alarm that came in meanwhile waited for it (the
 * half-load latency's p99 and the reconnect storm's worst press). Here a worker with its own connection to the
 * file runs them; the store does not write while one runs (it keeps buffering), so neither connection ever waits
 * for the other's lock, and its reads go on from their WAL snapshot.
 *
 * Its code is a string, as the checkpointer's (src/storage/sqlite-worker.ts says why).
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { fanIn, topLevel, maxRows } = workerData;
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
let chunksOfLevel;
let insertChunk;
// Every full level, lowest first: merged into one chunk of the next, or moved up when too large to rewrite.
function compact() {
  // prepared at the first merge, whose error (a file without the tables, say) is then its answer
  chunksOfLevel ??= db.prepare('SELECT * FROM chunks WHERE level = ? ORDER BY id');
  insertChunk ??= db.prepare('INSERT INTO chunks (id, level, min_ts, max_ts, rows) VALUES (?, ?, ?, ?, ?)');
  let merged = 0;
  for (let level = 0; level < topLevel; level++) {
    const chunks = chunksOfLevel.all(level);
    if (chunks.length < fanIn) break;
    const ids = chunks.map((c) => c.id);
    const total = chunks.reduce((n, c) => n + c.rows, 0);
    const list = ids.join(',');
    if (total > maxRows) {
      db.prepare('UPDATE chunks SET level = ? WHERE id IN (' + list + ')').run(level + 1);
      continue;
    }
    const id = ids[ids.length - 1] + 1;
    db.transaction(() => {
      // Oldest chunk first within each device: a repeated device ts is then resolved as before the merge.
      db.prepare(
        'INSERT INTO series (chunk, device, min_ts, max_ts, n, pts) ' +
          "SELECT ?, device, MIN(min_ts), MAX(max_ts), SUM(n), group_concat(pts, ',' ORDER BY chunk) " +
          'FROM series WHERE chunk IN (' + list + ') GROUP BY device ORDER BY device',
      ).run(id);
      db.prepare('DELETE FROM series WHERE chunk IN (' + list + ')').run();
      db.prepare('DELETE FROM chunks WHERE id IN (' + list + ')').run();
      insertChunk.run(
        id,
        level + 1,
        Math.min(...chunks.map((c) => c.min_ts)),
        Math.max(...chunks.map((c) => c.max_ts)),
        total,
      );
    }).immediate();
    merged++;
  }
  return merged;
}
parentPort.on('message', (m) => {
  if (m === 'stop') {
    try { db.close(); } catch {}
    parentPort.close();
    return;
  }
  try {
    parentPort.postMessage({ merged: compact() });
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
});
`;

export interface MergeShape {
  /** Chunks of one level merged into one of the next once there are this many. */
  fanIn: number;
  /** Chunks of this level are never merged further. */
  topLevel: number;
  /** A full level holding more readings than this is moved up a level instead of rewritten. */
  maxRows: number;
}

export interface Merger {
  /**
   * Merge every full level; resolves with how many merges ran. Rejects with the worker's error, or when the
   * worker died (the next run starts another).
   */
  run(): Promise<number>;
  stop(): Promise<void>;
}

export function startMerger(file: string, shape: MergeShape): Merger {
  let waiting: { resolve: (n: number) => void; reject: (err: Error) => void } | undefined;
  const answer = (err: Error | undefined, merged = 0) => {
    const w = waiting;
    waiting = undefined;
    if (err) w?.reject(err);
    else w?.resolve(merged);
  };
  /** The worker, started on the first merge and again after one that died (its merge then failed). */
  let thread: SqliteWorker | undefined;
  const start = (): SqliteWorker => {
    // a merge that cannot finish (a huge level on a slow disk) is not waited for past 5 s at stop
    const t = startSqliteWorker(WORKER, { file, ...shape }, 5_000);
    t.worker.on('message', (m: { merged?: number; error?: string }) =>
      answer(m.error === undefined ? undefined : new Error(m.error), m.merged),
    );
    t.worker.on('error', (err) => answer(err));
    t.worker.on('exit', () => {
      if (thread === t) thread = undefined;
      answer(new Error('the merge worker exited'));
    });
    return t;
  };
  let stopped: Promise<void> | undefined;
  return {
    run() {
      if (waiting) return Promise.reject(new Error('a merge is already running'));
      if (stopped !== undefined) return Promise.reject(new Error('the merger is stopped'));
      thread ??= start();
      const { worker } = thread;
      return new Promise<number>((resolve, reject) => {
        waiting = { resolve, reject };
        worker.postMessage('run');
      });
    },
    stop() {
      stopped ??= thread?.stop() ?? Promise.resolve();
      return stopped;
    },
  };
}
