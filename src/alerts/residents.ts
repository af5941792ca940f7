/**
 * Residents behind devices (a call button's elder): their contact and health notes, read by the dispatcher. The
 * statements are written once with Kysely: `createResidentStore` runs them synchronously on the hub's SQLite
 * connection (the dispatcher reads a resident inside its raise), `createResidentPort` on either store, announcing
 * each edit to the other instances; `heldResidents` serves the reads of a shared database from memory.
 */

import type { Kysely } from 'kysely';
import type { Clock } from '../clock/clock.ts';
import type { Awaitable } from '../domain/awaitable.ts';
import { GridHubError } from '../domain/errors.ts';
import type { Resident, ResidentInput } from '../domain/records.ts';
import { type ChangeFeed, silentFeed } from '../storage/changes.ts';
import { compileOnce, type SqlStore } from '../storage/sql-store.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import { holdList } from './held-list.ts';
import type { AlertStoreTables, ResidentTable } from './tables.ts';

/** What `ChangeFeed` announces after an edit: other instances reload the residents they hold. */
export const RESIDENTS_TABLE = 'residents';

const toResident = (r: ResidentTable): Resident => ({
  id: r.id,
  name: r.name,
  phone: r.phone,
  familyName: r.family_name,
  familyPhone: r.family_phone,
  healthNotes: r.health_notes,
  deviceId: r.device_id,
  placeId: r.place_id,
  updatedAt: r.updated_at,
});

/** The residents as the dispatcher and the API use them: synchronous on the SQLite file, a promise elsewhere. */
export interface ResidentStore {
  get(id: string): Awaitable<Resident | undefined>;
  forDevice(deviceId: string): Awaitable<Resident | undefined>;
  list(): Awaitable<Resident[]>;
  /** Create or replace a resident record (the demo seed calls this too). */
  put(input: ResidentInput): Awaitable<Resident>;
  remove(id: string): Awaitable<boolean>;
}

/** The residents on either store. */
export interface ResidentPort {
  get(id: string): Promise<Resident | undefined>;
  forDevice(deviceId: string): Promise<Resident | undefined>;
  list(): Promise<Resident[]>;
  put(input: ResidentInput): Promise<Resident>;
  remove(id: string): Promise<boolean>;
}

