/** Quiet hours of people and places: minor messages wait until they end. */
import type { PlacePath } from '../domain/places.ts';
import { localWeekMinute } from '../registry/people.ts';
import type { Db } from '../storage/sqlite.ts';
import { placeIdsOf } from './places.ts';

export interface QuietHours {
  id: number;
  personId: string | null;
  placeId: string | null;
  startMinute: number;
  endMinute: number;
}

export interface QuietHoursStore {
  list(): QuietHours[];
  add(q: Omit<QuietHours, 'id'>): QuietHours;
  remove(id: number): boolean;
  /** When quiet hours of this person or of a place on `path` cover `at`: the instant they end; else null. */
  heldUntil(personId: string | null, path: PlacePath, at: number): number | null;
}

export function createQuietHoursStore(db: Db, timeZone: string): QuietHoursStore {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const all = db.prepare<
    [],
    {
      id: number;
      person_id: string | null;
      place_id: string | null;
      start_minute: number;
      end_minute: number;
    }
  >('SELECT * FROM alert_quiet_hours ORDER BY id');
  const insert = db.prepare(
    'INSERT INTO alert_quiet_hours (person_id, place_id, start_minute, end_minute) VALUES (?, ?, ?, ?)',
  );
  const del = db.prepare('DELETE FROM alert_quiet_hours WHERE id = ?');
  // Every minor message asks; the list changes when an admin edits it through this store, which drops the copy.
  let cached: readonly QuietHours[] | undefined;
  const list = (): QuietHours[] => {
    cached ??= all.all().map((r) =>
      Object.freeze({
        id: r.id,
        personId: r.person_id,
        placeId: r.place_id,
        startMinute: r.start_minute,
        endMinute: r.end_minute,
      }),
    );
    return [...cached];
  };
  return {
    list,
    add(q) {
      const info = insert.run(q.personId, q.placeId, q.startMinute, q.endMinute);
      cached = undefined;
      return { ...q, id: Number(info.lastInsertRowid) };
    },
    remove(id) {
      cached = undefined;
      return del.run(id).changes > 0;
    },
    heldUntil(personId, path, at) {
      const places = placeIdsOf(path);
      const rules = list().filter(
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
    },
  };
}
