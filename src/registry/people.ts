import { GridHubError } from '../domain/errors.ts';
import type { PlacePath } from '../domain/places.ts';
import { PLACE_LEVELS } from '../domain/places.ts';
import type { Contact, Department, DutyOverride, DutyShift, Person, PersonRole } from '../domain/records.ts';
import type { Db } from '../storage/sqlite.ts';
import type { PlaceStore } from './places.ts';

/** How a recipient was found: on duty in the role, as a deputy, or by the fall-back duty. */
export type DutyVia = 'on_duty' | 'deputy' | 'community_duty' | 'street_command';

export interface DutyPick {
  person: Person;
  role: PersonRole;
  via: DutyVia;
}

/** What the dispatcher needs to know about people: who serves where, and who is on duty at an instant. */
export interface DutyDirectory {
  get(personId: string): Person | undefined;
  /** Active people of `role` serving at a place on `path`, the nearest place first (unit … street). */
  peopleAt(path: PlacePath, role: PersonRole): Person[];
  isOnDuty(personId: string, at: number): boolean;
  /**
   * Who answers for `role` at `path` at `at`: those on duty; else their on-duty deputies; else the community
   * duty on duty; else the street command centre on duty. Empty only when nobody at all is on duty.
   */
  resolve(path: PlacePath, role: PersonRole, at: number): DutyPick[];
}

interface PersonRow {
  id: string;
  name: string;
  role: string;
  department: string | null;
  phone: string | null;
  contacts: string;
  deputy_id: string | null;
  active: number;
  place_ids: string | null;
}

function toPerson(r: PersonRow): Person {
  return {
    id: r.id,
    name: r.name,
    role: r.role as PersonRole,
    department: r.department as Department | null,
    phone: r.phone,
    contacts: JSON.parse(r.contacts) as Contact[],
    deputyId: r.deputy_id,
    active: r.active === 1,
    placeIds: r.place_ids ? r.place_ids.split(',') : [],
  };
}

const PERSON_SELECT = `SELECT p.*, (SELECT group_concat(place_id) FROM person_places pp WHERE pp.person_id = p.id)
  AS place_ids FROM people p`;

/** Local weekday (0 = Sunday) and minute of day of an instant in a time zone. */
const NEIGHBOUR_ROLES: ReadonlySet<PersonRole> = new Set(['building_head', 'volunteer']);

export function localWeekMinute(fmt: Intl.DateTimeFormat, at: number): { weekday: number; minute: number } {
  const parts = fmt.formatToParts(new Date(at));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(get('weekday'));
  const hour = Number(get('hour')) % 24;
  return { weekday, minute: hour * 60 + Number(get('minute')) };
}

export function shiftCovers(
  shift: Pick<DutyShift, 'weekday' | 'startMinute' | 'endMinute'>,
  weekday: number,
  minute: number,
): boolean {
  if (shift.weekday === weekday && minute >= shift.startMinute && minute < shift.endMinute) return true;
  // A night shift runs past midnight into the next weekday.
  return shift.endMinute > 1440 && (shift.weekday + 1) % 7 === weekday && minute < shift.endMinute - 1440;
}

export interface NewPerson {
  id: string;
  name: string;
  role: PersonRole;
  department?: Department | null;
  phone?: string | null;
  contacts?: Contact[];
  deputyId?: string | null;
  active?: boolean;
  placeIds: string[];
}

export interface PeopleStore extends DutyDirectory {
  /**
   * Drop the duty cache: the next lookup reads people, places served, shifts and overrides again. Every write
   * of this store calls it; call it after changing those tables any other way (a restore, a migration).
   */
  invalidate(): void;
  list(filter?: { placeId?: string; role?: PersonRole }): Person[];
  create(p: NewPerson): Person;
  update(id: string, patch: Partial<Omit<NewPerson, 'id'>>): Person;
  shifts(personId: string): DutyShift[];
  setShifts(personId: string, shifts: Omit<DutyShift, 'personId'>[]): void;
  overrides(personId: string): DutyOverride[];
  addOverride(o: Omit<DutyOverride, 'id'>): DutyOverride;
}

