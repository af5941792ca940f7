/**
 * Quiet hours of people and places: minor messages wait until they end. The statements are written once with
 * Kysely: `createQuietHoursStore` runs them synchronously on the hub's SQLite connection (the dispatcher asks
 * `heldUntil` synchronously, from memory), `createQuietHoursPort` on either store, answering promises and
 * announcing each edit to the other instances.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Awaitable } from '../domain/awaitable.ts';
import type { PlacePath } from '../domain/places.ts';
import { localWeekMinute } from '../registry/people.ts';
import { type ChangeFeed, silentFeed } from '../storage/changes.ts';
import type { SqlStore } from '../storage/sql-store.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import { announcedPort, type EditablePort, holdTable, type WhenFeedReconnects } from './held-list.ts';
import { placeIdsOf } from './places.ts';
import type { AlertStoreTables } from './tables.ts';

export interface QuietHours {
  id: number;
  personId: string | null;
  placeId: string | null;
  startMinute: number;
  endMinute: number;
}

/** Quiet hours as the dispatcher and the API use them: edits synchronous on the SQLite file, promises elsewhere. */
export interface QuietHoursStore {
  list(): Awaitable<QuietHours[]>;
  add(q: Omit<QuietHours, 'id'>): Awaitable<QuietHours>;
  remove(id: number): Awaitable<boolean>;
  /** When quiet hours of this person or of a place on `path` cover `at`: the instant they end; else null. */
  heldUntil(personId: string | null, path: PlacePath, at: number): number | null;
}

/** Quiet hours on either store; `list` reads the store, so it is what the memory of a store reloads. */
export type QuietHoursPort = EditablePort<QuietHours, Omit<QuietHours, 'id'>>;

/** What `ChangeFeed` announces after an edit: other instances reload their quiet hours. */
export const QUIET_HOURS_TABLE = 'alert_quiet_hours';

const toQuietHours = (r: Selectable<AlertStoreTables['alert_quiet_hours']>): QuietHours =>
  Object.freeze({
    id: r.id,
    personId: r.person_id,
    placeId: r.place_id,
    startMinute: r.start_minute,
    endMinute: r.end_minute,
  });

function quietQueries(db: Kysely<AlertStoreTables>) {
  return {
    all: () => db.selectFrom('alert_quiet_hours').selectAll().orderBy('id'),
    insert: (q: Omit<QuietHours, 'id'>) =>
      db
        .insertInto('alert_quiet_hours')
        .values({
          person_id: q.personId,
          place_id: q.placeId,
          start_minute: q.startMinute,
          end_minute: q.endMinute,
        })
        .returning('id'),
    remove: (id: number) => db.deleteFrom('alert_quiet_hours').where('id', '=', id),
  };
}

/** `heldUntil` over a list of quiet hours, in `timeZone`. */
export function quietHoursClock(
  timeZone: string,
): (rules: readonly QuietHours[], personId: string | null, path: PlacePath, at: number) => number | null {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  return (all, personId, path, at) => {
    const places = placeIdsOf(path);
    const rules = all.filter(
      (q) =>
        (q.personId !== null && q.personId === personId) || (q.placeId !== null && places.has(q.placeId)),
    );
    if (!rules.length) return null;
    const { minute } = localWeekMinute(fmt, at);
    // Local minute boundaries fall on whole UTC minutes for every zone in use today.
    const minuteStart = at - (at % 60_000);
    let until: number | null = null;
    for (const q of rules) {
      const inside =
        q.startMinute <= q.endMinute
          ? minute >= q.startMinute && minute < q.endMinute
          : minute >= q.startMinute || minute < q.endMinute;
      if (!inside) continue;
      const end = minuteStart + ((q.endMinute - minute + 1440) % 1440 || 1440) * 60_000;
      until = until === null ? end : Math.max(until, end);
    }
    return until;
  };
}

export function createQuietHoursStore(db: Db, timeZone: string): QuietHoursStore {
  const store = sqliteStore(db);
  const sync = store.sync as NonNullable<SqlStore['sync']>;
  const q = quietQueries(store.builder<AlertStoreTables>());
  const held = quietHoursClock(timeZone);
  // Every minor message asks; the list changes when an admin edits it through this store, which drops the copy.
  let cached: readonly QuietHours[] | undefined;
  const list = (): QuietHours[] => {
    cached ??= sync.all(q.all()).map(toQuietHours);
    return [...cached];
  };
  return {
    list,
    add(hours) {
      const row = sync.first(q.insert(hours));
      cached = undefined;
      return { ...hours, id: Number(row?.id) };
    },
    remove(id) {
      cached = undefined;
      return sync.write(q.remove(id)) > 0;
    },
    heldUntil: (personId, path, at) => held(list(), personId, path, at),
  };
}

export function createQuietHoursPort(store: SqlStore, changes: ChangeFeed = silentFeed): QuietHoursPort {
  const q = quietQueries(store.builder<AlertStoreTables>());
  return announcedPort(store, QUIET_HOURS_TABLE, q, toQuietHours, (hours, id) => ({ ...hours, id }), changes);
}

/** Quiet hours on a shared database: edits through `port`, the list held in memory for `heldUntil` (held-list.ts). */
export async function heldQuietHours(
  port: QuietHoursPort,
  timeZone: string,
  changes: ChangeFeed = silentFeed,
  whenFeedReconnects?: WhenFeedReconnects,
): Promise<QuietHoursStore> {
  const held = await holdTable(port, QUIET_HOURS_TABLE, changes, whenFeedReconnects);
  const clock = quietHoursClock(timeZone);
  return {
    list: held.list,
    add: held.add,
    remove: held.remove,
    heldUntil: (personId, path, at) => clock(held.items(), personId, path, at),
  };
}
