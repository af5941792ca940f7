import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { type ErrorCode, GridHubError } from '../domain/errors.ts';

export interface SandboxJob {
  id: number;
  /** The request body as it came (JSON text): parsed and checked on the worker, not on the event loop. */
  body: string;
  defaultStart: number;
}

export type SandboxReply =
  | { id: number; ok: true; json: string }
  | { id: number; ok: false; error: { code: ErrorCode | 'INTERNAL'; message: string; field?: string } };

export interface SandboxOptions {
  log: Logger;
  /** Wall-clock budget of one run; the worker is ended when it is exceeded (answered 422). */
  timeoutMs?: number;
  /** Heap budget of the worker (V8 old generation); a run that needs more is answered 422. */
  memoryMb?: number;
  /** Runs waiting for the worker at most; more are answered 503 at once. */
  queueLimit?: number;
}

export interface Sandbox {
  /** The answer as JSON text, `{"results":[…]}`, made on the worker. */
  run(job: Omit<SandboxJob, 'id'>): Promise<string>;
  close(): Promise<void>;
}

interface Pending {
  job: SandboxJob;
  resolve(json: string): void;
  reject(err: Error): void;
}

/**
 * Where the worker's code is. Compiled (`.js`), the worker file runs as it is; from TypeScript sources (`npm
 * start`, tests) a tiny bootstrap registers tsx's loader in the worker first, since loaders given to the main
 * thread do not reach worker threads on Node 20.
 */
function workerEntry(): URL {
  const own = new URL(import.meta.url);
  if (own.pathname.endsWith('.js')) return new URL('./sandbox-worker.js', own);
  const target = new URL('./sandbox-worker.ts', own).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(target)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

/**
 * The rule sandbox (POST /api/rules/test) on one worker thread with a time and a memory budget, so that a
 * rule over 10 000 readings — or a rule built to be slow — costs the hub's event loop nothing: ingest, alarms
 * and the API go on while it runs. Runs are served one at a time from a short queue.
 */
export function createSandbox(options: SandboxOptions): Sandbox {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const memoryMb = options.memoryMb ?? 256;
  const queueLimit = options.queueLimit ?? 4;
  const log = options.log.child({ component: 'sandbox' });
  let worker: Worker | undefined;
  let ready: Promise<void> | undefined;
  let current: (Pending & { timer: NodeJS.Timeout }) | undefined;
  const queue: Pending[] = [];
  let nextId = 1;
  let closed = false;

  const fail = (p: Pending, code: ErrorCode, message: string) => p.reject(new GridHubError(code, message));

  const spawn = (): Promise<void> => {
    const w = new Worker(workerEntry(), {
      resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: 16 },
    });
    w.unref();
    worker = w;
    ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: unknown) => {
        if ((m as { ready?: boolean }).ready) {
          w.off('message', onMessage);
          resolve();
        }
      };
      w.on('message', onMessage);
      w.once('error', reject);
    });
    w.on('message', (m: SandboxReply | { ready: true }) => {
      if (!('id' in m) || !current || m.id !== current.job.id) return;
      const p = current;
      clearTimeout(p.timer);
      current = undefined;
      if (m.ok) p.resolve(m.json);
      else if (m.error.code === 'INTERNAL') p.reject(new Error(m.error.message));
      else
        p.reject(
          new GridHubError(m.error.code, m.error.message, m.error.field ? { field: m.error.field } : {}),
        );
      pump();
    });
    w.on('error', (err: Error & { code?: string }) => {
      log.warn({ err }, 'sandbox worker ended');
      if (worker === w) worker = undefined;
      const p = current;
      current = undefined;
      if (p) {
        clearTimeout(p.timer);
        if (err.code === 'ERR_WORKER_OUT_OF_MEMORY')
          fail(p, 'SANDBOX_LIMIT', `the sandbox run needed more than ${memoryMb} MB`);
        else p.reject(err);
      }
      pump();
    });
    w.on('exit', () => {
      if (worker === w) worker = undefined;
    });
    return ready;
  };

  const pump = () => {
    if (current || closed) return;
    const p = queue.shift();
    if (!p) return;
    const start = worker && ready ? ready : spawn();
    const timer = setTimeout(() => {
      if (current?.job.id !== p.job.id) return;
      current = undefined;
      log.warn({ timeoutMs }, 'sandbox run over its time budget; worker ended');
      const w = worker;
      worker = undefined;
      void w?.terminate();
      fail(p, 'SANDBOX_LIMIT', `the sandbox run took longer than ${timeoutMs} ms`);
      pump();
    }, timeoutMs);
    current = { ...p, timer };
    start.then(
      () => {
        if (current?.job.id === p.job.id) worker?.postMessage(p.job);
      },
      (err: unknown) => {
        if (current?.job.id !== p.job.id) return;
        clearTimeout(timer);
        current = undefined;
        p.reject(err instanceof Error ? err : new Error(String(err)));
        pump();
      },
    );
  };

  return {
    run(job) {
      if (closed) return Promise.reject(new GridHubError('OVERLOADED', 'the hub is stopping'));
      if (queue.length >= queueLimit) {
        return Promise.reject(new GridHubError('OVERLOADED', 'the rule sandbox is busy; try again shortly'));
      }
      return new Promise<string>((resolve, reject) => {
        queue.push({ job: { ...job, id: nextId++ }, resolve, reject });
        pump();
      });
    },
    async close() {
      closed = true;
      for (const p of queue.splice(0)) fail(p, 'OVERLOADED', 'the hub is stopping');
      if (current) {
        clearTimeout(current.timer);
        fail(current, 'OVERLOADED', 'the hub is stopping');
        current = undefined;
      }
      await worker?.terminate();
      worker = undefined;
    },
  };
}
