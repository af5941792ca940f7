import type Database from 'better-sqlite3';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { DeviceTypeId } from '../catalogue/types.ts';
import { GridHubError } from '../domain/errors.ts';
import type { DeviceDirectory } from '../domain/ports.ts';
import type { DeviceRecord } from '../domain/records.ts';
import { DEVICE_ID_PATTERN, RESERVED_IDS } from '../domain/wire.ts';
import type { Db } from '../storage/sqlite.ts';
import type { PlaceStore } from './places.ts';
import { DeviceSecretHasher, newSecret, verifySecret } from './secrets.ts';

interface DeviceRow {
  id: string;
  type: DeviceTypeId;
  place_id: string;
  floor: number | null;
  label: string | null;
  secret_hash: string;
  enabled: number;
  created_at: number;
  last_seen: number | null;
  online: number;
  online_changed_at: number | null;
}

interface CachedDevice {
  record: DeviceRecord;
  secretHash: string;
}

export interface ProvisionInput {
  id?: string;
  type: string;
  placeId: string;
  floor?: number | null;
  label?: string | null;
  /** Only for seeding from a known secret (demo, imports); normally the hub issues one. */
  secret?: string;
}

export interface DeviceFilter {
  type?: string;
  placeId?: string;
  online?: boolean;
  enabled?: boolean;
}

/**
 * Devices, cached in memory (ingest looks a device up on every message). Presence (`last_seen`) is coalesced in
 * memory and written in one transaction per flush; online/offline changes are written at once.
 */
export class DeviceStore implements DeviceDirectory {
  readonly #db: Db;
  readonly #places: PlaceStore;
  readonly #catalogue: Catalogue;
  readonly #byId = new Map<string, CachedDevice>();
  readonly #dirtySeen = new Set<string>();
  readonly #hasher: DeviceSecretHasher;
  /** Prepared once: a reconnect storm writes presence for every device (a prepare costs ~30–100 µs). */
  #setOnlineStmt: Database.Statement<[number, number, string]> | undefined;

  constructor(db: Db, places: PlaceStore, catalogue: Catalogue, hasher: DeviceSecretHasher) {
    this.#db = db;
    this.#hasher = hasher;
    this.#places = places;
    this.#catalogue = catalogue;
    for (const row of db.prepare<[], DeviceRow>('SELECT * FROM devices').all()) this.#cache(row);
  }

