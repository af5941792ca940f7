/** Process plumbing for the bench: child processes, free ports, RSS, readiness, metrics scraping. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from '../devices-sim/load.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process in KB (Linux /proc), or undefined elsewhere. */
export function rssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Child {
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the first stdout/stderr line matching, or rejects at the timeout / exit. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** Resolves with the exit code, whether the child has exited already or not. */
  exited: Promise<number | null>;
}

/** `node --import tsx <script> args` with the real PID (no npx wrapper: stack.md). */
export function spawnTs(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  return spawnNode(['--import', 'tsx', join(ROOT, script), ...args], env, script);
}

/** The environment of a bench hub on a temp data dir and loopback ports (warnings only, real-time clock). */
export function benchHubEnv(dataDir: string, ports: { http: number; mqtt: number }): NodeJS.ProcessEnv {
  return {
    GRIDHUB_DATA_DIR: dataDir,
    GRIDHUB_HTTP_PORT: String(ports.http),
    GRIDHUB_MQTT_PORT: String(ports.mqtt),
    GRIDHUB_HOST: '127.0.0.1',
    GRIDHUB_LOG_LEVEL: 'warn',
    GRIDHUB_CLOCK_SPEED: '1',
  };
}

/** `node <args>`: compiled JavaScript, e.g. the production build `dist/src/main.js`. */
export function spawnNode(nodeArgs: string[], env: NodeJS.ProcessEnv = {}, name = nodeArgs.join(' ')): Child {
  const script = name;
  const proc = spawn(process.execPath, nodeArgs, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const watchers: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const feed = (sink: string[]) => {
    let rest = '';
    return (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split(/\r?\n|\r/);
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (sink.length < 5_000) sink.push(line);
        for (const w of [...watchers]) {
          const m = w.re.exec(line);
          if (m) {
            watchers.splice(watchers.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    };
  };
  proc.stdout?.on('data', feed(stdout));
  proc.stderr?.on('data', feed(stderr));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    stdout,
    stderr,
    waitFor(re, timeoutMs) {
      for (const line of [...stdout, ...stderr]) {
        const m = re.exec(line);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${script}: no line matching ${re} in ${timeoutMs} ms`)),
          timeoutMs,
        );
        watchers.push({
          re,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${script} exited (${code}) before ${re}: ${stderr.slice(-5).join(' | ')}`));
        });
      });
    },
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Until the hub at `http` answers /readyz; it is killed when it is not ready within `timeoutMs`. */
export async function waitReady(child: Child, http: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.proc.exitCode !== null)
      throw new Error(`hub exited at start: ${child.stderr.slice(-5).join(' | ')}`);
    try {
      if ((await fetch(`${http}/readyz`, { signal: AbortSignal.timeout(1_000) })).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await child.stop('SIGKILL');
      throw new Error(`hub not ready within ${timeoutMs / 1000} s`);
    }
    await sleep(20);
  }
}

/** Run the simulator's load mode in its own process (its memory is not the hub's) and read its JSON result. */
export async function runLoadChild(
  args: string[],
  timeoutMs: number,
  onPhase?: (phase: 'start' | 'end') => Promise<void>,
): Promise<LoadResult> {
  const child = spawnTs('devices-sim/cli.ts', [...args, '--json']);
  const phases = onPhase
    ? child
        .waitFor(/^LOAD START/, timeoutMs)
        .then(() => onPhase('start'))
        .then(() => child.waitFor(/^LOAD END/, timeoutMs))
        .then(() => onPhase('end'))
        .catch(() => undefined)
    : Promise.resolve();
  const timer = setTimeout(() => void child.stop('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.proc.once('exit', (c) => r(c)));
  clearTimeout(timer);
  await phases;
  const last = child.stdout.filter((l) => l.startsWith('{')).pop();
  if (code !== 0 || !last) {
    throw new Error(`load generator failed (exit ${code}): ${child.stderr.slice(-4).join(' | ')}`);
  }
  return JSON.parse(last) as LoadResult;
}

/** Prometheus text → metric name → sum over its label sets. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([^\s]+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    out.set(m[1] as string, (out.get(m[1] as string) ?? 0) + v);
    // The one-label series too, for counters split by store.
    if (m[2] && !m[2].includes(',')) out.set(`${m[1]}${m[2]}`, v);
  }
  return out;
}

export async function scrapeMetrics(httpUrl: string, timeoutMs = 10_000): Promise<Map<string, number>> {
  // A hub saturated by a QoS 0 flood answers HTTP late; wait a while rather than lose the sample.
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  return parseMetrics(await res.text());
}

/**
 * Readings confirmed in storage: `gridhub_telemetry_points_written_total` (one point per reading in either
 * store). Older hubs had only `written_lines_total`, where the embedded store counted one row per field.
 */
export function storedReadings(metrics: Map<string, number>, fieldsPerReading: number): number | undefined {
  const influxPoints = metrics.get('gridhub_telemetry_points_written_total{store="influx"}');
  const embeddedPoints = metrics.get('gridhub_telemetry_points_written_total{store="embedded"}');
  if (influxPoints !== undefined || embeddedPoints !== undefined)
    return (influxPoints ?? 0) + (embeddedPoints ?? 0);
  const influx = metrics.get('gridhub_telemetry_written_lines_total{store="influx"}');
  const embedded = metrics.get('gridhub_telemetry_written_lines_total{store="embedded"}');
  if (influx === undefined && embedded === undefined) return undefined;
  return (influx ?? 0) + Math.floor((embedded ?? 0) / fieldsPerReading);
}

/**
 * The counter that says a reading is confirmed in storage, first match wins: the telemetry sink's written
 * points, then what ingest accepted (reported as such when the sink has no counter yet).
 */
export const STORED_COUNTERS: { re: RegExp; meaning: 'stored' | 'accepted' }[] = [
  { re: /^gridhub_telemetry_written_lines_total$/, meaning: 'stored' },
  { re: /^gridhub_ingest_accepted_total$/, meaning: 'accepted' },
  { re: /^gridhub_telemetry_.*(written|stored|points).*_total$/, meaning: 'stored' },
  { re: /^gridhub_ingest_.*(accepted|readings).*_total$/, meaning: 'accepted' },
];

export function storedCount(
  metrics: Map<string, number>,
  fieldsPerReading = 1,
): { name: string; meaning: 'stored' | 'accepted'; value: number } | undefined {
  const stored = storedReadings(metrics, fieldsPerReading);
  if (stored !== undefined) {
    return { name: 'gridhub_telemetry_points_written_total (readings)', meaning: 'stored', value: stored };
  }
  for (const { re, meaning } of STORED_COUNTERS) {
    const names = [...metrics.keys()].filter((n) => re.test(n) && !/rejected|failed|dropped|error/.test(n));
    if (names.length) {
      const name = names.sort()[0] as string;
      return { name, meaning, value: metrics.get(name) ?? 0 };
    }
  }
  return undefined;
}

/** Request latencies, one at a time: how many, p50, p99 and the worst, in ms to two decimals. */
export interface Latency {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  const r = (x: number) => Math.round(x * 100) / 100;
  return { requests: sorted.length, p50Ms: r(at(0.5)), p99Ms: r(at(0.99)), maxMs: r(sorted.at(-1) ?? 0) };
}
