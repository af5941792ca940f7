import { type CreateTableBuilder, type Kysely, sql } from 'kysely';
import type { Dialect, SqlStore } from './sql-store.ts';

/**
 * One step of a module's schema, written once for both stores with Kysely's schema builder. `dialect` is there
 * for the few column types the two spell differently (an identity column, see `idColumn`); the rest of a
 * migration should not look at it.
 */
export interface Migration {
  readonly description: string;
  up(db: Kysely<object>, dialect: Dialect): Promise<void>;
}

interface MigrationTables {
  schema_migrations: { module: string; version: number; applied_at: string };
}

/** A key for pg_advisory_xact_lock: every instance migrating the same database takes turns on it. */
const MIGRATION_LOCK = 0x67726964; // "grid"

/**
 * Apply a module's migrations in order, each once, recorded in `schema_migrations` (module, version) — the table
 * the SQLite-only `migrate` also writes, so a file migrated by an older hub carries on where it stopped. Each
 * step and its record commit together. Several instances starting at once on PostgreSQL take turns on an
 * advisory lock and re-read what is applied once they hold it; on SQLite, BEGIN IMMEDIATE does the same.
 * Never edit a released migration: append.
 */
export async function migrateModule(
  store: SqlStore,
  module: string,
  migrations: readonly Migration[],
): Promise<number[]> {
  const db = store.kysely<MigrationTables>();
  await db.schema
    .createTable('schema_migrations')
    .ifNotExists()
    .addColumn('module', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('applied_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('schema_migrations_pkey', ['module', 'version'])
    .execute()
    .catch(async (err: unknown) => {
      // Two PostgreSQL instances creating it at the same instant: one loses the race on the catalogue.
      if (store.dialect !== 'postgres') throw err;
      await db.selectFrom('schema_migrations').select('version').limit(1).execute();
    });
  // Read first without a lock: on every start after the first, nothing is missing and nothing is locked.
  const applied = new Set(await appliedVersions(store, module));
  const appliedNow: number[] = [];
  for (const [i, migration] of migrations.entries()) {
    const version = i + 1;
    if (applied.has(version)) continue;
    await store.transaction<MigrationTables, void>(async (tx) => {
      if (store.dialect === 'postgres')
        await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(tx);
      const done = await tx
        .selectFrom('schema_migrations')
        .select('version')
        .where('module', '=', module)
        .where('version', '=', version)
        .executeTakeFirst();
      if (done) return;
      await migration.up(tx as unknown as Kysely<object>, store.dialect);
      await tx
        .insertInto('schema_migrations')
        .values({ module, version, applied_at: new Date().toISOString() })
        .execute();
      appliedNow.push(version);
    });
  }
  return appliedNow;
}

/** The versions of `module` applied on this store, in order. */
export async function appliedVersions(store: SqlStore, module: string): Promise<number[]> {
  const rows = await store
    .kysely<MigrationTables>()
    .selectFrom('schema_migrations')
    .select('version')
    .where('module', '=', module)
    .orderBy('version')
    .execute();
  return rows.map((r) => r.version);
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
