import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** The oldest major the shared store supports (issue #18). */
const MIN_MAJOR = 15;

/**
 * Where PostgreSQL's server binaries are: `GRIDHUB_PG_BIN`, else the newest Debian `postgresql-NN` (≥ 15) under
 * /usr/lib/postgresql. Debian keeps initdb and postgres off the PATH, so `command -v` would not find them.
 */
export function findPostgresBin(): string | undefined {
  const fromEnv = process.env.GRIDHUB_PG_BIN;
  if (fromEnv) return existsSync(join(fromEnv, 'initdb')) ? fromEnv : undefined;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n >= MIN_MAJOR)
    .sort((a, b) => b - a);
  for (const major of majors) {
    const bin = join(root, String(major), 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
  }
  return undefined;
}

/** Why PostgreSQL tests skip on this machine, or undefined when they can run. */
export const POSTGRES_MISSING = findPostgresBin()
  ? undefined
  : `PostgreSQL ≥ ${MIN_MAJOR} is not installed (no initdb under /usr/lib/postgresql/*/bin nor GRIDHUB_PG_BIN): ` +
    'PostgreSQL store tests skipped (apt-get install postgresql, or run .ci/run)';

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres — the maintenance database. */
  readonly adminUrl: string;
  /** A fresh, empty database on this cluster; its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

/** A port free on 127.0.0.1 right now (the test's servers bind it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject()));
    });
  });
}

/**
 * A throw-away PostgreSQL cluster on 127.0.0.1 on a free port, in a temp dir: initdb (trust auth, loopback only),
 * start, and a database per caller. `initdb` and `postgres` refuse to run as root, so when we are root they run
 * as the `postgres` user Debian's package creates, and the dir is handed to it first. fsync is off: the cluster
 * lives for one test file, and crash safety of the test machine is not what the tests are about. `durable`
 * keeps PostgreSQL's own defaults (fsync, synchronous commit), for the bench's figures. `statementStats` loads
 * pg_stat_statements (the statements clients send, not those run inside functions and triggers), for a bench
 * that counts what a workload costs the database (test/helpers/statement-stats.ts).
 */
export async function startPostgres(
  options: { durable?: boolean; statementStats?: boolean } = {},
): Promise<TestPostgres> {
  const bin = findPostgresBin();
  if (!bin) throw new Error(POSTGRES_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'gridhub-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const as = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args);
  await as('initdb', ['-D', data, '--auth=trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
  // A port picked free can be taken before postgres binds it: try a few.
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await as('pg_ctl', [
        '-D',
        data,
        '-l',
        join(dir, 'postgres.log'),
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1${options.durable ? '' : ' -c fsync=off'} -c max_connections=50${options.statementStats ? ' -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top' : ''}`,
        '-w',
        'start',
      ]);
      break;
    } catch (err) {
      if (attempt >= 2) throw err;
    }
  }
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let counter = 0;
  return {
    adminUrl,
    async createDatabase(name) {
      const db = name ?? `gridhub_test_${process.pid}_${++counter}`;
      if (!/^[a-z_][a-z0-9_]*$/.test(db)) throw new Error(`bad database name ${db}`);
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${db}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${db}`;
    },
    async stop() {
      try {
        await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
