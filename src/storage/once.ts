import type { Kysely } from 'kysely';
import type { Clock } from '../clock/clock.ts';
import { type Migration, migrateModule } from './migrations.ts';
import { isUniqueViolation, type SqlStore } from './sql-store.ts';

/**
 * Work done once per database, however many instances start on it at the same time (the demo community is
 * seeded once, issue #18). The first instance to insert the task's row does the work and marks it done; the
 * others wait for the mark. Work that fails gives its row up, so the next start tries again; an instance that
 * dies in the middle leaves a row that is never marked: after `staleMs` another instance takes the task over.
 */
interface OnceTables {
  hub_once: { name: string; started_at: number; done_at: number | null };
}

export const ONCE_MIGRATIONS: readonly Migration[] = [
  {
    description: 'work done once per database (the demo seed)',
    statements: (db) => [
      db.schema
        .createTable('hub_once')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('done_at', 'bigint'),
    ],
  },
];

export interface OnceOptions {
  clock: Clock;
  /** A task started this long ago and never marked done belongs to an instance that died (default 2 min). */
  staleMs?: number;
  /** How often a waiting instance looks again (default 500 ms of the clock). */
  pollMs?: number;
}

/** `ran`: this call did the work; `done`: it had been done (or was done meanwhile) by another instance. */
export type OnceOutcome = 'ran' | 'done';

export async function runOnce(
  store: SqlStore,
  name: string,
  work: () => Promise<void>,
  options: OnceOptions,
): Promise<OnceOutcome> {
  const { clock } = options;
  const staleMs = options.staleMs ?? 120_000;
  const pollMs = options.pollMs ?? 500;
  await migrateModule(store, 'once', ONCE_MIGRATIONS);
  const db: Kysely<OnceTables> = store.builder<OnceTables>();
  for (;;) {
    const row = await store.first(db.selectFrom('hub_once').selectAll().where('name', '=', name));
    if (row?.done_at != null) return 'done';
    const now = clock.now();
    let mine = false;
    if (!row) {
      try {
        mine =
          (await store.write(db.insertInto('hub_once').values({ name, started_at: now, done_at: null }))) > 0;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
    } else if (Number(row.started_at) + staleMs <= now) {
      // the instance that started it is gone: take it over, unless another waiter just did
      mine =
        (await store.write(
          db
            .updateTable('hub_once')
            .set({ started_at: now })
            .where('name', '=', name)
            .where('started_at', '=', row.started_at)
            .where('done_at', 'is', null),
        )) > 0;
    }
    if (mine) {
      try {
        await work();
      } catch (err) {
        await store.write(db.deleteFrom('hub_once').where('name', '=', name).where('done_at', 'is', null));
        throw err;
      }
      await store.write(db.updateTable('hub_once').set({ done_at: clock.now() }).where('name', '=', name));
      return 'ran';
    }
    await new Promise<void>((resolve) => clock.setTimeout(resolve, pollMs));
  }
}
