/**
 * The alert store (alert-store.ts) on the shared PostgreSQL: the same operations as the SQLite store, built from
 * the same statements (alert-statements.ts, due-statements.ts, outbox-claims.ts), each answering a promise.
 *
 * `transaction(fn)` runs `fn` in one `store.transaction`, and every operation called while it runs — however deep
 * in the dispatcher, without the transaction being passed down — runs on that transaction's connection: the open
 * transaction is held in an AsyncLocalStorage, which the operations consult; outside any, an operation runs on the
 * pool. A `transaction` asked for while one is open never joins it: it waits for its turn, as on SQLite. Work a
 * body started without awaiting it (a timer armed in it that fires before the commit) inherits the body's
 * context; had it joined, its effects would have been taken for the body's and it would have written on after
 * the commit (a must-reach rung firing inside a raise left the dispatcher announcing nothing to the other
 * instances from then on: test/hub/failover.test.ts, 1 run in 10 beside other files).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Compilable } from 'kysely';
import type { Clock } from '../clock/clock.ts';
import { type ChangeFeed, silentFeed } from '../storage/changes.ts';
import { migrateLeases } from '../storage/leases.ts';
import { migrateModule } from '../storage/migrations.ts';
import type { SqlExecutor, SqlStore } from '../storage/sql-store.ts';
import {
  alertStatementOps,
  type ChunkWrite,
  chunkedWrites,
  storeOps,
  updateAlertOp,
} from './alert-statements.ts';
import type { AlertStatements, AlertStore, OutboxClaims } from './alert-store.ts';
import { type AuditPort, createAuditPort } from './audit-log.ts';
import { type ChannelTargetPort, createChannelTargetPort, heldChannelTargets } from './channel-targets.ts';
import type { WhenFeedReconnects } from './held-list.ts';
import { claimOps } from './outbox-claims.ts';
import { OUTBOX_MIGRATIONS } from './outbox-schema.ts';
import { createQuietHoursPort, heldQuietHours, type QuietHoursPort } from './quiet-hours.ts';
import { createResidentPort, heldResidents, type ResidentPort } from './residents.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';
import type { AlertStores } from './sqlite-alert-store.ts';
import type { ReadBuilder } from './sqlite-runner.ts';
import { type AnyOp, type AsyncOps, bind } from './store-ops.ts';
import type { AlertStoreTables, AlertTables } from './tables.ts';
import { createTurns, type TurnKind } from './turns.ts';

/** `T` with each method answering a promise of what it answered. */
export type Async<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : T[K];
};

/** The read side's runner (sqlite-runner.ts's `SqlRunner`), answering promises. */
export interface AsyncSqlRunner {
  all<R>(query: Compilable<R>): Promise<R[]>;
  get<R>(query: Compilable<R>): Promise<R | undefined>;
}

/** The port of alert-store.ts with every operation answering a promise (where the port allows Awaitables). */
export interface PostgresAlertStore
  extends Async<
    Pick<
      AlertStore,
      'updateAlert' | 'insertOutbox' | 'insertTimers' | 'insertEvents' | 'outboxDone' | 'maintenanceTasks'
    >
  > {
  /**
   * `fn` in one transaction: committed when it settles, rolled back when it throws; never joined to one already
   * open (a body that awaited a transaction of its own would wait for itself, as on SQLite). A rule
   * result's transaction (a raise, an update, a clear) takes its turn before routine ones (turns.ts).
   */
  transaction<T>(fn: () => T | Promise<T>, kind?: TurnKind): Promise<T>;
  /** A transaction is open in this chain of calls. */
  readonly inTransaction: boolean;
  readonly statements: Async<AlertStatements>;
  readonly claims: Async<OutboxClaims>;
  readonly reads: AsyncSqlRunner;
  readonly builder: ReadBuilder;
}

/** The transaction open in this chain of calls; `open` turns false when it has committed or rolled back. */
interface OpenTransaction {
  readonly tx: SqlExecutor;
  open: boolean;
}

/**
 * The dispatcher's stores on the shared PostgreSQL. The dispatcher reads quiet hours, channel targets and
 * residents for every alert: on PostgreSQL those reads are served from memory filled through these ports (and
 * reloaded when the ChangeFeed announces their tables, whose edits the ports announce), as the registry does.
 */
export interface PostgresAlertStores {
  alerts: PostgresAlertStore;
  residents: ResidentPort;
  audit: AuditPort;
  quietHours: QuietHoursPort;
  channelTargets: ChannelTargetPort;
}

/**
 * Migrate the dispatcher's tables (modules `alerts`, `alerts.outbox`, and the instance leases its claims name; the
 * channels migrate their own, in src/channels/push-store.ts) and open its stores on them. Instances starting together take turns on
 * migrateModule's advisory lock.
 */
export async function openPostgresAlertStores(
  store: SqlStore,
  clock: Clock,
  changes: ChangeFeed = silentFeed,
): Promise<PostgresAlertStores> {
  await migrateModule(store, 'alerts', ALERTS_MIGRATIONS);
  await migrateModule(store, 'alerts.outbox', OUTBOX_MIGRATIONS);
  // an outbox claim is live while its claimer's instance lease is (outbox-claims.ts)
  await migrateLeases(store);
  return {
    alerts: postgresAlertStore(store),
    residents: createResidentPort(store, clock, changes),
    audit: createAuditPort(store, clock),
    quietHours: createQuietHoursPort(store, changes),
    channelTargets: createChannelTargetPort(store, changes),
  };
}