  #cache(row: DeviceRow): CachedDevice {
    const entry: CachedDevice = {
      secretHash: row.secret_hash,
      record: {
        id: row.id,
        type: row.type,
        placeId: row.place_id,
        place: this.#places.path(row.place_id),
        floor: row.floor,
        label: row.label,
        enabled: row.enabled === 1,
        createdAt: row.created_at,
        lastSeen: row.last_seen,
        online: row.online === 1,
        onlineChangedAt: row.online_changed_at,
      },
    };
    this.#byId.set(row.id, entry);
    return entry;
  }

  async provision(input: ProvisionInput, now: number): Promise<{ device: DeviceRecord; secret: string }> {
    const id =
      input.id ??
      `${input.type.replace('_', '')}-${newSecret(6)
        .toLowerCase()
        .replace(/[^a-z0-9]/g, 'x')}`;
    if (!DEVICE_ID_PATTERN.test(id)) {
      throw new GridHubError('REQUEST_INVALID', 'device id must be 1–64 letters, digits, - or _', {
        field: 'id',
      });
    }
    if ((RESERVED_IDS as readonly string[]).includes(id.toLowerCase())) {
      throw new GridHubError('REQUEST_INVALID', `"${id}" is reserved by the hub's topics`, { field: 'id' });
    }
    if (!this.#catalogue.has(input.type)) {
      throw new GridHubError('REQUEST_INVALID', `unknown device type "${input.type}"`, { field: 'type' });
    }
    if (!this.#places.get(input.placeId)) {
      throw new GridHubError('REQUEST_INVALID', `place ${input.placeId} does not exist`, {
        field: 'placeId',
      });
    }
    if (this.#byId.has(id)) throw new GridHubError('CONFLICT', `device ${id} exists`, { field: 'id' });
    const secret = input.secret ?? newSecret();
    const row: DeviceRow = {
      id,
      type: input.type,
      place_id: input.placeId,
      floor: input.floor ?? null,
      label: input.label ?? null,
      secret_hash: this.#hasher.hash(secret),
      enabled: 1,
      created_at: now,
      last_seen: null,
      online: 0,
      online_changed_at: null,
    };
    this.#db
      .prepare(
        `INSERT INTO devices (id, type, place_id, floor, label, secret_hash, enabled, created_at, last_seen, online, online_changed_at)
         VALUES (@id, @type, @place_id, @floor, @label, @secret_hash, @enabled, @created_at, @last_seen, @online, @online_changed_at)`,
      )
      .run(row);
    return { device: this.#cache(row).record, secret };
  }

  get(id: string): DeviceRecord | undefined {
    return this.#byId.get(id)?.record;
  }

  list(filter: DeviceFilter = {}): DeviceRecord[] {
    const inPlace = filter.placeId ? new Set(this.#places.subtree(filter.placeId)) : undefined;
    const out: DeviceRecord[] = [];
    for (const { record } of this.#byId.values()) {
      if (filter.type && record.type !== filter.type) continue;
      if (inPlace && !inPlace.has(record.placeId)) continue;
      if (filter.online !== undefined && record.online !== filter.online) continue;
      if (filter.enabled !== undefined && record.enabled !== filter.enabled) continue;
      out.push(record);
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  update(
    id: string,
    patch: { enabled?: boolean; placeId?: string; floor?: number | null; label?: string | null },
  ): DeviceRecord {
    const entry = this.#byId.get(id);
    if (!entry) throw new GridHubError('DEVICE_UNKNOWN', `no device ${id}`);
    if (patch.placeId !== undefined && !this.#places.get(patch.placeId)) {
      throw new GridHubError('REQUEST_INVALID', `place ${patch.placeId} does not exist`, {
        field: 'placeId',
      });
    }
    const r = entry.record;
    const next = {
      enabled: patch.enabled ?? r.enabled,
      placeId: patch.placeId ?? r.placeId,
      floor: patch.floor !== undefined ? patch.floor : r.floor,
      label: patch.label !== undefined ? patch.label : r.label,
    };
    this.#db
      .prepare('UPDATE devices SET enabled = ?, place_id = ?, floor = ?, label = ? WHERE id = ?')
      .run(next.enabled ? 1 : 0, next.placeId, next.floor, next.label, id);
    entry.record = { ...r, ...next, place: this.#places.path(next.placeId) };
    return entry.record;
  }

  /**
   * Check a device secret: a keyed hash, microseconds. A hash stored by an older hub (scrypt) is verified once
   * with scrypt and then replaced by the keyed form, so each device pays the KDF at most once after an upgrade.
   */
  async verifySecret(deviceId: string, secret: string): Promise<boolean> {
    const entry = this.#byId.get(deviceId);
    if (!entry) return false;
    if (!DeviceSecretHasher.isLegacy(entry.secretHash)) return this.#hasher.verify(secret, entry.secretHash);
    const legacy = entry.secretHash;
    if (!(await verifySecret(secret, legacy))) return false;
    const fresh = this.#hasher.hash(secret);
    this.#db
      .prepare('UPDATE devices SET secret_hash = ? WHERE id = ? AND secret_hash = ?')
      .run(fresh, deviceId, legacy);
    entry.secretHash = fresh;
    return true;
  }

  touch(deviceId: string, at: number): void {
    const entry = this.#byId.get(deviceId);
    if (!entry) return;
    if (entry.record.lastSeen === null || at > entry.record.lastSeen) {
      entry.record.lastSeen = at;
      this.#dirtySeen.add(deviceId);
    }
  }

  setOnline(deviceId: string, online: boolean, at: number): void {
    const entry = this.#byId.get(deviceId);
    if (!entry || entry.record.online === online) return;
    entry.record.online = online;
    entry.record.onlineChangedAt = at;
    this.#setOnlineStmt ??= this.#db.prepare<[number, number, string]>(
      'UPDATE devices SET online = ?, online_changed_at = ? WHERE id = ?',
    );
    this.#setOnlineStmt.run(online ? 1 : 0, at, deviceId);
  }

  /** Write coalesced last-seen times; called on an interval and at shutdown. */
  flushPresence(): number {
    if (this.#dirtySeen.size === 0) return 0;
    const stmt = this.#db.prepare('UPDATE devices SET last_seen = ? WHERE id = ?');
    const ids = [...this.#dirtySeen];
    this.#dirtySeen.clear();
    this.#db.transaction(() => {
      for (const id of ids) stmt.run(this.#byId.get(id)?.record.lastSeen ?? null, id);
    })();
    return ids.length;
  }

  /** At start-up nobody is connected yet, whatever the table says from before a crash. */
  markAllOffline(at: number): void {
    this.#db.prepare('UPDATE devices SET online = 0, online_changed_at = ? WHERE online = 1').run(at);
    for (const entry of this.#byId.values()) {
      if (entry.record.online) {
        entry.record.online = false;
        entry.record.onlineChangedAt = at;
      }
    }
  }
}
