import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * A worker thread with its own SQLite connection (the WAL checkpointer, the telemetry store's merges). Its code is
 * plain CommonJS evaluated from a string, so it runs the same from the TypeScript sources (tests, tsx) and from
 * the compiled build, with no second entry file to ship. It receives `workerData.driver` (better-sqlite3's path,
 * to `require`) beside `data`, and must close its connection and `parentPort` on the message `'stop'`.
 */
export interface SqliteWorker {
  readonly worker: Worker;
  /** Ask it to stop; one that does not within `stopWithinMs` (stuck in a long statement) is terminated. */
  stop(): Promise<void>;
}

export function startSqliteWorker(source: string, data: object, stopWithinMs: number): SqliteWorker {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(source, { eval: true, workerData: { ...data, driver } });
  // bookkeeping: it must never keep the process alive on its own
  worker.unref();
  let stopped: Promise<void> | undefined;
  return {
    worker,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        worker.once('exit', () => resolve());
        worker.postMessage('stop');
        setTimeout(() => void worker.terminate(), stopWithinMs).unref();
      });
      return stopped;
    },
  };
}