/**
 * The dispatcher's stores on the shared PostgreSQL as the composition root hands them to it: the ports above,
 * with quiet hours, group-robot targets (read for every message) and residents (read for every alert's view)
 * held in memory and kept current by the change feed (held-list.ts).
 */
export async function openSharedAlertStores(
  store: SqlStore,
  clock: Clock,
  options: {
    timeZone: string;
    whenFeedReconnects?: WhenFeedReconnects;
    onError?: (err: unknown) => void;
  },
  changes: ChangeFeed = silentFeed,
): Promise<AlertStores> {
  const ports = await openPostgresAlertStores(store, clock, changes);
  const residents = await heldResidents(ports.residents, changes, options.onError);
  options.whenFeedReconnects?.(residents.reload);
  return {
    alerts: ports.alerts,
    residents,
    audit: ports.audit,
    quietHours: await heldQuietHours(ports.quietHours, options.timeZone, changes, options.whenFeedReconnects),
    channelTargets: await heldChannelTargets(ports.channelTargets, changes, options.whenFeedReconnects),
  };
}

/** The alert store on the shared PostgreSQL (the tables migrated already). */
export function postgresAlertStore(store: SqlStore): PostgresAlertStore {
  if (store.dialect !== 'postgres') throw new Error('postgresAlertStore needs the PostgreSQL store');
  const k = store.builder<AlertStoreTables>();
  const current = new AsyncLocalStorage<OpenTransaction>();
  // Work started inside a transaction that outlives it (a timer, an un-awaited call) runs on the pool, rather
  // than on a connection that has gone back to it.
  const executor = (): SqlExecutor => {
    const t = current.getStore();
    return t?.open ? t.tx : store;
  };

  function run(op: AnyOp): (...args: unknown[]) => Promise<unknown> {
    const bound = bind(op);
    const shape = op.shape as (raw: unknown) => unknown;
    switch (op.kind) {
      case 'all':
        return (...a) => executor().all(bound.with(a));
      case 'first':
        return async (...a) => shape(await executor().first(bound.with(a)));
      case 'write':
        return (...a) => executor().write(bound.with(a));
    }
  }
  const runAll = <O extends Record<string, AnyOp>>(ops: O): AsyncOps<O> =>
    Object.fromEntries(Object.entries(ops).map(([name, op]) => [name, run(op)])) as AsyncOps<O>;

  const own = runAll(storeOps(k));
  const updates = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  /** One statement per kind and count of rows (multi-row inserts, updates of many ids), compiled once. */
  const chunked = chunkedWrites(k, run);
  const runChunks = async (chunks: Iterable<ChunkWrite<(...args: unknown[]) => Promise<unknown>>>) => {
    let n = 0;
    for (const [statement, args] of chunks) n += (await statement(...args)) as number;
    return n;
  };
  /**
   * Transactions of this instance run one at a time, as on SQLite: the dispatcher relies on it (transactions.ts
   * keeps the effects of "the" running body), and side by side each would hold a pooled connection while its
   * reads of the other stores (residents, places) wait for another one — with as many open as the pool holds,
   * none gets one and all wait for ever (seen in test/hub/failover.test.ts's load: ten "idle in transaction").
   * Rule results take their turn first (turns.ts).
   */
  const turns = createTurns();
  return {
    async transaction<T>(fn: () => T | Promise<T>, kind: TurnKind = 'routine'): Promise<T> {
      return turns.run(kind, () =>
        store.transaction(async (tx) => {
          const t: OpenTransaction = { tx, open: true };
          try {
            return await current.run(t, fn);
          } finally {
            t.open = false;
          }
        }),
      );
    },
    get inTransaction() {
      return current.getStore()?.open === true;
    },
    statements: runAll(alertStatementOps(k, 'postgres')),
    claims: runAll(claimOps(k, 'postgres')),
    reads: {
      all: (query) => executor().all(query),
      get: (query) => executor().first(query),
    },
    builder: store.builder<AlertTables>(),
    async updateAlert(id, fields, now) {
      const keys = Object.keys(fields);
      const sig = keys.join(',');
      let update = updates.get(sig);
      if (!update) {
        update = run(updateAlertOp(k, keys));
        updates.set(sig, update);
      }
      await update(...keys.map((key) => fields[key]), now, id);
    },
    insertOutbox: (row) => own.insertOutbox(row),
    insertTimers: (timers) => runChunks(chunked.insertRows('alert_timers', timers)),
    insertEvents: (events) => runChunks(chunked.insertRows('alert_events', events)),
    outboxDone: (status, ids) => runChunks(chunked.outboxDone(status, ids)),
    maintenanceTasks: (open) =>
      open === undefined ? own.tasksAll() : open ? own.tasksOpen() : own.tasksDone(),
  } satisfies AlertStore; // the port itself: its Awaitables answered as promises
}
