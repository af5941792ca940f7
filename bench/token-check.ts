/**
 * What a bearer-token check costs, now that every use asks the store (src/storage/README.md, "Tokens"): the
 * HTTP hook's `authenticateBearer` with 10 000 live tokens, on SQLite and on PostgreSQL (a throw-away cluster
 * on loopback, or GRIDHUB_BENCH_DATABASE_URL; skipped without either). The floor on SQLite is the statement the
 * check ran before, prepared by hand.
 *
 *   node --import tsx bench/token-check.ts [--quick]
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createCatalogue } from '../src/catalogue/catalogue.ts';
import { ManualClock } from '../src/clock/clock.ts';
import { openRegistry, type Registry } from '../src/registry/registry.ts';
import { tokenDigest } from '../src/registry/secrets.ts';
import { postgresStore } from '../src/storage/postgres.ts';
import type { SqlStore } from '../src/storage/sql-store.ts';
import { openDatabase } from '../src/storage/sqlite.ts';
import { sqliteStore } from '../src/storage/sqlite-kysely.ts';
import { POSTGRES_MISSING, startPostgres } from '../test/helpers/postgres.ts';

export interface TokenCheckFigures {
  tokens: number;
  checks: number;
  sqlite: { rawPreparedUs: number; storeUs: number };
  postgres: { sequentialUs: number; concurrentUsPerCheck: number } | { skipped: string };
}

const usPer = (start: bigint, n: number) => Number(process.hrtime.bigint() - start) / 1_000 / n;

async function seed(store: SqlStore, tokens: number): Promise<{ registry: Registry; issued: string[] }> {
  const registry = await openRegistry(store, createCatalogue(), new ManualClock(0), {
    secretKey: randomBytes(32),
  });
  await registry.places.create({ id: 's1', level: 'street', name: '街道', parentId: null });
  for (let u = 0; u < 100; u++) {
    await registry.users.create({ username: `user-${u}`, password: null, role: 'manager', scope: ['s1'] }, 0);
  }
  const issued: string[] = [];
  for (let i = 0; i < tokens; i++) issued.push(await registry.users.issueToken(`user-${i % 100}`, 'api', 0));
  return { registry, issued };
}

export async function runTokenCheckBench(options: { quick?: boolean } = {}): Promise<TokenCheckFigures> {
  const tokens = options.quick ? 2_000 : 10_000;
  const checks = options.quick ? 10_000 : 50_000;
  let found = 0;

  const db = openDatabase(':memory:');
  const sqlite = await seed(sqliteStore(db), tokens);
  const pick = (i: number) => sqlite.issued[(i * 7919) % tokens] as string;
  const raw = db.prepare(
    `SELECT u.* FROM api_tokens t JOIN users u ON u.username = t.username
     WHERE t.token_hash = ? AND (t.expires_at IS NULL OR t.expires_at > ?) AND u.enabled = 1`,
  );
  for (let i = 0; i < 5_000; i++) {
    if (raw.get(tokenDigest(pick(i)), 1)) found++;
    if (await sqlite.registry.users.authenticateBearer(pick(i), 1)) found++;
  }
  let t = process.hrtime.bigint();
  for (let i = 0; i < checks; i++) if (raw.get(tokenDigest(pick(i)), 1)) found++;
  const rawPreparedUs = usPer(t, checks);
  t = process.hrtime.bigint();
  for (let i = 0; i < checks; i++) if (await sqlite.registry.users.authenticateBearer(pick(i), 1)) found++;
  const storeUs = usPer(t, checks);
  db.close();

  let postgres: TokenCheckFigures['postgres'];
  const url = process.env.GRIDHUB_BENCH_DATABASE_URL;
  if (!url && POSTGRES_MISSING) postgres = { skipped: POSTGRES_MISSING };
  else {
    const cluster = url ? undefined : await startPostgres();
    try {
      const store = postgresStore(
        url ?? (await (cluster as NonNullable<typeof cluster>).createDatabase('token_check')),
      );
      const pg = await seed(store, tokens);
      const n = Math.min(checks, options.quick ? 5_000 : 20_000);
      const at = (i: number) => pg.issued[(i * 7919) % tokens] as string;
      for (let i = 0; i < 1_000; i++) if (await pg.registry.users.authenticateBearer(at(i), 1)) found++;
      t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) if (await pg.registry.users.authenticateBearer(at(i), 1)) found++;
      const sequentialUs = usPer(t, n);
      t = process.hrtime.bigint();
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < n) if (await pg.registry.users.authenticateBearer(at(next++), 1)) found++;
        }),
      );
      const concurrentUsPerCheck = usPer(t, n);
      await store.close();
      postgres = { sequentialUs, concurrentUsPerCheck };
    } finally {
      await cluster?.stop();
    }
  }
  if (found === 0) throw new Error('no token found: the bench measured nothing');
  return { tokens, checks, sqlite: { rawPreparedUs, storeUs }, postgres };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  console.log(JSON.stringify(await runTokenCheckBench({ quick }), null, 2));
}
