import { GridHubError } from '../domain/errors.ts';
import type { Db } from '../storage/sqlite.ts';
import type { PlaceStore } from './places.ts';
import type { Contact, Department, DutyShift, Person, PersonRole } from './types.ts';

interface PersonRow {
  id: string;
  name: string;
  role: PersonRole;
  department: Department | null;
  phone: string | null;
  contacts: string;
  deputy_id: string | null;
  active: number;
}

export interface PersonInput {
  id: string;
  name: string;
  role: PersonRole;
  department?: Department | null;
  phone?: string | null;
  contacts?: Contact[];
  deputyId?: string | null;
  placeIds: string[];
}

/** People of the grid teams, duty rooms and departments, where they serve, and their weekly shifts. */
export class PeopleStore {
  readonly #db: Db;
  readonly #places: PlaceStore;

  constructor(db: Db, places: PlaceStore) {
    this.#db = db;
    this.#places = places;
  }

  create(input: PersonInput): Person {
    for (const placeId of input.placeIds) {
      if (!this.#places.get(placeId)) {
        throw new GridHubError('REQUEST_INVALID', `place ${placeId} does not exist`, { field: 'placeIds' });
      }
    }
    if (input.role === 'department' && !input.department) {
      throw new GridHubError('REQUEST_INVALID', 'a department person needs its department', {
        field: 'department',
      });
    }
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO people (id, name, role, department, phone, contacts, deputy_id, active)
           VALUES (?, ?, ?, ?, ?, ?, ?, 1)`,
        )
        .run(
          input.id,
          input.name,
          input.role,
          input.department ?? null,
          input.phone ?? null,
          JSON.stringify(input.contacts ?? []),
          input.deputyId ?? null,
        );
      const link = this.#db.prepare('INSERT INTO person_places (person_id, place_id) VALUES (?, ?)');
      for (const placeId of input.placeIds) link.run(input.id, placeId);
    })();
    return this.get(input.id) as Person;
  }

  get(id: string): Person | undefined {
    const row = this.#db.prepare<[string], PersonRow>('SELECT * FROM people WHERE id = ?').get(id);
    return row ? this.#toPerson(row) : undefined;
  }

  list(filter: { placeId?: string; role?: PersonRole } = {}): Person[] {
    const rows = filter.placeId
      ? this.#db
          .prepare<[string], PersonRow>(
            'SELECT p.* FROM people p JOIN person_places pp ON pp.person_id = p.id WHERE pp.place_id = ? ORDER BY p.id',
          )
          .all(filter.placeId)
      : this.#db.prepare<[], PersonRow>('SELECT * FROM people ORDER BY id').all();
    return rows.map((r) => this.#toPerson(r)).filter((p) => !filter.role || p.role === filter.role);
  }

  setShifts(personId: string, shifts: Omit<DutyShift, 'personId'>[]): void {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM duty_shifts WHERE person_id = ?').run(personId);
      const insert = this.#db.prepare(
        'INSERT INTO duty_shifts (person_id, weekday, start_minute, end_minute) VALUES (?, ?, ?, ?)',
      );
      for (const s of shifts) insert.run(personId, s.weekday, s.startMinute, s.endMinute);
    })();
  }

  #toPerson(row: PersonRow): Person {
    const placeIds = this.#db
      .prepare<[string], { place_id: string }>(
        'SELECT place_id FROM person_places WHERE person_id = ? ORDER BY place_id',
      )
      .all(row.id)
      .map((r) => r.place_id);
    return {
      id: row.id,
      name: row.name,
      role: row.role,
      department: row.department,
      phone: row.phone,
      contacts: JSON.parse(row.contacts) as Contact[],
      deputyId: row.deputy_id,
      active: row.active === 1,
      placeIds,
    };
  }
}
