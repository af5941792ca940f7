import { GridHubError } from '../domain/errors.ts';
import type { PlacePath } from '../domain/places.ts';
import { PLACE_LEVELS } from '../domain/places.ts';
import type { Contact, Department, DutyOverride, DutyShift, Person, PersonRole } from '../domain/records.ts';
import { isUniqueViolation } from '../storage/sql-store.ts';
import type { PeoplePort, PeopleRows } from './people-port.ts';
import type { PlaceStore } from './places.ts';
import type { PersonTable } from './tables.ts';

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

function toPerson(r: PersonTable, placeIds: string[]): Person {
  return {
    id: r.id,
    name: r.name,
    role: r.role as PersonRole,
    department: r.department as Department | null,
    phone: r.phone,
    contacts: JSON.parse(r.contacts) as Contact[],
    deputyId: r.deputy_id,
    active: r.active === 1,
    placeIds,
  };
}

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
   * Read the roster again from the store; resolves when it is in memory. Every write of this store does it
   * before it resolves, the ChangeFeed does it when another instance changed the roster, and whoever changes
   * the tables any other way (a restore, a script on this connection) calls it. Until it resolves, lookups answer
   * from the roster held. On SQLite the next lookup reads the roster at once, synchronously.
   */
  invalidate(): Promise<void>;
  list(filter?: { placeId?: string; role?: PersonRole }): Person[];
  create(p: NewPerson): Promise<Person>;
  update(id: string, patch: Partial<Omit<NewPerson, 'id'>>): Promise<Person>;
  shifts(personId: string): DutyShift[];
  setShifts(personId: string, shifts: Omit<DutyShift, 'personId'>[]): Promise<void>;
  overrides(personId: string): DutyOverride[];
  addOverride(o: Omit<DutyOverride, 'id'>): Promise<DutyOverride>;
}

/** Where the roster comes from: the store's port, the rows read at open, and SQLite's synchronous reads. */
export interface PeopleSource {
  port: PeoplePort;
  rows: PeopleRows;
  /**
   * SQLite only: the roster read synchronously, and the connection's `data_version`, which moves when another
   * connection to the file (another process, a script) commits. Then a lookup after a change reads the roster
   * at once, without waiting for a reload.
   */
  sync?: { rows(): PeopleRows; version(): number };
}

/**
 * Everything people management and duty resolution read, in memory: a raise asks who is on duty for several
 * roles at several places, synchronously inside its transaction, and the roster changes a few times a day. People,
 * shifts and overrides in it are frozen: callers share them.
 */
interface Roster {
  people: Map<string, Person>;
  /** Everyone, by id. */
  sorted: Person[];
  /** Active people by `placeId \u0000 role`, by id. */
  at: Map<string, Person[]>;
  shifts: Map<string, DutyShift[]>;
  overrides: Map<string, DutyOverride[]>;
}

function buildRoster(rows: PeopleRows): Roster {
  const placesOf = new Map<string, string[]>();
  for (const r of rows.places) {
    const list = placesOf.get(r.person_id);
    if (list) list.push(r.place_id);
    else placesOf.set(r.person_id, [r.place_id]);
  }
  const c: Roster = { people: new Map(), sorted: [], at: new Map(), shifts: new Map(), overrides: new Map() };
  for (const r of rows.people) {
    const p = toPerson(r, placesOf.get(r.id) ?? []);
    Object.freeze(p.contacts);
    Object.freeze(p.placeIds);
    c.people.set(p.id, Object.freeze(p));
    c.sorted.push(p);
    if (!p.active) continue;
    for (const placeId of p.placeIds) {
      const key = `${placeId}\u0000${p.role}`;
      const list = c.at.get(key);
      if (list) list.push(p);
      else c.at.set(key, [p]);
    }
  }
  for (const s of rows.shifts) {
    const list = c.shifts.get(s.person_id) ?? [];
    list.push(
      Object.freeze({
        personId: s.person_id,
        weekday: s.weekday,
        startMinute: s.start_minute,
        endMinute: s.end_minute,
      }),
    );
    c.shifts.set(s.person_id, list);
  }
  for (const o of rows.overrides) {
    const list = c.overrides.get(o.person_id) ?? [];
    list.push(
      Object.freeze({
        id: o.id,
        personId: o.person_id,
        startsAt: o.starts_at,
        endsAt: o.ends_at,
        onLeave: o.on_leave === 1,
        note: o.note,
      }),
    );
    c.overrides.set(o.person_id, list);
  }
  return c;
}

/**
 * The one owner of the `people`, `person_places` and `duty_*` tables: people management (the API, the demo seed)
 * and duty resolution (the dispatcher's routing) both go through it, so every write is validated the same way.
 * Reads answer from the roster in memory; writes go through the store's port and resolve once the roster holds
 * them. `timeZone` is the community's: weekly shifts are in its local time.
 */
