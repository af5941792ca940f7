import { writeAll } from '../storage/batch.ts';
import { type ChangeFeed, silentFeed } from '../storage/changes.ts';
import { type LeaseTables, ownerGone } from '../storage/leases.ts';
import { compileOnce, type SqlStore } from '../storage/sql-store.ts';
import type { DeviceTable, PlaceLayoutTable, PlaceTable, RegistryTables } from './tables.ts';

/** A device going online or offline at `at`. */
export interface OnlineChange {
  id: string;
  online: boolean;
  at: number;
}

/**
 * What the registry keeps in the store, behind one async interface: the in-memory stores (PlaceStore,
 * DeviceStore) read everything once at start, answer the hot path from memory, and write through here. Written
 * once with Kysely; it runs on the SQLite store (statements prepared once, done before the call returns) and on
 * the PostgreSQL store alike.
 */
export interface RegistryStore {
  places: {
    all(): Promise<PlaceTable[]>;
    insert(row: PlaceTable): Promise<void>;
    layouts(): Promise<PlaceLayoutTable[]>;
    putLayout(row: PlaceLayoutTable): Promise<void>;
  };
  devices: {
    all(): Promise<DeviceTable[]>;
    get(id: string): Promise<DeviceTable | undefined>;
    insert(row: DeviceTable): Promise<void>;
    update(id: string, set: Pick<DeviceTable, 'enabled' | 'place_id' | 'floor' | 'label'>): Promise<boolean>;
    /** Replace a secret hash only if it is still `expected` (another instance may have upgraded it first). */
    replaceSecretHash(id: string, expected: string, fresh: string): Promise<boolean>;
    /**
     * Online and offline changes, in order, in one transaction. Online: the device is this instance's (it holds
     * the connection). Offline: only if it still is, or its owner is gone — a device that has moved to another
     * instance stays online when this one's old connection closes late.
     */
    setOnline(changes: readonly OnlineChange[]): Promise<void>;
    /** Last-seen times of many devices in one transaction; a time never moves back. */
    setLastSeen(seen: ReadonlyMap<string, number>): Promise<void>;
    /**
     * At start nothing is connected to this instance: its own online devices go offline at `at`, and those of
     * instances whose lease has run out; those another live instance holds stay online. The ids it changed.
     */
    markOfflineAtStart(at: number): Promise<string[]>;
    /** Online devices of instances whose lease has run out, offline at `at` (the heartbeat's sweep). */
    releaseOrphans(at: number): Promise<string[]>;
  };
}

/** The statements, built once; the store runs them (and SQLite's synchronous start-up reads them too). */
export function registryQueries(store: SqlStore) {
  const db = store.builder<RegistryTables>();
  return {
    allPlaces: () => db.selectFrom('places').selectAll().orderBy('id'),
    allLayouts: () => db.selectFrom('place_layout').selectAll(),
    allDevices: () => db.selectFrom('devices').selectAll().orderBy('id'),
    db,
  };
}

/** The presence columns, with the owner (registry migration 5) the device record does not carry. */
interface PresenceTables extends LeaseTables {
  devices: { id: string; online: number; online_changed_at: number | null; online_owner: string | null };
}

/**
 * `changes` hears what other instances must reload: places and devices as provisioned or edited. Presence is
 * not announced: online and last-seen are about the connections each instance holds. `owner` is this instance's
 * lease id (src/storage/leases.ts); the embedded hub is 'local', and holds no lease, so at its start every
 * device it finds online is its own or an orphan: all go offline, as always.
 */
export function createRegistryStore(
  store: SqlStore,
  changes: ChangeFeed = silentFeed,
  owner = 'local',
): RegistryStore {
  const q = registryQueries(store);
  const db = q.db;
  const pdb = store.builder<PresenceTables>();
  const offline = (at: number, mine: boolean) =>
    pdb
      .updateTable('devices')
      .set({ online: 0, online_changed_at: at, online_owner: null })
      .where('online', '=', 1)
      .where((eb) =>
        mine
          ? eb.or([eb('online_owner', '=', owner), ownerGone(store, 'online_owner', at)])
          : ownerGone(store, 'online_owner', at),
      )
      .returning('id');
  // Presence is written on every connect and disconnect (10 000 of each in a reconnect storm) and last-seen for
  // every device each flush: compiled once (building them per call cost 1.6 s of CPU in a 10 000-device storm).
  const ID = '\u0000id';
  const AT = -0.25;
  const goOnline = compileOnce(
    (id: string, at: number) =>
      pdb
        .updateTable('devices')
        .set({ online: 1, online_changed_at: at, online_owner: owner })
        .where('id', '=', id),
    [ID, AT],
  );
  const goOffline = compileOnce(
    (id: string, at: number) =>
      pdb
        .updateTable('devices')
        .set({ online: 0, online_changed_at: at, online_owner: null })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('online_owner', '=', owner), ownerGone(store, 'online_owner', at)])),
    [ID, AT],
  );
  const lastSeen = compileOnce(
    (id: string, at: number) =>
      db
        .updateTable('devices')
        .set({ last_seen: at })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('last_seen', 'is', null), eb('last_seen', '<', at)])),
    [ID, AT],
  );
  const announced = async (p: Promise<number>, table: 'places' | 'devices', id: string) => {
    await p;
    await changes.announce({ table, id });
  };
  return {
    places: {
      all: () => store.all(q.allPlaces()),
      insert: (row) => announced(store.write(db.insertInto('places').values(row)), 'places', row.id),
      layouts: () => store.all(q.allLayouts()),
      putLayout: (row) =>
        announced(
          store.write(
            db
              .insertInto('place_layout')
              .values(row)
              .onConflict((oc) =>
                oc.column('place_id').doUpdateSet((eb) => ({
                  x: eb.ref('excluded.x'),
                  y: eb.ref('excluded.y'),
                  floors: eb.ref('excluded.floors'),
                })),
              ),
          ),
          'places',
          row.place_id,
        ),
    },
    devices: {
      all: () => store.all(q.allDevices()),
      get: (id) => store.first(db.selectFrom('devices').selectAll().where('id', '=', id)),
      insert: (row) => announced(store.write(db.insertInto('devices').values(row)), 'devices', row.id),
      async update(id, set) {
        const n = await store.write(db.updateTable('devices').set(set).where('id', '=', id));
        if (n > 0) await changes.announce({ table: 'devices', id });
        return n > 0;
      },
      replaceSecretHash: async (id, expected, fresh) =>
        (await store.write(
          db
            .updateTable('devices')
            .set({ secret_hash: fresh })
            .where('id', '=', id)
            .where('secret_hash', '=', expected),
        )) > 0,
      setOnline: (changes) =>
        writeAll(
          store,
          changes.map((c) => (c.online ? goOnline : goOffline)(c.id, c.at)),
        ),
      setLastSeen: (seen) =>
        writeAll(
          store,
          [...seen].map(([id, at]) => lastSeen(id, at)),
        ),
      markOfflineAtStart: async (at) => (await store.all(offline(at, true))).map((r) => r.id),
      releaseOrphans: async (at) => (await store.all(offline(at, false))).map((r) => r.id),
    },
  };
}