function residentQueries(db: Kysely<AlertStoreTables>) {
  return {
    byId: (id: string) => db.selectFrom('residents').selectAll().where('id', '=', id),
    byDevice: (deviceId: string) => db.selectFrom('residents').selectAll().where('device_id', '=', deviceId),
    all: () => db.selectFrom('residents').selectAll().orderBy('id'),
    put: (r: ResidentInput, now: number) =>
      db
        .insertInto('residents')
        .values({
          id: r.id,
          name: r.name,
          phone: r.phone,
          family_name: r.familyName,
          family_phone: r.familyPhone,
          health_notes: r.healthNotes,
          device_id: r.deviceId,
          place_id: r.placeId,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            name: eb.ref('excluded.name'),
            phone: eb.ref('excluded.phone'),
            family_name: eb.ref('excluded.family_name'),
            family_phone: eb.ref('excluded.family_phone'),
            health_notes: eb.ref('excluded.health_notes'),
            device_id: eb.ref('excluded.device_id'),
            place_id: eb.ref('excluded.place_id'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .returningAll(),
    remove: (id: string) => db.deleteFrom('residents').where('id', '=', id),
  };
}

/** A device belongs to one resident: giving it to a second one is a conflict, not a silent move. */
function checkDevice(input: ResidentInput, holder: ResidentTable | undefined): void {
  if (holder && holder.id !== input.id) {
    throw new GridHubError('CONFLICT', `device ${input.deviceId} belongs to resident ${holder.id}`, {
      field: 'deviceId',
    });
  }
}

export function createResidentStore(db: Db, clock: Clock): ResidentStore {
  const store = sqliteStore(db);
  const sync = store.sync as NonNullable<SqlStore['sync']>;
  const q = residentQueries(store.builder<AlertStoreTables>());
  const one = (row: ResidentTable | undefined) => (row ? toResident(row) : undefined);
  // The raise reads a call button's resident: compiled once, not built per call (src/storage/README.md).
  const byId = compileOnce(q.byId, ['\u0000id']);
  const byDevice = compileOnce(q.byDevice, ['\u0000device']);
  return {
    get: (id) => one(sync.first(byId(id))),
    forDevice: (deviceId) => one(sync.first(byDevice(deviceId))),
    list: () => sync.all(q.all()).map(toResident),
    put(input) {
      checkDevice(input, input.deviceId ? sync.first(byDevice(input.deviceId)) : undefined);
      return toResident(sync.first(q.put(input, clock.now())) as ResidentTable);
    },
    remove: (id) => sync.write(q.remove(id)) > 0,
  };
}

export function createResidentPort(
  store: SqlStore,
  clock: Clock,
  changes: ChangeFeed = silentFeed,
): ResidentPort {
  const q = residentQueries(store.builder<AlertStoreTables>());
  const one = (row: ResidentTable | undefined) => (row ? toResident(row) : undefined);
  return {
    get: async (id) => one(await store.first(q.byId(id))),
    forDevice: async (deviceId) => one(await store.first(q.byDevice(deviceId))),
    list: async () => (await store.all(q.all())).map(toResident),
    async put(input) {
      checkDevice(input, input.deviceId ? await store.first(q.byDevice(input.deviceId)) : undefined);
      // Another instance giving the device to someone else in between fails on the column's UNIQUE instead.
      const saved = toResident((await store.first(q.put(input, clock.now()))) as ResidentTable);
      await changes.announce({ table: RESIDENTS_TABLE, id: saved.id });
      return saved;
    },
    async remove(id) {
      const removed = (await store.write(q.remove(id))) > 0;
      if (removed) await changes.announce({ table: RESIDENTS_TABLE, id });
      return removed;
    },
  };
}

/** The residents held in memory; `reload` reads them all again (the change feed came back after a gap). */
export interface HeldResidents extends ResidentStore {
  get(id: string): Resident | undefined;
  forDevice(deviceId: string): Resident | undefined;
  reload(): Promise<void>;
}

/**
 * The residents on a shared database as the dispatcher reads them: every alert's view names its device's
 * resident, and transactions on PostgreSQL run one at a time, so a read per view was a round trip each of them
 * waited for. Residents are edited by people (the API, the demo seed), never inside an alert transaction: the
 * whole table is held in memory, read again after this instance's own edit (which `put` and `remove` await, so
 * the next view has it) and whenever another instance announces an edit of `residents` on the change feed.
 */
export async function heldResidents(
  port: ResidentPort,
  changes: ChangeFeed = silentFeed,
  onError?: (err: unknown) => void,
): Promise<HeldResidents> {
  // Frozen: one object is handed to every reader until the next reload.
  const load = async () => (await port.list()).map((r) => Object.freeze(r));
  const held = await holdList(load, RESIDENTS_TABLE, changes, onError);
  // The indexes of the list last read, rebuilt when a reload replaced it.
  let indexed: readonly Resident[] | undefined;
  let byId = new Map<string, Resident>();
  let byDevice = new Map<string, Resident>();
  const index = () => {
    const items = held.items();
    if (items !== indexed) {
      byId = new Map(items.map((r) => [r.id, r]));
      byDevice = new Map(items.flatMap((r) => (r.deviceId ? [[r.deviceId, r] as const] : [])));
      indexed = items;
    }
    return { byId, byDevice };
  };
  return {
    get: (id) => index().byId.get(id),
    forDevice: (deviceId) => index().byDevice.get(deviceId),
    list: async () => [...held.items()],
    async put(input) {
      const saved = await port.put(input);
      await held.reload();
      return saved;
    },
    async remove(id) {
      const removed = await port.remove(id);
      if (removed) await held.reload();
      return removed;
    },
    reload: held.reload,
  };
}