export function createPeopleStore(
  source: PeopleSource,
  places: PlaceStore,
  options: { timeZone: string },
): PeopleStore {
  const { port, sync } = source;
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: options.timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });

  let roster: Roster | undefined = buildRoster(source.rows);
  let rosterVersion = sync?.version() ?? 0;
  function current(): Roster {
    if (sync) {
      // Our own writes do not move data_version: they drop the roster themselves.
      const version = sync.version();
      if (roster && version === rosterVersion) return roster;
      rosterVersion = version;
      roster = buildRoster(sync.rows());
    }
    return roster as Roster;
  }

  // One reload at a time. A caller joins a reload that has not started reading yet (its write is already in the
  // store, so that read sees it); once a reload reads, a later caller queues the next one.
  let queued: Promise<void> | undefined;
  let tail: Promise<void> = Promise.resolve();
  function invalidate(): Promise<void> {
    if (sync) {
      roster = undefined;
      return Promise.resolve();
    }
    if (queued) return queued;
    const next = tail.then(async () => {
      queued = undefined;
      roster = buildRoster(await port.rows());
    });
    queued = next;
    tail = next.catch(() => {});
    return next;
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

  const get = (id: string) => current().people.get(id);

  // The lookups below take the roster they work on, so one public call checks it once.
  function onDutyIn(c: Roster, personId: string, at: number): boolean {
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

  function peopleIn(c: Roster, path: PlacePath, role: PersonRole): Person[] {
    const out: Person[] = [];
    for (let i = PLACE_LEVELS.length - 1; i >= 0; i--) {
      const id = path[PLACE_LEVELS[i] as (typeof PLACE_LEVELS)[number]];
      if (!id) continue;
      for (const p of c.at.get(`${id}\u0000${role}`) ?? []) if (!out.includes(p)) out.push(p);
    }
    return out;
  }

  function onDutyAt(c: Roster, path: PlacePath, role: PersonRole, at: number): Person[] {
    return peopleIn(c, path, role).filter((p) => onDutyIn(c, p.id, at));
  }

  const isOnDuty = (personId: string, at: number) => onDutyIn(current(), personId, at);
  const peopleAt = (path: PlacePath, role: PersonRole) => peopleIn(current(), path, role);

  function resolve(path: PlacePath, role: PersonRole, at: number): DutyPick[] {
    const c = current();
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

  /**
   * After a write: the roster read again. On SQLite the write is done when the port's call returns, and the
   * roster is dropped right then, so a synchronous caller that does not await looks up the new roster at once.
   */
  async function written<T>(write: Promise<T>): Promise<T> {
    if (sync) roster = undefined;
    const out = await write;
    await invalidate();
    return out;
  }

  const rowOf = (p: Person): PersonTable => ({
    id: p.id,
    name: p.name,
    role: p.role,
    department: p.department,
    phone: p.phone,
    contacts: JSON.stringify(p.contacts),
    deputy_id: p.deputyId,
    active: p.active ? 1 : 0,
  });

  return {
    invalidate,
    get,
    peopleAt,
    isOnDuty,
    resolve,
    list(filter = {}) {
      return current().sorted.filter(
        (p) =>
          (!filter.placeId || p.placeIds.includes(filter.placeId)) &&
          (!filter.role || p.role === filter.role),
      );
    },
    shifts: (personId) => [...(current().shifts.get(personId) ?? [])],
    overrides: (personId) => [...(current().overrides.get(personId) ?? [])],
    async create(p) {
      const conflict = () => new GridHubError('CONFLICT', `person ${p.id} exists`, { field: 'id' });
      if (get(p.id)) throw conflict();
      validate(p.id, p);
      const person: Person = {
        id: p.id,
        name: p.name,
        role: p.role,
        department: p.department ?? null,
        phone: p.phone ?? null,
        contacts: p.contacts ?? [],
        deputyId: p.deputyId ?? null,
        active: p.active !== false,
        placeIds: [...p.placeIds],
      };
      try {
        await written(port.insert(rowOf(person), p.placeIds));
      } catch (err) {
        // another instance created the same id since our roster was read
        if (isUniqueViolation(err)) throw conflict();
        throw err;
      }
      // what was written, not a lookup: a caller on SQLite that did not await may have closed the file since
      return Object.freeze(person);
    },
    async update(id, patch) {
      const cur = get(id);
      if (!cur) throw new GridHubError('NOT_FOUND', `no person ${id}`);
      validate(id, {
        role: patch.role ?? cur.role,
        department: patch.department ?? cur.department,
        ...patch,
      });
      const next: Person = {
        ...cur,
        name: patch.name ?? cur.name,
        role: patch.role ?? cur.role,
        department: patch.department !== undefined ? patch.department : cur.department,
        phone: patch.phone !== undefined ? patch.phone : cur.phone,
        contacts: patch.contacts ?? cur.contacts,
        deputyId: patch.deputyId !== undefined ? patch.deputyId : cur.deputyId,
        active: patch.active ?? cur.active,
        placeIds: patch.placeIds ? [...patch.placeIds] : cur.placeIds,
      };
      await written(port.update(rowOf(next), patch.placeIds));
      return Object.freeze(next);
    },
    async setShifts(personId, list) {
      await written(
        port.setShifts(
          personId,
          list.map((s) => ({ weekday: s.weekday, start_minute: s.startMinute, end_minute: s.endMinute })),
        ),
      );
    },
    async addOverride(o) {
      const id = await written(
        port.addOverride({
          person_id: o.personId,
          starts_at: o.startsAt,
          ends_at: o.endsAt,
          on_leave: o.onLeave ? 1 : 0,
          note: o.note,
        }),
      );
      return { ...o, id };
    },
  };
}
