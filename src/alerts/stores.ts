import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { PlacePath } from '../domain/places.ts';
import type { Resident, ResidentInput } from '../domain/records.ts';
import { localWeekMinute } from '../registry/people.ts';
import type { Db } from '../storage/sqlite.ts';

// ---- privacy --------------------------------------------------------------------------------------------------

/** `13812345678` → `138****5678`; short numbers keep only their last two digits. */
/** The ids of every place on a path, for matching rules set at any level. */
function placeIdsOf(path: PlacePath): Set<string> {
  return new Set(Object.values(path).filter((v): v is string => typeof v === 'string'));
}

export function maskPhone(phone: string | null | undefined): string | null {
  if (!phone) return phone ?? null;
  let digits = phone.replace(/\D/g, '');
  // +86 mainland mobile numbers: mask the number, not the country code.
  if (digits.length === 13 && digits.startsWith('86')) digits = digits.slice(2);
  if (digits.length >= 7) return `${digits.slice(0, 3)}****${digits.slice(-4)}`;
  return `***${digits.slice(-2)}`;
}

/** `张秀英` → `张**`: the family name is enough for a worker to greet; the rest waits for the unmasked read. */
export function maskName(name: string | null | undefined): string | null {
  if (!name) return name ?? null;
  const chars = [...name];
  return chars[0] + '*'.repeat(Math.max(1, chars.length - 1));
}

/** A target as the timeline shows it: phone numbers masked, webhook URLs cut to their origin (keys live in them). */
export function maskTarget(channel: string, target: string): string {
  if (channel === 'sms' || channel === 'voice') return maskPhone(target) ?? '';
  if (/^https?:\/\//.test(target)) {
    try {
      return `${new URL(target).origin}/…`;
    } catch {
      return '…';
    }
  }
  return target;
}

/** What anyone not acting on the alert sees of a resident. */
export interface MaskedResident {
  id: string;
  name: string | null;
  phone: string | null;
  familyName: string | null;
  familyPhone: string | null;
  /** Only whether there are notes: their content is health data. */
  healthNotes: string | null;
  masked: true;
}

export function maskResident(r: Resident): MaskedResident {
  return {
    id: r.id,
    name: maskName(r.name),
    phone: maskPhone(r.phone),
    familyName: maskName(r.familyName),
    familyPhone: maskPhone(r.familyPhone),
    healthNotes: r.healthNotes ? '***' : null,
    masked: true,
  };
}

interface ResidentRow {
  id: string;
  name: string;
  phone: string | null;
  family_name: string | null;
  family_phone: string | null;
  health_notes: string | null;
  device_id: string | null;
  place_id: string | null;
  updated_at: number;
}

