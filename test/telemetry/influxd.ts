import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** The influxd binary for integration tests: GRIDHUB_TEST_INFLUXD, else Debian's /usr/bin/influxd. */
export function findInfluxd(): string | undefined {
  const candidates = [process.env.GRIDHUB_TEST_INFLUXD, '/usr/bin/influxd'].filter((p): p is string => !!p);
  return candidates.find((p) => existsSync(p));
}

export const INFLUXD_MISSING =
  'InfluxDB tests skipped: no influxd binary. Install it with `apt-get install -y influxdb` (Debian, 1.6.7; ' +
  'or run .ci/influxdb.sh) or point GRIDHUB_TEST_INFLUXD at an influxd 1.x binary.';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface Influxd {
  url: string;
  port: number;
  start(): Promise<void>;
  /** SIGKILL, like a crash or a pulled cable: no graceful goodbye to the client. */
  stop(): Promise<void>;
  /** InfluxQL on /query (POST, so that CREATE/DROP work), times as epoch ms. */
  query(q: string, db?: string): Promise<{ columns: string[]; values: unknown[][] }[]>;
}

/**
 * Our own influxd 1.x on 127.0.0.1 with a config and data under `dir`, on free ports: stop() and start() keep
 * the same port and data, so a test can take it away mid-stream and bring it back.
 */
export async function startInfluxd(binary: string, dir: string): Promise<Influxd> {
  const port = await freePort();
  const rpcPort = await freePort();
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'influxdb.conf');
  writeFileSync(
    conf,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  trace-logging-enabled = false
[http]
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "error"
`,
  );
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  async function ping(): Promise<boolean> {
    try {
      const r = await fetch(`${url}/ping`);
      return r.status === 204;
    } catch {
      return false;
    }
  }

  const self: Influxd = {
    url,
    port,
    async start() {
      child = spawn(binary, ['-config', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      const until = Date.now() + 15_000;
      while (Date.now() < until) {
        if (child.exitCode !== null) throw new Error(`influxd exited ${child.exitCode}: ${stderr}`);
        if (await ping()) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`influxd did not answer /ping within 15 s: ${stderr}`);
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      });
    },
    async query(q, db) {
      const params = new URLSearchParams({ q, epoch: 'ms' });
      if (db) params.set('db', db);
      const r = await fetch(`${url}/query?${params}`, { method: 'POST' });
      const body = (await r.json()) as {
        error?: string;
        results?: { error?: string; series?: { columns: string[]; values: unknown[][] }[] }[];
      };
      const err = body.error ?? body.results?.[0]?.error;
      if (err) throw new Error(`${q}: ${err}`);
      return body.results?.[0]?.series ?? [];
    },
  };
  await self.start();
  return self;
}
