/**
 * Where the hub keeps its state (issue #18), opened for the composition root (hub.ts): the embedded SQLite file
 * in the data dir, or a PostgreSQL that several instances share. On PostgreSQL this instance also holds a lease
 * (who is alive, src/storage/leases.ts) and listens for the other instances' changes (src/storage/changes.ts);
 * the registry, the QoS 1 journal and rule state run on the shared store, owned by this instance's name.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Catalogue } from './catalogue/catalogue.ts';
import type { Clock } from './clock/clock.ts';
import { type JournalStore, postgresJournal } from './ingest/journal.ts';
import { checkServerKey } from './registry/key-check.ts';
import {
  createRegistry,
  openRegistry,
  type Registry,
  type RegistryOptions,
  reloadRegistry,
} from './registry/registry.ts';
import {
  openStateStore,
  postgresRulesTable,
  type StateStore,
  type StateStoreOptions,
} from './rules/store.ts';
import { type ChangeFeed, postgresChangeFeed, silentFeed } from './storage/changes.ts';
import { createInstanceLease, type InstanceLease, migrateLeases } from './storage/leases.ts';
import { openStore, redactUrl, type StoreLocation } from './storage/open.ts';
import type { SqlStore } from './storage/sql-store.ts';
import { type Db, openDatabase } from './storage/sqlite.ts';
import { sqliteStore } from './storage/sqlite-kysely.ts';

export interface HubStores {
  readonly kind: StoreLocation['kind'];
  /** This instance's name, the owner of its rows on a shared database; `local` on the embedded file. */
  readonly instanceId: string;
  /** This instance's SQLite file: all of the state when embedded. */
  readonly db: Db;
  /** The store the registry, journal and rule state are on (the SQLite file itself when embedded). */
  readonly store: SqlStore;
  readonly registry: Registry;
  /** The shared QoS 1 journal; undefined: ingest keeps it on `db`. */
  readonly journal: JournalStore | undefined;
  /** The shared rule state; undefined: the rules engine keeps it on `db`. */
  readonly ruleState: StateStore | undefined;
  /** Where the other instances' changes arrive (nothing to hear on the embedded file). */
  readonly changes: ChangeFeed;
  /**
   * Read again what `reload` holds in memory whenever the change feed listens again after a break (the registry
   * is reloaded already). Nothing calls it on the embedded file.
   */
  whenFeedReconnects(reload: () => Promise<void>): void;
  /** This instance's lease on the shared database, renewed from `start`; none on the embedded file. */
  readonly lease: InstanceLease | undefined;
  /** Give the lease up, stop listening, close the connections. */
  close(): Promise<void>;
}

export interface HubStoresOptions {
  location: StoreLocation;
  dataDir: string;
  /** `GRIDHUB_INSTANCE_ID`; unset, a fresh name per start (shared database only). */
  instanceId: string | undefined;
  clock: Clock;
  log: Logger;
  catalogue: Catalogue;
  registry: Omit<RegistryOptions, 'changes' | 'instanceId'>;
  /** Where `registry.secretKey` came from, for the message when it is not the database's key. */
  secretKeyFile: string;
  rules: StateStoreOptions;
  /** The SQLite file's WAL checkpoints (the hub: on a worker thread). */
  checkpoints?: 'background';
  /** Lease length on the shared database (default 15 s): how long a dead instance's rows wait for a taker. */
  leaseTtlMs?: number;
  /** `GRIDHUB_DATABASE_PREPARED_STATEMENTS` (default on): named prepared statements on PostgreSQL. */
  preparedStatements?: boolean;
}

/** Thrown when the stores cannot be opened as configured; the hub turns it into a start-up error. */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

