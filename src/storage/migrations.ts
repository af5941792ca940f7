import { CompiledQuery, type CreateTableBuilder, type Kysely, sql } from 'kysely';
import type { Dialect, SqlStore, Statement } from './sql-store.ts';

/**
 * One step of a module's schema, written once for both stores: the statements it runs, built with Kysely's schema
 * and query builders (`db` builds, it does not execute). Being statements rather than code, a step runs the
 * same on the synchronous SQLite runner (modules opened synchronously) and on PostgreSQL. `dialect` is there for
 * the few column types the two spell differently (`addIdColumn`); the rest of a migration should not look at it.
 */
export interface Migration {
  readonly description: string;
  statements(db: Kysely<object>, dialect: Dialect): Statement<unknown>[];
}

interface MigrationTables {
  schema_migrations: { module: string; version: number; applied_at: string };
}

/** A key for pg_advisory_xact_lock: every instance migrating the same database takes turns on it. */
const MIGRATION_LOCK = CompiledQuery.raw('SELECT pg_advisory_xact_lock(1735551332)');

const ledger = (store: SqlStore) => {
  const db = store.builder<MigrationTables>();
  return {
    create: db.schema
      .createTable('schema_migrations')
      .ifNotExists()
      .addColumn('module', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('applied_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('schema_migrations_pkey', ['module', 'version']),
    applied: (module: string) =>
      db.selectFrom('schema_migrations').select('version').where('module', '=', module).orderBy('version'),
    record: (module: string, version: number) =>
      db.insertInto('schema_migrations').values({ module, version, applied_at: new Date().toISOString() }),
  };
};

/**
 * Apply a module's migrations in order, each once, recorded in `schema_migrations` (module, version) — the table
 * the SQLite-only `migrate` also writes, so a file migrated by an older hub carries on where it stopped. Each
 * step and its record commit together (DDL is transactional on both stores). Instances starting at once on
 * PostgreSQL take turns on an advisory lock and re-read what is applied once they hold it; on SQLite,
 * BEGIN IMMEDIATE does the same between processes. Never edit a released migration: append.
 * Resolves with the versions applied now.
 */
export async function migrateModule(
  store: SqlStore,
  module: string,
  migrations: readonly Migration[],
): Promise<number[]> {
  const l = ledger(store);
  await store.write(l.create).catch(async (err: unknown) => {
    // Two PostgreSQL instances creating it at the same instant: one loses the race on the catalogue.
    if (store.dialect !== 'postgres') throw err;
    await store.first(l.applied(module));
  });
  // Read first without a lock: on every start after the first, nothing is missing and nothing is locked.
  const applied = new Set((await store.all(l.applied(module))).map((r) => r.version));
  const now: number[] = [];
  for (const [i, migration] of migrations.entries()) {
    const version = i + 1;
    if (applied.has(version)) continue;
    await store.transaction(async (tx) => {
      if (store.dialect === 'postgres') await tx.all(MIGRATION_LOCK);
      const done = await tx.all(l.applied(module));
      if (done.some((r) => r.version === version)) return;
      for (const s of migration.statements(store.builder(), store.dialect)) await tx.write(s);
      await tx.write(l.record(module, version));
      now.push(version);
    });
  }
  return now;
}

/** `migrateModule` on the synchronous SQLite runner, for modules whose callers open them synchronously. */
export function migrateModuleSync(
  store: SqlStore,
  module: string,
  migrations: readonly Migration[],
): number[] {
  const sync = store.sync;
  if (!sync) throw new Error(`${store.dialect} cannot be migrated synchronously`);
  const l = ledger(store);
  sync.write(l.create);
  const now: number[] = [];
  for (const [i, migration] of migrations.entries()) {
    const version = i + 1;
    sync.transaction(() => {
      if (sync.all(l.applied(module)).some((r) => r.version === version)) return;
      for (const s of migration.statements(store.builder(), store.dialect)) sync.write(s);
      sync.write(l.record(module, version));
      now.push(version);
    });
  }
  return now;
}

/** The versions of `module` applied on this store, in order. */
export async function appliedVersions(store: SqlStore, module: string): Promise<number[]> {
  return (await store.all(ledger(store).applied(module))).map((r) => r.version);
}

/**
 * The one column the two stores spell differently: an integer key the database numbers itself. SQLite's
 * INTEGER PRIMARY KEY is the rowid (no AUTOINCREMENT, as the SQL migrations had it); PostgreSQL's is an identity.
 */
export function addIdColumn<T extends string, C extends string>(
  table: CreateTableBuilder<T, C>,
  dialect: Dialect,
): CreateTableBuilder<T, C | 'id'> {
  return dialect === 'postgres'
    ? table.addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : table.addColumn('id', 'integer', (c) => c.primaryKey());
}

/**
 * An index of the rows in one state only (`WHERE state = '<state>'`): what a due or pending read walks, without
 * the rows done long ago. The statements reading it must name the state as the same literal.
 */
export function stateIndex(
  db: Kysely<object>,
  name: string,
  table: string,
  columns: string[],
  state: string,
) {
  return db.schema.createIndex(name).on(table).columns(columns).where(sql.ref('state'), '=', state);
}
