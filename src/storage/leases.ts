import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Clock, TimerHandle } from '../clock/clock.ts';
import { type Migration, migrateModule } from './migrations.ts';
import type { SqlStore } from './sql-store.ts';

/**
 * Which hub instances are alive, for the rows one instance owns on a shared database (journal rows in flight,
 * device presence, rule state): each instance holds a lease in `instance_leases` and renews it while it runs. A
 * row whose owner holds no live lease belongs to an instance that died (or stopped): another may take it.
 *
 * One row per instance, renewed every `ttlMs / 3`, rather than a lease on every owned row: an instance owning
 * 10 000 devices' presence renews one row, not 10 000.
 */
export interface LeaseTables {
  instance_leases: { instance_id: string; expires_at: number };
}

export const LEASE_MIGRATIONS: readonly Migration[] = [
  {
    description: 'instance leases: who is alive on this database, until when',
    statements: (db) => [
      db.schema
        .createTable('instance_leases')
        .addColumn('instance_id', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull()),
    ],
  },
];

/** Create the lease table (on both stores; the SQLite hub holds its one lease there too). */
export const migrateLeases = (store: SqlStore): Promise<number[]> =>
  migrateModule(store, 'instances', LEASE_MIGRATIONS);

/**
 * `column` names an owner who holds no live lease at `now` (dead, stopped, or never had one: NULL, or '' on rows
 * older than ownership): the condition under which another instance may take the row. Evaluated inside the
 * statement that takes it, so on PostgreSQL two instances taking the same rows at once cannot both succeed (the
 * second one's UPDATE re-reads the row after the first commits and finds a live owner). One spelling for both
 * stores; `column` is qualified where the statement needs it (`rules_state.owner` in an upsert).
 */
export function ownerGone(store: SqlStore, column: string, now: number): RawBuilder<boolean> {
  return ownerGoneIn(store.builder<LeaseTables>(), column, now);
}

/** `ownerGone` for a statement built on a query builder that also knows `instance_leases`. */
export function ownerGoneIn<DB>(db: Kysely<DB>, column: string, now: number): RawBuilder<boolean> {
  // Kysely's builder is invariant in its tables; the sub-select names only the lease table, which the database
  // of every caller has (the registry and the hub-stores migrate it).
  const leases = db as unknown as Kysely<LeaseTables>;
  const live = leases.selectFrom('instance_leases').select('instance_id').where('expires_at', '>', now);
  const ref = sql.ref(column);
  return sql<boolean>`(${ref} is null or ${ref} not in ${live})`;
}

export interface InstanceLease {
  readonly instanceId: string;
  readonly ttlMs: number;
  /** Write the lease (now + ttl); resolves once it is in the store. */
  renew(): Promise<void>;
  /**
   * Renew every ttl/3 on the clock until `stop`; a failed renewal is reported and tried again at the next.
   * `afterRenewal` (the heartbeat's sweep: take over what dead instances own) runs after a renewal that
   * succeeded, with the clock's now, beside the heartbeat and never in front of it: a sweep slowed by a busy
   * store does not hold the next renewal back. Sweeps never overlap (a renewal while one runs has another run
   * right after it), and an instance whose own lease could not be written does not sweep (it may be the one cut
   * off). Its failure is reported too.
   */
  start(
    onError?: (err: unknown) => void,
    afterRenewal?: (now: number) => Promise<void>,
    /**
     * An earlier moment for the next renewal and sweep than a third of the lease (another instance's lease end:
     * if it has died, its work is taken over the moment its lease runs out, not up to a period later).
     */
    nextWake?: (now: number) => number | undefined,
  ): void;
  /** Stop renewing and give the lease up, so others take this instance's rows at once rather than after ttl. */
  stop(): Promise<void>;
  /** Whether `instanceId` holds a live lease at the clock's now. */
  isLive(instanceId: string): Promise<boolean>;
  /** Until when this instance's own lease runs, as last written (0 before the first renewal). */
  heldUntil(): number;
}

export function createInstanceLease(
  store: SqlStore,
  options: { instanceId: string; clock: Clock; ttlMs?: number },
): InstanceLease {
  const { instanceId, clock } = options;
  const ttlMs = options.ttlMs ?? 15_000;
  const db: Kysely<LeaseTables> = store.builder<LeaseTables>();
  let timer: TimerHandle | undefined;
  let stopped = false;
  let heldUntil = 0;
  /** The sweep running now, if any. */
  let sweeping: Promise<void> | undefined;
  const renew = async () => {
    const expires_at = clock.now() + ttlMs;
    await store.write(
      db
        .insertInto('instance_leases')
        .values({ instance_id: instanceId, expires_at })
        .onConflict((oc) => oc.column('instance_id').doUpdateSet({ expires_at })),
    );
    heldUntil = expires_at;
  };
  return {
    instanceId,
    ttlMs,
    renew,
    start(onError, afterRenewal, nextWake) {
      stopped = false;
      // The sweep once waited in front of the next renewal. Under the failover load a sweep taking a dead
      // instance's backlog over ran longer than the lease, so the sweeping instance's own lease ran out while it
      // worked, and the others took its rows in turn: instances taking over one another every second, none dead.
      let again = false;
      const sweep = (): void => {
        if (!afterRenewal || stopped) return;
        if (sweeping) {
          again = true;
          return;
        }
        again = false;
        sweeping = afterRenewal(clock.now())
          .catch((err: unknown) => onError?.(err))
          .finally(() => {
            sweeping = undefined;
            if (again) sweep();
          });
      };
      const tick = () => {
        timer = undefined;
        renew()
          .then(sweep)
          .catch((err: unknown) => onError?.(err))
          .finally(() => {
            if (stopped) return;
            const now = clock.now();
            const period = Math.max(1, Math.floor(ttlMs / 3));
            // just past the other's end: at its very end the lease still reads live (`expires_at > now`)
            const wake = nextWake?.(now);
            const delay = wake === undefined ? period : Math.min(period, Math.max(1, wake - now + 1));
            timer = clock.setTimeout(tick, delay);
          });
      };
      tick();
    },
    async stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      timer = undefined;
      // a sweep under way finishes before the lease is given up (what it took over is then delivered or released)
      await sweeping;
      await store.write(db.deleteFrom('instance_leases').where('instance_id', '=', instanceId));
      heldUntil = 0;
    },
    heldUntil: () => heldUntil,
    async isLive(id) {
      const row = await store.first(
        db
          .selectFrom('instance_leases')
          .select('expires_at')
          .where('instance_id', '=', id)
          .where('expires_at', '>', clock.now()),
      );
      return row !== undefined;
    },
  };
}

/**
 * Readiness on the shared database (`/readyz`): this instance's lease is live, i.e. a renewal reached the database
 * within the lease length. An instance that cannot renew is taken for dead by the others, which take over its
 * devices and deliveries; a load balancer should stop sending it requests too.
 */
export function leaseCheck(lease: Pick<InstanceLease, 'heldUntil'>, clock: Clock): () => true | string {
  return () =>
    lease.heldUntil() > clock.now() ||
    'the shared database has not taken this instance’s lease renewal in time: the other instances take over its work';
}