/**
 * The one owner of the `people`, `person_places` and `duty_*` tables: people management (the API, the demo seed)
 * and duty resolution (the dispatcher's routing) both go through it, so every write is validated the same way.
 * `timeZone` is the community's: weekly shifts are in its local time.
 */
export function createPeopleStore(db: Db, places: PlaceStore, options: { timeZone: string }): PeopleStore {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: options.timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const getStmt = db.prepare<[string], PersonRow>(`${PERSON_SELECT} WHERE p.id = ?`);
  const allPeopleStmt = db.prepare<[], PersonRow>(`${PERSON_SELECT} ORDER BY p.id`);
  const shiftsStmt = db.prepare<[string], { weekday: number; start_minute: number; end_minute: number }>(
    'SELECT weekday, start_minute, end_minute FROM duty_shifts WHERE person_id = ? ORDER BY weekday, start_minute',
  );
  const allShiftsStmt = db.prepare<
    [],
    { person_id: string; weekday: number; start_minute: number; end_minute: number }
  >(
    'SELECT person_id, weekday, start_minute, end_minute FROM duty_shifts ORDER BY person_id, weekday, start_minute',
  );
  const allOverridesStmt = db.prepare<
    [],
    { person_id: string; starts_at: number; ends_at: number; on_leave: number }
  >('SELECT person_id, starts_at, ends_at, on_leave FROM duty_overrides');

  /**
   * Everything duty resolution reads, in memory: a raise asks who is on duty for several roles at several
   * places, and the roster changes a few times a day. Built on first use and dropped by `invalidate()`, which
   * every write of this store calls, and by a commit of another connection (places are only ever added, so a
   * place change cannot make it stale).
   * People in it are frozen: callers share them.
   */
  interface DutyCache {
    people: Map<string, Person>;
    /** Active people by `placeId \u0000 role`, by id. */
    at: Map<string, Person[]>;
    shifts: Map<string, Pick<DutyShift, 'weekday' | 'startMinute' | 'endMinute'>[]>;
    overrides: Map<string, { startsAt: number; endsAt: number; onLeave: boolean }[]>;
  }
  let cache: DutyCache | undefined;
  const invalidate = () => {
    cache = undefined;
  };
  // Changes committed by another connection to the file (another process, a script) bump SQLite's data
  // version; a change of it drops the cache too. Our own writes do not bump it: they invalidate themselves.
  const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
  let cachedAt = -1;
  function duty(): DutyCache {
    const version = dataVersion.get() as number;
    if (cache && version === cachedAt) return cache;
    cachedAt = version;
    const c: DutyCache = { people: new Map(), at: new Map(), shifts: new Map(), overrides: new Map() };
    for (const r of allPeopleStmt.all()) {
      const p = toPerson(r);
      Object.freeze(p.contacts);
      Object.freeze(p.placeIds);
      c.people.set(p.id, Object.freeze(p));
      if (!p.active) continue;
      for (const placeId of p.placeIds) {
        const key = `${placeId}\u0000${p.role}`;
        const list = c.at.get(key);
        if (list) list.push(p);
        else c.at.set(key, [p]);
      }
    }
    for (const s of allShiftsStmt.all()) {
      const list = c.shifts.get(s.person_id) ?? [];
      list.push({ weekday: s.weekday, startMinute: s.start_minute, endMinute: s.end_minute });
      c.shifts.set(s.person_id, list);
    }
    for (const o of allOverridesStmt.all()) {
      const list = c.overrides.get(o.person_id) ?? [];
      list.push({ startsAt: o.starts_at, endsAt: o.ends_at, onLeave: o.on_leave === 1 });
      c.overrides.set(o.person_id, list);
    }
    cache = c;
    return c;
  }

  // The local week minute of the last instant asked: a raise asks it for every candidate at the same instant.
  let lastMinute = Number.NaN;
  let lastWeekMinute = { weekday: 0, minute: 0 };
  function weekMinute(at: number): { weekday: number; minute: number } {
    // Zone offsets in use are whole minutes, so one UTC minute is one local minute.
    const m = Math.floor(at / 60_000);
    if (m !== lastMinute) {
      lastWeekMinute = localWeekMinute(fmt, at);
      lastMinute = m;
    }
    return lastWeekMinute;
  }

  const get = (id: string) => {
    const r = getStmt.get(id);
    return r ? toPerson(r) : undefined;
  };

  function shifts(personId: string): DutyShift[] {
    return shiftsStmt.all(personId).map((s) => ({
      personId,
      weekday: s.weekday,
      startMinute: s.start_minute,
      endMinute: s.end_minute,
    }));
  }

  // The lookups below take the cache they work on, so one public call checks it once.
  function onDutyIn(c: DutyCache, personId: string, at: number): boolean {
    // A dated override wins over the weekly roster; leave wins over an extra shift at the same instant.
    let covered: boolean | undefined;
    for (const o of c.overrides.get(personId) ?? []) {
      if (o.startsAt <= at && o.endsAt > at) {
        if (o.onLeave) return false;
        covered = true;
      }
    }
    if (covered) return true;
    const { weekday, minute } = weekMinute(at);
    return (c.shifts.get(personId) ?? []).some((s) => shiftCovers(s, weekday, minute));
  }

  function peopleIn(c: DutyCache, path: PlacePath, role: PersonRole): Person[] {
    const out: Person[] = [];
    for (let i = PLACE_LEVELS.length - 1; i >= 0; i--) {
      const id = path[PLACE_LEVELS[i] as (typeof PLACE_LEVELS)[number]];
      if (!id) continue;
      for (const p of c.at.get(`${id}\u0000${role}`) ?? []) if (!out.includes(p)) out.push(p);
    }
    return out;
  }

  function onDutyAt(c: DutyCache, path: PlacePath, role: PersonRole, at: number): Person[] {
    return peopleIn(c, path, role).filter((p) => onDutyIn(c, p.id, at));
  }

  const isOnDuty = (personId: string, at: number) => onDutyIn(duty(), personId, at);
  const peopleAt = (path: PlacePath, role: PersonRole) => peopleIn(duty(), path, role);

  function resolve(path: PlacePath, role: PersonRole, at: number): DutyPick[] {
    const c = duty();
    const direct = onDutyAt(c, path, role, at);
    if (direct.length) return direct.map((person) => ({ person, role, via: 'on_duty' }));
    const deputies: Person[] = [];
    for (const p of peopleIn(c, path, role)) {
      // Follow the deputy chain a little way: a deputy on leave may have a deputy of their own.
      let d = p.deputyId ? c.people.get(p.deputyId) : undefined;
      for (let hops = 0; d && hops < 3; hops++) {
        if (d.active && onDutyIn(c, d.id, at)) {
          if (!deputies.some((x) => x.id === d?.id)) deputies.push(d);
          break;
        }
        d = d.deputyId ? c.people.get(d.deputyId) : undefined;
      }
    }
    if (deputies.length) return deputies.map((person) => ({ person, role, via: 'deputy' }));
    // Building heads and volunteers are neighbours who help where they live; where there is none, nobody stands
    // in for them (duty staff have their own rungs of the ladder).
    if (NEIGHBOUR_ROLES.has(role)) return [];
    for (const fallback of ['community_duty', 'street_command'] as const) {
      if (fallback === role) continue;
      const people = onDutyAt(c, path, fallback, at);
      if (people.length) return people.map((person) => ({ person, role, via: fallback }));
    }
    return [];
  }

  const insertPerson = db.prepare(
    `INSERT INTO people (id, name, role, department, phone, contacts, deputy_id, active)
     VALUES (@id, @name, @role, @department, @phone, @contacts, @deputyId, @active)`,
  );
  const insertPlace = db.prepare('INSERT INTO person_places (person_id, place_id) VALUES (?, ?)');
  const deletePlaces = db.prepare('DELETE FROM person_places WHERE person_id = ?');

  /** What every write must hold, whoever writes: known places, a department for department staff, a deputy. */
  function validate(id: string, p: Partial<NewPerson>): void {
    for (const placeId of p.placeIds ?? []) {
      if (!places.get(placeId))
        throw new GridHubError('REQUEST_INVALID', `place ${placeId} does not exist`, { field: 'placeIds' });
    }
    if (p.role === 'department' && !p.department) {
      throw new GridHubError('REQUEST_INVALID', 'a department person needs its department', {
        field: 'department',
      });
    }
    if (p.deputyId && (p.deputyId === id || !get(p.deputyId))) {
      throw new GridHubError('REQUEST_INVALID', `deputy ${p.deputyId} is not another known person`, {
        field: 'deputyId',
      });
    }
  }

  return {
    invalidate,
    get,
    peopleAt,
    isOnDuty,
    resolve,
    shifts,
    list(filter = {}) {
      const where: string[] = [];
      const args: string[] = [];
      if (filter.placeId) {
        where.push('p.id IN (SELECT person_id FROM person_places WHERE place_id = ?)');
        args.push(filter.placeId);
      }
      if (filter.role) {
        where.push('p.role = ?');
        args.push(filter.role);
      }
      const sql = `${PERSON_SELECT}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY p.id`;
      return db
        .prepare<string[], PersonRow>(sql)
        .all(...args)
        .map(toPerson);
    },
    create(p) {
      if (get(p.id)) throw new GridHubError('CONFLICT', `person ${p.id} exists`, { field: 'id' });
      validate(p.id, p);
      db.transaction(() => {
        insertPerson.run({
          id: p.id,
          name: p.name,
          role: p.role,
          department: p.department ?? null,
          phone: p.phone ?? null,
          contacts: JSON.stringify(p.contacts ?? []),
          deputyId: p.deputyId ?? null,
          active: p.active === false ? 0 : 1,
        });
        for (const place of p.placeIds) insertPlace.run(p.id, place);
      })();
      invalidate();
      return get(p.id) as Person;
    },
    update(id, patch) {
      const cur = get(id);
      if (!cur) throw new GridHubError('NOT_FOUND', `no person ${id}`);
      validate(id, {
        role: patch.role ?? cur.role,
        department: patch.department ?? cur.department,
        ...patch,
      });
      db.transaction(() => {
        db.prepare(
          `UPDATE people SET name = ?, role = ?, department = ?, phone = ?, contacts = ?, deputy_id = ?, active = ?
           WHERE id = ?`,
        ).run(
          patch.name ?? cur.name,
          patch.role ?? cur.role,
          patch.department !== undefined ? patch.department : cur.department,
          patch.phone !== undefined ? patch.phone : cur.phone,
          JSON.stringify(patch.contacts ?? cur.contacts),
          patch.deputyId !== undefined ? patch.deputyId : cur.deputyId,
          (patch.active ?? cur.active) ? 1 : 0,
          id,
        );
        if (patch.placeIds) {
          deletePlaces.run(id);
          for (const place of patch.placeIds) insertPlace.run(id, place);
        }
      })();
      invalidate();
      return get(id) as Person;
    },
    setShifts(personId, list) {
      db.transaction(() => {
        db.prepare('DELETE FROM duty_shifts WHERE person_id = ?').run(personId);
        const ins = db.prepare(
          'INSERT INTO duty_shifts (person_id, weekday, start_minute, end_minute) VALUES (?, ?, ?, ?)',
        );
        for (const s of list) ins.run(personId, s.weekday, s.startMinute, s.endMinute);
      })();
      invalidate();
    },
    overrides(personId) {
      return db
        .prepare<
          [string],
          { id: number; starts_at: number; ends_at: number; on_leave: number; note: string | null }
        >('SELECT * FROM duty_overrides WHERE person_id = ? ORDER BY starts_at')
        .all(personId)
        .map((r) => ({
          id: r.id,
          personId,
          startsAt: r.starts_at,
          endsAt: r.ends_at,
          onLeave: r.on_leave === 1,
          note: r.note,
        }));
    },
    addOverride(o) {
      const info = db
        .prepare(
          'INSERT INTO duty_overrides (person_id, starts_at, ends_at, on_leave, note) VALUES (?, ?, ?, ?, ?)',
        )
        .run(o.personId, o.startsAt, o.endsAt, o.onLeave ? 1 : 0, o.note);
      invalidate();
      return { ...o, id: Number(info.lastInsertRowid) };
    },
  };
}
