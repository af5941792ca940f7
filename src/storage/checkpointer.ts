import { startSqliteWorker } from './sqlite-worker.ts';

/**
 * WAL checkpoints on a thread of their own. SQLite's automatic checkpoint runs inside the COMMIT that crosses
 * 1 000 WAL pages: that one commit — an alarm's raise transaction as often as a telemetry flush — then copies
 * ~4 MB back into the database file and syncs it, 15–50 ms on the event loop (the raise's p99 was 20 ms against a
 * p50 of 0.8 ms). Here a worker thread with its own connection to the same file runs PASSIVE checkpoints on a
 * short period: PASSIVE never waits for readers or writers, so the hub's connection goes on committing to the
 * WAL meanwhile and no statement of the hub ever pays for a checkpoint.
 *
 * The worker's code is a string (sqlite-worker.ts says why).
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
} catch (err) {
  parentPort.postMessage({ error: String(err && err.message || err) });
  process.exit(0);
}
const step = () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ frames: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
};
const timer = setInterval(step, workerData.everyMs);
parentPort.on('message', (m) => {
  if (m === 'step') step();
  if (m !== 'stop') return;
  clearInterval(timer);
  try { db.close(); } catch {}
  parentPort.close();
});
parentPort.postMessage({ ready: true });
`;

export interface CheckpointerStatus {
  /** WAL frames at the last step, and how many of them are in the database file. */
  frames: number;
  checkpointed: number;
  steps: number;
  lastError: string | null;
}

export interface Checkpointer {
  readonly status: CheckpointerStatus;
  /** Resolves once the worker has opened the database. */
  ready: Promise<void>;
  /** One step now (tests); resolves with the status after it. */
  step(): Promise<CheckpointerStatus>;
  stop(): Promise<void>;
}

export function startCheckpointer(file: string, options: { everyMs?: number } = {}): Checkpointer {
  // a worker stuck in a step (a huge WAL on a slow disk) is not waited for past 2 s at stop
  const thread = startSqliteWorker(WORKER, { file, everyMs: options.everyMs ?? 200 }, 2_000);
  const { worker } = thread;
  const status: CheckpointerStatus = { frames: 0, checkpointed: 0, steps: 0, lastError: null };
  const waiters: ((s: CheckpointerStatus) => void)[] = [];
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  worker.on('message', (m: { ready?: true; frames?: number; checkpointed?: number; error?: string }) => {
    if (m.ready) {
      markReady();
      return;
    }
    if (m.error !== undefined) {
      status.lastError = m.error;
      markReady();
    } else {
      status.frames = m.frames ?? 0;
      status.checkpointed = m.checkpointed ?? 0;
      status.steps++;
    }
    for (const w of waiters.splice(0)) w({ ...status });
  });
  worker.on('error', (err) => {
    status.lastError = err.message;
    markReady();
  });
  return {
    status,
    ready,
    step() {
      return new Promise((resolve) => {
        waiters.push(resolve);
        worker.postMessage('step');
      });
    },
    stop: thread.stop,
  };
}
