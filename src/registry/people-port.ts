import { writeAll } from '../storage/batch.ts';
import { type ChangeFeed, silentFeed } from '../storage/changes.ts';
import type { SqlStore, SyncSql } from '../storage/sql-store.ts';
import type {
  DutyOverrideTable,
  DutyShiftTable,
  PersonPlaceTable,
  PersonTable,
  RegistryTables,
} from './tables.ts';

/** Everything the roster is made of, as the store keeps it: what the in-memory PeopleStore is built from. */
export interface PeopleRows {
  people: PersonTable[];
  places: PersonPlaceTable[];
  shifts: Omit<DutyShiftTable, 'id'>[];
  overrides: (Omit<DutyOverrideTable, 'id'> & { id: number })[];
}

export type NewShift = Pick<DutyShiftTable, 'weekday' | 'start_minute' | 'end_minute'>;

/**
 * People and duty in the store, behind one async interface written once with Kysely (SQLite and PostgreSQL).
 * The PeopleStore reads all of it (`rows`) at start and after every change, and answers the dispatcher's duty
 * questions from memory; its writes come through here. Every write announces `{ table: 'people', id }` after it
 * committed, so other instances reload their roster.
 */
export interface PeoplePort {
  rows(): Promise<PeopleRows>;
  /** A person with the places they serve, in one transaction. */
  insert(row: PersonTable, placeIds: readonly string[]): Promise<void>;
  /** Replace a person's row; `placeIds`, when given, replaces the places they serve, in the same transaction. */
  update(row: PersonTable, placeIds: readonly string[] | undefined): Promise<void>;
  /** Replace a person's weekly shifts, in one transaction. */
  setShifts(personId: string, shifts: readonly NewShift[]): Promise<void>;
  /** A dated override; its generated id. */
  addOverride(row: Omit<DutyOverrideTable, 'id'>): Promise<number>;
}

function peopleQueries(store: SqlStore) {
  const db = store.builder<RegistryTables>();
  return {
    db,
    people: () => db.selectFrom('people').selectAll().orderBy('id'),
    places: () => db.selectFrom('person_places').selectAll().orderBy('person_id').orderBy('place_id'),
    shifts: () =>
      db
        .selectFrom('duty_shifts')
        .select(['person_id', 'weekday', 'start_minute', 'end_minute'])
        .orderBy('person_id')
        .orderBy('weekday')
        .orderBy('start_minute'),
    overrides: () =>
      db
        .selectFrom('duty_overrides')
        .select(['id', 'person_id', 'starts_at', 'ends_at', 'on_leave', 'note'])
        .orderBy('person_id')
        .orderBy('starts_at')
        .orderBy('id'),
  };
}

/** The roster read synchronously: SQLite only, for registries opened synchronously and SQLite's cache. */
export function peopleRowsSync(store: SqlStore, sync: SyncSql): PeopleRows {
  const q = peopleQueries(store);
  return {
    people: sync.all(q.people()),
    places: sync.all(q.places()),
    shifts: sync.all(q.shifts()),
    overrides: sync.all(q.overrides()),
  };
}

export function createPeoplePort(store: SqlStore, changes: ChangeFeed = silentFeed): PeoplePort {
  const q = peopleQueries(store);
  const db = q.db;
  const announce = (id: string) => changes.announce({ table: 'people', id });
  const placeRows = (personId: string, placeIds: readonly string[]) =>
    placeIds.map((place_id) => ({ person_id: personId, place_id }));
  return {
    async rows() {
      // Four reads, not one transaction: a write between them is announced, and its reload follows.
      const [people, places, shifts, overrides] = await Promise.all([
        store.all(q.people()),
        store.all(q.places()),
        store.all(q.shifts()),
        store.all(q.overrides()),
      ]);
      return { people, places, shifts, overrides };
    },
    async insert(row, placeIds) {
      await writeAll(store, [
        db.insertInto('people').values(row),
        ...(placeIds.length ? [db.insertInto('person_places').values(placeRows(row.id, placeIds))] : []),
      ]);
      await announce(row.id);
    },
    async update(row, placeIds) {
      const { id, ...set } = row;
      await writeAll(store, [
        db.updateTable('people').set(set).where('id', '=', id),
        ...(placeIds ? [db.deleteFrom('person_places').where('person_id', '=', id)] : []),
        ...(placeIds?.length ? [db.insertInto('person_places').values(placeRows(id, placeIds))] : []),
      ]);
      await announce(id);
    },
    async setShifts(personId, shifts) {
      await writeAll(store, [
        db.deleteFrom('duty_shifts').where('person_id', '=', personId),
        ...(shifts.length
          ? [db.insertInto('duty_shifts').values(shifts.map((s) => ({ person_id: personId, ...s })))]
          : []),
      ]);
      await announce(personId);
    },
    async addOverride(row) {
      const inserted = await store.first(db.insertInto('duty_overrides').values(row).returning('id'));
      await announce(row.person_id);
      return Number(inserted?.id);
    },
  };
}
