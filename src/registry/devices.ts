import type { Catalogue } from '../catalogue/catalogue.ts';
import { GridHubError } from '../domain/errors.ts';
import type { DeviceDirectory } from '../domain/ports.ts';
import type { DeviceRecord } from '../domain/records.ts';
import { DEVICE_ID_PATTERN, RESERVED_IDS } from '../domain/wire.ts';
import { isUniqueViolation } from '../storage/sql-store.ts';
import type { PlaceStore } from './places.ts';
import type { OnlineChange, RegistryStore } from './registry-store.ts';
import { DeviceSecretHasher, newSecret, verifySecret } from './secrets.ts';
import type { DeviceTable } from './tables.ts';

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
 * Devices, cached in memory (ingest looks a device up on every message): reads are synchronous and never touch
 * the store. Presence (`last_seen`) is coalesced in memory and written in one transaction per flush;
 * online/offline changes are written as soon as the writes before them are done, in the order they happened,
 * behind the synchronous `setOnline` the broker calls (`settled()` waits for them).
 */
export class DeviceStore implements DeviceDirectory {
  readonly #store: RegistryStore['devices'];
  readonly #places: PlaceStore;
  readonly #catalogue: Catalogue;
  readonly #byId = new Map<string, CachedDevice>();
  readonly #dirtySeen = new Set<string>();
  /** Online/offline changes the next presence write takes (see `setOnline`). */
  readonly #onlineQueue: OnlineChange[] = [];
  readonly #hasher: DeviceSecretHasher;
  readonly #onWriteError: (err: unknown, deviceIds: readonly string[]) => void;
  #writes: Promise<void> = Promise.resolve();

  /**
   * `rows`: every device in the store (`DeviceStore.open` reads them). `onWriteError` hears a presence write
   * that failed (the hub logs it).
   */
  constructor(
    store: RegistryStore['devices'],
    rows: readonly DeviceTable[],
    deps: {
      places: PlaceStore;
      catalogue: Catalogue;
      hasher: DeviceSecretHasher;
      onWriteError?: (err: unknown, deviceIds: readonly string[]) => void;
    },
  ) {
    this.#store = store;
    this.#hasher = deps.hasher;
    this.#places = deps.places;
    this.#catalogue = deps.catalogue;
    this.#onWriteError = deps.onWriteError ?? (() => {});
    for (const row of rows) this.#cache(row);
  }

  static async open(
    store: RegistryStore['devices'],
    deps: ConstructorParameters<typeof DeviceStore>[2],
  ): Promise<DeviceStore> {
    return new DeviceStore(store, await store.all(), deps);
  }

  /**
   * Read one device again (another instance provisioned or changed it: on PostgreSQL, the hook for
   * LISTEN/NOTIFY). Presence stays this instance's: it is about the connections this instance holds.
   */
  async reload(id: string): Promise<DeviceRecord | undefined> {
    const row = await this.#store.get(id);
    const known = this.#byId.get(id);
    if (!row) {
      this.#byId.delete(id);
      return undefined;
    }
    const entry = this.#cache(row);
    if (known) {
      entry.record.online = known.record.online;
      entry.record.onlineChangedAt = known.record.onlineChangedAt;
      entry.record.lastSeen = known.record.lastSeen;
    }
    return entry.record;
  }

  /**
   * Read every device again: after the change feed was down, when notifications of other instances' changes may
   * have been lost. Devices gone from the store are dropped; presence stays this instance's, as in `reload`.
   */
  async reloadAll(): Promise<void> {
    const rows = await this.#store.all();
    const kept = new Map(this.#byId);
    this.#byId.clear();
    for (const row of rows) {
      const entry = this.#cache(row);
      const known = kept.get(row.id);
      if (known) {
        entry.record.online = known.record.online;
        entry.record.onlineChangedAt = known.record.onlineChangedAt;
        entry.record.lastSeen = known.record.lastSeen;
      }
    }
  }

  /** Resolves when every presence write issued so far is done. */
  settled(): Promise<void> {
    return this.#writes;
  }

  #cache(row: DeviceTable): CachedDevice {
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
    const row: DeviceTable = {
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
    try {
      await this.#store.insert(row);
    } catch (err) {
      // another request or instance provisioned the id between the check above and the insert
      if (isUniqueViolation(err)) throw new GridHubError('CONFLICT', `device ${id} exists`, { field: 'id' });
      throw err;
    }
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

  async update(
    id: string,
    patch: { enabled?: boolean; placeId?: string; floor?: number | null; label?: string | null },
  ): Promise<DeviceRecord> {
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
    // As for places: issued first, cached at once (a disabled device is refused from the next CONNECT on), and
    // taken back if the write fails. Presence is left as it is then.
    const written = this.#store.update(id, {
      enabled: next.enabled ? 1 : 0,
      place_id: next.placeId,
      floor: next.floor,
      label: next.label,
    });
    entry.record = { ...r, ...next, place: this.#places.path(next.placeId) };
    try {
      await written;
    } catch (err) {
      entry.record = {
        ...entry.record,
        enabled: r.enabled,
        placeId: r.placeId,
        floor: r.floor,
        label: r.label,
        place: r.place,
      };
      throw err;
    }
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
    await this.#store.replaceSecretHash(deviceId, legacy, fresh);
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
    // Changes made while the write that takes them still waits its turn go in with it, in one transaction:
    // after a restart thousands of devices reconnect at once, and a commit each (≈50 µs of the event loop on
    // SQLite) was most of what the presses of the devices already connected waited behind.
    if (this.#onlineQueue.push({ id: deviceId, online, at }) > 1) return;
    this.#writes = this.#writes.then(async () => {
      const changes = this.#onlineQueue.splice(0);
      try {
        await this.#store.setOnline(changes);
      } catch (err) {
        this.#onWriteError(
          err,
          changes.map((c) => c.id),
        );
      }
    });
  }

  /** Write coalesced last-seen times; called on an interval and at shutdown. Resolves with how many. */
  async flushPresence(): Promise<number> {
    if (this.#dirtySeen.size === 0) return 0;
    const seen = new Map<string, number>();
    for (const id of this.#dirtySeen) {
      const at = this.#byId.get(id)?.record.lastSeen;
      if (at !== null && at !== undefined) seen.set(id, at);
    }
    this.#dirtySeen.clear();
    try {
      await this.#store.setLastSeen(seen);
    } catch (err) {
      // keep them for the next flush: a store that is briefly away must not lose presence
      for (const id of seen.keys()) this.#dirtySeen.add(id);
      throw err;
    }
    return seen.size;
  }

  /**
   * At start-up nobody is connected to this instance, whatever the table says from before a crash. On a shared
   * database the devices another live instance holds are left to it: the store marks offline only this
   * instance's own and the orphans of dead ones (registry-store.ts). This instance's view has all of them
   * offline, so a device that connects here is written online (and becomes its) whatever the table said.
   */
  async markOfflineAtStart(at: number): Promise<void> {
    await this.settled();
    await this.#store.markOfflineAtStart(at);
    for (const entry of this.#byId.values()) {
      if (entry.record.online) {
        entry.record.online = false;
        entry.record.onlineChangedAt = at;
      }
    }
  }

  /** Devices held by instances whose lease ran out: offline in the store (the heartbeat's sweep). Their ids. */
  releaseOrphans(at: number): Promise<string[]> {
    return this.#store.releaseOrphans(at);
  }
}