export async function openHubStores(options: HubStoresOptions): Promise<HubStores> {
  const { location, clock, catalogue } = options;
  const db = openDatabase(join(options.dataDir, 'gridhub.db'), {
    ...(options.checkpoints ? { checkpoints: options.checkpoints } : {}),
  });
  if (location.kind === 'sqlite') {
    const registry = createRegistry(db, catalogue, clock, options.registry);
    return {
      kind: 'sqlite',
      instanceId: 'local',
      db,
      store: sqliteStore(db),
      registry,
      journal: undefined,
      ruleState: undefined,
      changes: silentFeed,
      whenFeedReconnects: () => {},
      lease: undefined,
      close: async () => void db.close(),
    };
  }
  const log = options.log.child({ module: 'storage' });
  const instanceId = options.instanceId ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
  let store: SqlStore;
  try {
    store = await openStore(location, db, {
      applicationName: `gridhub ${instanceId}`,
      preparedStatements: options.preparedStatements,
    });
  } catch (err) {
    db.close();
    throw new StoreOpenError((err as Error).message);
  }
  const closing: (() => Promise<void>)[] = [async () => void db.close(), () => store.close()];
  const closeAll = async () => {
    for (const close of closing.splice(0).reverse()) await close().catch(() => {});
  };
  try {
    const lease = createInstanceLease(store, {
      instanceId,
      clock,
      ...(options.leaseTtlMs ? { ttlMs: options.leaseTtlMs } : {}),
    });
    await migrateLeases(store);
    await takeName(lease, clock, log);
    await lease.renew();
    closing.push(() => lease.stop());
    let registry: Registry | undefined;
    const reloads: (() => Promise<void>)[] = [];
    const changes = postgresChangeFeed(store, location.url, {
      name: `gridhub-changes ${instanceId}`,
      onError: (err) => log.warn({ err }, 'change feed lost its connection; listening again'),
      // what the other instances said while the feed was down is gone: read everything again once
      onReconnect: () => {
        const all = [...(registry ? [() => reloadRegistry(registry as Registry)] : []), ...reloads];
        for (const reload of all)
          reload().catch((err: unknown) =>
            log.error({ err }, 'reloading after the change feed came back failed'),
          );
      },
    });
    closing.push(() => changes.close());
    await changes.ready();
    try {
      await checkServerKey(store, options.registry.secretKey, options.secretKeyFile);
    } catch (err) {
      throw new StoreOpenError((err as Error).message);
    }
    registry = await openRegistry(store, catalogue, clock, { ...options.registry, changes, instanceId });
    const journal = await postgresJournal(store, instanceId);
    const ruleState = await openStateStore(
      await postgresRulesTable(store, options.log.child({ module: 'rules' }), instanceId),
      options.log.child({ module: 'rules' }),
      options.rules,
    );
    log.info({ instanceId, database: redactUrl(location.url) }, 'on the shared PostgreSQL store');
    return {
      kind: 'postgres',
      instanceId,
      db,
      store,
      registry,
      journal,
      ruleState,
      changes,
      whenFeedReconnects: (reload) => void reloads.push(reload),
      lease,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * Take the instance's name: a live lease under it means another process runs as this instance, or this one
 * crashed moments ago and its lease has not run out yet. Wait out one lease length for the latter; if the name
 * is still held then, someone renews it: two processes under one name would each take the other's rows.
 */
async function takeName(lease: InstanceLease, clock: Clock, log: Logger): Promise<void> {
  if (!(await lease.isLive(lease.instanceId))) return;
  log.warn(
    { instanceId: lease.instanceId, waitMs: lease.ttlMs },
    'the lease of this instance name is still live: waiting for it to run out (a crash moments ago) or be renewed (another process with the same GRIDHUB_INSTANCE_ID)',
  );
  const step = Math.max(1, Math.floor(lease.ttlMs / 5));
  const sleep = (ms: number) => new Promise<void>((done) => clock.setTimeout(done, ms));
  for (let waited = 0; waited <= lease.ttlMs; waited += step) {
    await sleep(step);
    if (await lease.isLive(lease.instanceId)) continue;
    // Two renewal periods more before the name is live again: each other instance renews within one and reads
    // who is live right after, so it sees this name leave and takes its devices as a dead owner's, then sees it
    // join and hands them back with its notes. Taken at once, the others could miss the gap, go on thinking this
    // instance evaluates its share, and never hand it back (found by test/hub/owner-routing.test.ts).
    await sleep(Math.ceil((2 * lease.ttlMs) / 3));
    return;
  }
  throw new StoreOpenError(
    `another hub instance runs as GRIDHUB_INSTANCE_ID=${lease.instanceId} on this database: give each instance its own name`,
  );
}
