import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock } from '../clock/clock.ts';
import type { ChangeFeed } from '../storage/changes.ts';
import { LEASE_MIGRATIONS, migrateLeases } from '../storage/leases.ts';
import { migrateModule, migrateModuleSync } from '../storage/migrations.ts';
import type { SqlStore } from '../storage/sql-store.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore, sqliteTransactions } from '../storage/sqlite-kysely.ts';
import { DeviceStore } from './devices.ts';
import { createPeopleStore, type PeopleStore } from './people.ts';
import { createPeoplePort, peopleRowsSync } from './people-port.ts';
import { PlaceStore } from './places.ts';
import { createRegistryStore, registryQueries } from './registry-store.ts';
import { REGISTRY_MIGRATIONS } from './schema.ts';
import { DeviceSecretHasher } from './secrets.ts';
import { createUserPort, userRowsSync } from './user-port.ts';
import { UserStore } from './users.ts';

const DEFAULT_TIME_ZONE = 'Asia/Shanghai';

/** The registry: places, devices, people and users. */
export interface Registry {
  places: PlaceStore;
  devices: DeviceStore;
  people: PeopleStore;
  users: UserStore;
}

export interface RegistryOptions {
  /** The community's time zone, in which weekly duty shifts are kept (IANA name). */
  timeZone?: string;
  /**
   * The server key for device-secret hashes (`loadServerKey` of the data dir). Required: a key made up here
   * would hash secrets that no later process, nor another one on the same file, could verify.
   */
  secretKey: Buffer;
  /** scrypt N for passwords (default OWASP's 2^17). */
  passwordCost?: number;
  /** Hears a write-behind presence write, or a reload after another instance's change, that failed. */
  onWriteError?: (err: unknown, deviceIds: readonly string[]) => void;
  /** Where other instances' changes arrive (PostgreSQL: LISTEN/NOTIFY); none on SQLite. */
  changes?: ChangeFeed;
  /** This instance's lease id, the owner of the devices it holds online (default 'local', the embedded hub). */
  instanceId?: string;
}

/**
 * Open the registry on the SQLite file, synchronously (the hub, the alerts and ingest harnesses, the benches).
 * Everything goes through the dialect-neutral ports (here Kysely over `db` itself), read at start with SQLite's
 * synchronous runner.
 */
export function createRegistry(
  db: Db,
  catalogue: Catalogue,
  clock: Clock,
  options: RegistryOptions,
  store: SqlStore = sqliteStore(db),
): Registry {
  const sync = store.sync;
  if (!sync) throw new Error('createRegistry opens SQLite only: use openRegistry for PostgreSQL');
  migrateModuleSync(store, 'instances', LEASE_MIGRATIONS);
  migrateModuleSync(store, 'registry', REGISTRY_MIGRATIONS);
  const tables = createRegistryStore(store, undefined, options.instanceId);
  const q = registryQueries(store);
  const places = new PlaceStore(tables.places, sync.all(q.allPlaces()), sync.all(q.allLayouts()));
  const devices = new DeviceStore(tables.devices, sync.all(q.allDevices()), deps(places, catalogue, options));
  // Commits by another connection to the file (another process, a script) move data_version; the roster then
  // reads itself again at the next lookup. Our own writes do not move it: they reload the roster themselves.
  const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
  // Within one of the connection's write transactions (BEGIN IMMEDIATE, src/storage/sqlite-kysely.ts) no other
  // connection can commit, so data_version stays put until it ends: it is read once per transaction, not at each
  // of a raise's roster lookups.
  const transactions = sqliteTransactions(db);
  let readIn: Promise<void> | undefined;
  let read = 0;
  const version = (): number => {
    const open = db.inTransaction ? transactions.open : undefined;
    if (open === undefined || open !== readIn) {
      read = dataVersion.get() as number;
      readIn = open;
    }
    return read;
  };
  const people = createPeopleStore(
    {
      port: createPeoplePort(store),
      rows: peopleRowsSync(store, sync),
      sync: { rows: () => peopleRowsSync(store, sync), version },
    },
    places,
    peopleOptions(options),
  );
  const users = new UserStore(
    createUserPort(store),
    () => clock.now(),
    userRowsSync(store, sync),
    userOptions(options),
  );
  return { places, devices, people, users };
}

/**
 * Open the registry on any store, PostgreSQL included. `options.changes` (PostgreSQL: LISTEN/NOTIFY) brings
 * other instances' changes into this instance's memory: places, devices, the roster, accounts, revoked tokens.
 */
export async function openRegistry(
  store: SqlStore,
  catalogue: Catalogue,
  clock: Clock,
  options: RegistryOptions,
): Promise<Registry> {
  await migrateLeases(store);
  await migrateModule(store, 'registry', REGISTRY_MIGRATIONS);
  const tables = createRegistryStore(store, options.changes, options.instanceId);
  const places = await PlaceStore.open(tables.places);
  const devices = await DeviceStore.open(tables.devices, deps(places, catalogue, options));
  const peoplePort = createPeoplePort(store, options.changes);
  const people = createPeopleStore(
    { port: peoplePort, rows: await peoplePort.rows() },
    places,
    peopleOptions(options),
  );
  const users = await UserStore.open(
    createUserPort(store, options.changes),
    () => clock.now(),
    userOptions(options),
  );
  // Another instance's change: read it again (a device after the places, whose path it takes).
  options.changes?.subscribe((change) => {
    const reload =
      change.table === 'places'
        ? places.reload()
        : change.table === 'devices'
          ? places.reload().then(() => devices.reload(change.id))
          : change.table === 'people'
            ? people.invalidate()
            : change.table === 'users' || change.table === 'api_tokens'
              ? users.heard(change)
              : undefined;
    reload?.catch((err: unknown) => options.onWriteError?.(err, [change.id]));
  });
  return { places, devices, people, users };
}

/**
 * Read everything the registry holds in memory again, in the order paths need (places, then devices, people,
 * users): the change feed calls this after it listens again, since notifications sent while it was down are lost.
 */
export async function reloadRegistry(registry: Registry): Promise<void> {
  await registry.places.reload();
  await registry.devices.reloadAll();
  await registry.people.invalidate();
  await registry.users.reloadAll();
}

const deps = (places: PlaceStore, catalogue: Catalogue, options: RegistryOptions) => ({
  places,
  catalogue,
  hasher: new DeviceSecretHasher(options.secretKey),
  ...(options.onWriteError ? { onWriteError: options.onWriteError } : {}),
});

const peopleOptions = (options: RegistryOptions) => ({ timeZone: options.timeZone ?? DEFAULT_TIME_ZONE });
const userOptions = (options: RegistryOptions) =>
  options.passwordCost ? { passwordCost: options.passwordCost } : {};

export type { DeviceStore, PeopleStore, PlaceStore, UserStore };