const toResident = (r: ResidentRow): Resident => ({
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

export interface ResidentStore {
  get(id: string): Resident | undefined;
  forDevice(deviceId: string): Resident | undefined;
  list(): Resident[];
  /** Create or replace a resident record (the lead's demo seed calls this too). */
  put(input: ResidentInput): Resident;
  remove(id: string): boolean;
}

export function createResidentStore(db: Db, clock: Clock): ResidentStore {
  const byId = db.prepare<[string], ResidentRow>('SELECT * FROM residents WHERE id = ?');
  const byDevice = db.prepare<[string], ResidentRow>('SELECT * FROM residents WHERE device_id = ?');
  return {
    get: (id) => {
      const r = byId.get(id);
      return r ? toResident(r) : undefined;
    },
    forDevice: (deviceId) => {
      const r = byDevice.get(deviceId);
      return r ? toResident(r) : undefined;
    },
    list: () => db.prepare<[], ResidentRow>('SELECT * FROM residents ORDER BY id').all().map(toResident),
    put(input) {
      const other = input.deviceId ? byDevice.get(input.deviceId) : undefined;
      if (other && other.id !== input.id) {
        throw new GridHubError('CONFLICT', `device ${input.deviceId} belongs to resident ${other.id}`, {
          field: 'deviceId',
        });
      }
      db.prepare(
        `INSERT INTO residents (id, name, phone, family_name, family_phone, health_notes, device_id, place_id, updated_at)
         VALUES (@id, @name, @phone, @familyName, @familyPhone, @healthNotes, @deviceId, @placeId, @now)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone = excluded.phone,
           family_name = excluded.family_name, family_phone = excluded.family_phone,
           health_notes = excluded.health_notes, device_id = excluded.device_id, place_id = excluded.place_id,
           updated_at = excluded.updated_at`,
      ).run({ ...input, now: clock.now() });
      return toResident(byId.get(input.id) as ResidentRow);
    },
    remove: (id) => db.prepare('DELETE FROM residents WHERE id = ?').run(id).changes > 0,
  };
}

// ---- audit ----------------------------------------------------------------------------------------------------

export interface AuditEntry {
  id: number;
  at: number;
  username: string;
  action: string;
  subject: string;
  alertId: string | null;
  detail: Record<string, unknown>;
}

export interface AuditLog {
  record(e: Omit<AuditEntry, 'id' | 'at'>): void;
  list(filter: { from?: number; to?: number; username?: string; limit?: number }): AuditEntry[];
}

export function createAuditLog(db: Db, clock: Clock): AuditLog {
  const insert = db.prepare(
    'INSERT INTO audit_log (at, username, action, subject, alert_id, detail) VALUES (?, ?, ?, ?, ?, ?)',
  );
  return {
    record(e) {
      insert.run(clock.now(), e.username, e.action, e.subject, e.alertId, JSON.stringify(e.detail));
    },
    list(filter) {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (filter.from !== undefined) {
        where.push('at >= ?');
        args.push(filter.from);
      }
      if (filter.to !== undefined) {
        where.push('at < ?');
        args.push(filter.to);
      }
      if (filter.username) {
        where.push('username = ?');
        args.push(filter.username);
      }
      return db
        .prepare<
          (string | number)[],
          {
            id: number;
            at: number;
            username: string;
            action: string;
            subject: string;
            alert_id: string | null;
            detail: string;
          }
        >(
          `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${Math.min(
            filter.limit ?? 100,
            1000,
          )}`,
        )
        .all(...args)
        .map((r) => ({
          id: r.id,
          at: r.at,
          username: r.username,
          action: r.action,
          subject: r.subject,
          alertId: r.alert_id,
          detail: JSON.parse(r.detail) as Record<string, unknown>,
        }));
    },
  };
}

// ---- quiet hours ----------------------------------------------------------------------------------------------

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

// ---- channel targets ------------------------------------------------------------------------------------------

export interface ChannelTarget {
  id: number;
  /** Alerts at or under this place (a grid's robot); null = everywhere. */
  placeId: string | null;
  /** Only when this role is notified; null = any. */
  role: string | null;
  channel: string;
  target: string;
  label: string | null;
}

export interface ChannelTargetStore {
  list(): ChannelTarget[];
  add(t: Omit<ChannelTarget, 'id'>): ChannelTarget;
  remove(id: number): boolean;
  /** Targets for an alert at `path` when `roles` are notified. */
  match(path: PlacePath, roles: readonly string[]): ChannelTarget[];
}

export function createChannelTargetStore(db: Db): ChannelTargetStore {
  const all = db.prepare<
    [],
    {
      id: number;
      place_id: string | null;
      role: string | null;
      channel: string;
      target: string;
      label: string | null;
    }
  >('SELECT * FROM alert_channel_targets ORDER BY id');
  const insert = db.prepare(
    'INSERT INTO alert_channel_targets (place_id, role, channel, target, label) VALUES (?, ?, ?, ?, ?)',
  );
  const del = db.prepare('DELETE FROM alert_channel_targets WHERE id = ?');
  // Every notification asks; targets change when an admin edits them through this store, which drops the copy.
  let cached: readonly ChannelTarget[] | undefined;
  const list = (): ChannelTarget[] => {
    cached ??= all.all().map((r) =>
      Object.freeze({
        id: r.id,
        placeId: r.place_id,
        role: r.role,
        channel: r.channel,
        target: r.target,
        label: r.label,
      }),
    );
    return [...cached];
  };
  return {
    list,
    add(t) {
      const info = insert.run(t.placeId, t.role, t.channel, t.target, t.label);
      cached = undefined;
      return { ...t, id: Number(info.lastInsertRowid) };
    },
    remove(id) {
      cached = undefined;
      return del.run(id).changes > 0;
    },
    match(path, roles) {
      const places = placeIdsOf(path);
      return list().filter(
        (t) => (t.placeId === null || places.has(t.placeId)) && (t.role === null || roles.includes(t.role)),
      );
    },
  };
}

// ---- maintenance ----------------------------------------------------------------------------------------------

export interface MaintenanceTask {
  id: number;
  deviceId: string;
  alertId: string;
  reason: string;
  note: string | null;
  createdAt: number;
  createdBy: string;
  doneAt: number | null;
  doneBy: string | null;
  doneNote: string | null;
  /** Where the device is (for scope checks); null when the device is no longer registered. */
  place: PlacePath | null;
}
