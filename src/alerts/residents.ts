/** Residents behind devices (a call button's elder): their contact and health notes, read by the dispatcher. */
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { Resident, ResidentInput } from '../domain/records.ts';
import type { Db } from '../storage/sqlite.ts';
import type { ResidentTable } from './tables.ts';

/** A resident as stored: the read side's table type, one definition. */
type ResidentRow = ResidentTable;

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
