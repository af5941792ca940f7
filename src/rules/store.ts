import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { DeviceTypeId } from '../catalogue/types.ts';
import type { PlacePath } from '../domain/places.ts';
import type { Reading } from '../domain/reading.ts';
import { LEASE_MIGRATIONS, type LeaseTables, migrateLeases, ownerGone } from '../storage/leases.ts';
import { type Migration, migrateModule, migrateModuleSync } from '../storage/migrations.ts';
import type { SqlStore } from '../storage/sql-store.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import type { OpsState } from './conditions.ts';
import type { Presence, RuleState, StatePersistence } from './evaluator.ts';
import {
  type AdoptCandidate,
  adoptDevices,
  HANDOVER_MIGRATION,
  HANDOVER_NOTES_PER_RELEASER_MIGRATION,
  releaseDevices,
} from './handover.ts';

/**
 * Rule state that spans minutes or hours (held-since times, windows, raised alerts, last-seen) kept in the store
 * so that a restart resumes where it stopped: a bin full for 8 minutes before a restart raises 2 minutes after.
 *
 * Writes are coalesced: changes mark a row dirty and one transaction writes all dirty rows every `flushMs`
 * (default 1 s); phase changes (raise, clear, start of a `for`) are written at once. A crash loses at most
 * `flushMs` of last-seen times and operator windows, never a raise or clear already handed on.
 *
 * On a shared database (several instances, issue #18) a (rule, device) row names the instance that evaluates
 * it. The state is one device's history under one rule (a `for` timer, a window of readings): two instances
 * merging halves of it would be wrong however it is merged, so the choice is one owner per device (the hub
 * routes each device's readings to one instance; see src/rules/README.md). The store enforces what routing
 * promises: a write by an instance that does not own the row, while its owner holds a live lease, is refused and
 * reported (`conflicts`, logged with ruleId and deviceId), never interleaved with the owner's. A row whose owner
 * died is taken by the next instance that writes it. Last-seen times (`rules_presence`) merge safely: the later
 * time wins, whoever writes it.
 *
 * The first version is the SQL the SQLite-only hub applied under the same number.
 */
export const RULES_MIGRATIONS: readonly Migration[] = [
  {
    description: 'rule state per (rule, device), last-seen per device',
    statements: (db, dialect) => {
      const state = db.schema
        .createTable('rules_state')
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('rules_state_pkey', ['rule_id', 'device_id']);
      const presence = db.schema
        .createTable('rules_presence')
        .addColumn('device_id', 'text', (c) => c.primaryKey())
        .addColumn('device_type', 'text', (c) => c.notNull())
        .addColumn('place_id', 'text', (c) => c.notNull())
        .addColumn('place', 'text', (c) => c.notNull())
        .addColumn('floor', 'integer')
        .addColumn('last_seen', 'bigint', (c) => c.notNull());
      return dialect === 'sqlite'
        ? [state.modifyEnd(sql`without rowid`), presence.modifyEnd(sql`without rowid`)]
        : [state, presence];
    },
  },
  {
    // '' on rows written before: nobody's, so the first instance to write them takes them
    description: 'rule state names the instance that evaluates it',
    statements: (db) => [
      db.schema.alterTable('rules_state').addColumn('owner', 'text', (c) => c.notNull().defaultTo('')),
    ],
  },
  HANDOVER_MIGRATION,
  HANDOVER_NOTES_PER_RELEASER_MIGRATION,
];

export interface RulesTables extends LeaseTables {
  rules_state: { rule_id: string; device_id: string; state: string; updated_at: number; owner: string };
  rules_presence: {
    device_id: string;
    device_type: string;
    place_id: string;
    place: string;
    floor: number | null;
    last_seen: number;
  };
}

interface StoredState {
  p: RuleState['phase'];
  s: number | null;
  r: number | null;
  o: OpsState;
  l: Reading | null;
  f: string;
}

export interface StoredRules {
  states: { ruleId: string; deviceId: string; state: RuleState }[];
  presence: Presence[];
}

/** One flush: rule states (null: delete the row) and last-seen times (null: the device is gone). */
export interface RulesWrite {
  states: readonly { ruleId: string; deviceId: string; state: RuleState | null }[];
  presence: readonly (readonly [deviceId: string, presence: Presence | null])[];
  /** Clock time of the write: `updated_at`, and what "a live lease" is measured against. */
  at: number;
}

/** A (rule, device) this instance does not own while its owner lives: its write was refused. */
export interface RulesConflict {
  ruleId: string;
  deviceId: string;
}

/** The rows on either store; `sync` on SQLite, where the engine's flush stays synchronous. */
export interface RulesTable {
  readonly owner: string;
  readonly sync: { write(w: RulesWrite): RulesConflict[]; load(): StoredRules } | undefined;
  write(w: RulesWrite): Promise<RulesConflict[]>;
  load(): Promise<StoredRules>;
  /** Owner routing (handover.ts): give devices' rows up, with a note for the taker. */
  release(deviceIds: readonly string[], at: number): Promise<void>;
  /** Owner routing: which candidates can be taken now, with their rows. */
  adopt(candidates: readonly AdoptCandidate[], at: number): Promise<Adopted>;
}

/** Devices taken over: when their live previous owner released each (undefined: it had died, or none had it). */
export interface Adopted extends StoredRules {
  ready: Map<string, number | undefined>;
}

const encode = (state: RuleState): string =>
  JSON.stringify({
    p: state.phase,
    s: state.since,
    r: state.raisedAt,
    o: state.ops,
    l: state.last,
    f: state.fp,
  } satisfies StoredState);

function decode(
  rows: { rule_id: string; device_id: string; state: string }[],
  presence: RulesTables['rules_presence'][],
  log: Logger,
): StoredRules {
  const states = rows.flatMap((row) => {
    try {
      const s = JSON.parse(row.state) as StoredState;
      const state: RuleState = { phase: s.p, since: s.s, raisedAt: s.r, ops: s.o ?? {}, last: s.l, fp: s.f };
      return [{ ruleId: row.rule_id, deviceId: row.device_id, state }];
    } catch (err) {
      log.warn({ err, ruleId: row.rule_id, deviceId: row.device_id }, 'unreadable rule state dropped');
      return [];
    }
  });
  return {
    states,
    presence: presence.map(
      (r): Presence => ({
        deviceId: r.device_id,
        deviceType: r.device_type as DeviceTypeId,
        placeId: r.place_id,
        place: JSON.parse(r.place) as PlacePath,
        floor: r.floor === null ? null : Number(r.floor),
        lastSeen: Number(r.last_seen),
      }),
    ),
  };
}

/** The statements, written once; SQLite prepares them once (the texts depend on nothing but the owner). */
function statements(store: SqlStore, owner: string) {
  const db = store.builder<RulesTables>();
  return {
    upsertState: (ruleId: string, deviceId: string, state: string, at: number) =>
      db
        .insertInto('rules_state')
        .values({ rule_id: ruleId, device_id: deviceId, state, updated_at: at, owner })
        .onConflict((oc) =>
          oc
            .columns(['rule_id', 'device_id'])
            .doUpdateSet((eb) => ({
              state: eb.ref('excluded.state'),
              updated_at: eb.ref('excluded.updated_at'),
              owner: eb.ref('excluded.owner'),
            }))
            .where((eb) =>
              eb.or([eb('rules_state.owner', '=', owner), ownerGone(store, 'rules_state.owner', at)]),
            ),
        )
        .returning('rule_id'),
    deleteState: (ruleId: string, deviceId: string, at: number) =>
      db
        .deleteFrom('rules_state')
        .where('rule_id', '=', ruleId)
        .where('device_id', '=', deviceId)
        .where((eb) => eb.or([eb('owner', '=', owner), ownerGone(store, 'owner', at)])),
    upsertPresence: (p: Presence) =>
      db
        .insertInto('rules_presence')
        .values({
          device_id: p.deviceId,
          device_type: p.deviceType,
          place_id: p.placeId,
          place: JSON.stringify(p.place),
          floor: p.floor,
          last_seen: p.lastSeen,
        })
        .onConflict((oc) =>
          oc
            .column('device_id')
            .doUpdateSet((eb) => ({
              device_type: eb.ref('excluded.device_type'),
              place_id: eb.ref('excluded.place_id'),
              place: eb.ref('excluded.place'),
              floor: eb.ref('excluded.floor'),
              last_seen: eb.ref('excluded.last_seen'),
            }))
            // two instances that both heard the device: the later time wins, whichever writes last
            .where((eb) => eb('rules_presence.last_seen', '<=', eb.ref('excluded.last_seen'))),
        ),
    deletePresence: (deviceId: string) => db.deleteFrom('rules_presence').where('device_id', '=', deviceId),
    allStates: db.selectFrom('rules_state').select(['rule_id', 'device_id', 'state']),
    allPresence: db.selectFrom('rules_presence').selectAll(),
  };
}

const SAMPLE_PRESENCE: Presence = {
  deviceId: '',
  deviceType: 'bin',
  placeId: '',
  place: { street: '', community: '', grid: '', estate: '' },
  floor: null,
  lastSeen: 0,
};

/**
 * On the hub's SQLite connection: the flush is one prepared transaction, synchronous as before (the rules
 * engine evaluates synchronously and writes a raise at once). Kysely built the texts; better-sqlite3 prepared them.
 */
export function sqliteRulesTable(db: Db, log: Logger, owner = 'local'): RulesTable {
  const store = sqliteStore(db);
  migrateModuleSync(store, 'instances', LEASE_MIGRATIONS);
  migrateModuleSync(store, 'rules', RULES_MIGRATIONS);
  const q = statements(store, owner);
  const text = (s: { compile(): { sql: string } }) => s.compile().sql;
  // parameters in the compiled order: the values (rule, device, state, at, owner), then the conflict clause's
  // owner and instant
  const upsertState = db.prepare<[string, string, string, number, string, string, number]>(
    text(q.upsertState('', '', '', 0)),
  );
  const deleteState = db.prepare<[string, string, string, number]>(text(q.deleteState('', '', 0)));
  const upsertPresence = db.prepare<[string, string, string, string, number | null, number]>(
    text(q.upsertPresence(SAMPLE_PRESENCE)),
  );
  const deletePresence = db.prepare<[string]>(text(q.deletePresence('')));
  const allStates = db.prepare<[], { rule_id: string; device_id: string; state: string }>(text(q.allStates));
  const allPresence = db.prepare<[], RulesTables['rules_presence']>(text(q.allPresence));

  const writeTx = db.transaction((w: RulesWrite): RulesConflict[] => {
    const conflicts: RulesConflict[] = [];
    for (const { ruleId, deviceId, state } of w.states) {
      if (state === null) deleteState.run(ruleId, deviceId, owner, w.at);
      else if (upsertState.get(ruleId, deviceId, encode(state), w.at, owner, owner, w.at) === undefined)
        conflicts.push({ ruleId, deviceId });
    }
    for (const [deviceId, p] of w.presence) {
      if (p === null) deletePresence.run(deviceId);
      else
        upsertPresence.run(p.deviceId, p.deviceType, p.placeId, JSON.stringify(p.place), p.floor, p.lastSeen);
    }
    return conflicts;
  });
  const sync = {
    write: (w: RulesWrite) => writeTx(w),
    load: () => decode(allStates.all(), allPresence.all(), log),
  };
  return {
    owner,
    sync,
    ...handover(store, owner, log),
    write: (w) => {
      try {
        return Promise.resolve(sync.write(w));
      } catch (err) {
        return Promise.reject(err);
      }
    },
    load: () => Promise.resolve(sync.load()),
  };
}

function handover(store: SqlStore, owner: string, log: Logger): Pick<RulesTable, 'release' | 'adopt'> {
  return {
    release: (deviceIds, at) => releaseDevices(store, owner, deviceIds, at),
    async adopt(candidates, at) {
      const { ready, rows, presence } = await adoptDevices(store, owner, candidates, at);
      return { ready, ...decode(rows, presence, log) };
    },
  };
}

/** On the shared PostgreSQL store: a flush is one transaction; `owner` is this instance's lease id. */
export async function postgresRulesTable(store: SqlStore, log: Logger, owner: string): Promise<RulesTable> {
  await migrateLeases(store);
  await migrateModule(store, 'rules', RULES_MIGRATIONS);
  const q = statements(store, owner);
  return {
    owner,
    sync: undefined,
    ...handover(store, owner, log),
    write: (w) =>
      store.transaction(async (tx) => {
        const conflicts: RulesConflict[] = [];
        for (const { ruleId, deviceId, state } of w.states) {
          if (state === null) await tx.write(q.deleteState(ruleId, deviceId, w.at));
          else if ((await tx.first(q.upsertState(ruleId, deviceId, encode(state), w.at))) === undefined)
            conflicts.push({ ruleId, deviceId });
        }
        for (const [deviceId, p] of w.presence) {
          await tx.write(p === null ? q.deletePresence(deviceId) : q.upsertPresence(p));
        }
        return conflicts;
      }),
    load: async () => decode(await store.all(q.allStates), await store.all(q.allPresence), log),
  };
}

export interface StateStore extends StatePersistence {
  load(): StoredRules;
  flush(): void;
  /**
   * Owner routing: write every dirty row (these devices' last state among them), then give these devices'
   * rows up for the instance taking them over (handover.ts). The engine has stopped evaluating them.
   */
  release(deviceIds: readonly string[]): Promise<void>;
  /** Owner routing: the candidates ready to be taken over, and their rows. */
  adopt(candidates: readonly AdoptCandidate[]): Promise<Adopted>;
  /** Resolves once no write is in flight (PostgreSQL; at once on SQLite). */
  settled(): Promise<void>;
  close(): void;
}

export interface StateStoreOptions {
  /** Coalescing interval of rule state writes (default 1 s). */
  flushMs?: number;
  /**
   * Coalescing interval of last-seen times (default 15 s): written for every device that spoke, so kept
   * rarer; a crash then loses at most this much of a silence that lasts 3 heartbeats (minutes to hours).
   */
  presenceFlushMs?: number;
  /** The hub's clock time (instance leases are in it); default Date.now. */
  now?: () => number;
}

/** The engine's store on the hub's SQLite connection (synchronous, as the engine opens it). */
export function createStateStore(db: Db, log: Logger, options: StateStoreOptions = {}): StateStore {
  const table = sqliteRulesTable(db, log);
  return stateStoreOn(table, (table.sync as NonNullable<RulesTable['sync']>).load(), log, options);
}

/** The engine's store on either store: the rows are read now, so the engine's `load()` stays synchronous. */
export async function openStateStore(
  table: RulesTable,
  log: Logger,
  options: StateStoreOptions = {},
): Promise<StateStore> {
  return stateStoreOn(table, await table.load(), log, options);
}

type DirtyState = { ruleId: string; deviceId: string; state: RuleState | null };

function stateStoreOn(
  table: RulesTable,
  loaded: StoredRules,
  log: Logger,
  options: StateStoreOptions,
): StateStore {
  const flushMs = options.flushMs ?? 1000;
  const presenceFlushMs = options.presenceFlushMs ?? 15_000;
  const now = options.now ?? Date.now;
  let dirtyStates = new Map<string, DirtyState>();
  /** null = delete the row. */
  let dirtyPresence = new Map<string, Presence | null>();
  let timer: NodeJS.Timeout | undefined;
  let presenceTimer: NodeJS.Timeout | undefined;
  let closed = false;
  // PostgreSQL: one write in flight at a time, so a later state of a row never lands before an earlier one
  let inFlight: Promise<void> | undefined;
  let again: boolean | undefined;

  const reported = new Set<string>();
  const conflicted = (conflicts: readonly RulesConflict[]) => {
    for (const c of conflicts) {
      const key = `${c.ruleId}\u0000${c.deviceId}`;
      if (reported.has(key)) continue;
      reported.add(key);
      log.warn(
        { ruleId: c.ruleId, deviceId: c.deviceId, owner: table.owner },
        'rule state owned by another live instance: not written (its readings reach more than one instance)',
      );
    }
  };

  const failed = (err: unknown, withPresence: boolean) => {
    // Kept dirty: the next flush tries again.
    log.error({ err, states: dirtyStates.size, presence: dirtyPresence.size }, 'rule state write failed');
    schedule();
    if (withPresence) schedulePresence();
  };

  /** What went unwritten goes back, unless a newer change to the same row came meanwhile. */
  const restore = (states: Map<string, DirtyState>, presence: Map<string, Presence | null>) => {
    for (const [k, v] of states) if (!dirtyStates.has(k)) dirtyStates.set(k, v);
    for (const [k, v] of presence) if (!dirtyPresence.has(k)) dirtyPresence.set(k, v);
  };

  /** Write dirty rule state, and last-seen times too when `withPresence`. */
  const flush = (withPresence = true) => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (withPresence && presenceTimer) {
      clearTimeout(presenceTimer);
      presenceTimer = undefined;
    }
    if (inFlight !== undefined) {
      again = (again ?? false) || withPresence;
      return;
    }
    const presenceDue = withPresence && dirtyPresence.size > 0;
    if (dirtyStates.size === 0 && !presenceDue) return;
    const states = dirtyStates;
    const presence = withPresence ? dirtyPresence : new Map<string, Presence | null>();
    dirtyStates = new Map();
    if (withPresence) dirtyPresence = new Map();
    const w: RulesWrite = { states: [...states.values()], presence: [...presence], at: now() };
    if (table.sync) {
      try {
        conflicted(table.sync.write(w));
      } catch (err) {
        restore(states, presence);
        failed(err, withPresence);
      }
      return;
    }
    inFlight = table.write(w).then(
      (conflicts) => conflicted(conflicts),
      (err: unknown) => {
        restore(states, presence);
        failed(err, withPresence);
      },
    );
    void inFlight.finally(() => {
      inFlight = undefined;
      const next = again;
      again = undefined;
      if (next !== undefined) flush(next);
    });
  };

  const schedule = () => {
    if (timer || closed) return;
    timer = setTimeout(() => flush(false), flushMs);
    timer.unref();
  };

  const schedulePresence = () => {
    if (presenceTimer || closed) return;
    presenceTimer = setTimeout(() => flush(true), presenceFlushMs);
    presenceTimer.unref();
  };

  return {
    stateChanged(ruleId, deviceId, state, urgent) {
      dirtyStates.set(`${ruleId}\u0000${deviceId}`, { ruleId, deviceId, state });
      if (urgent) flush(false);
      else schedule();
    },
    presenceChanged(p) {
      dirtyPresence.set(p.deviceId, p);
      schedulePresence();
    },
    presenceRemoved(deviceId) {
      dirtyPresence.set(deviceId, null);
      schedulePresence();
    },
    load: () => loaded,
    flush: () => flush(true),
    async release(deviceIds) {
      flush(true);
      while (inFlight !== undefined) await inFlight;
      // a write that failed left them dirty: not written later, when the rows are another instance's
      const gone = new Set(deviceIds);
      for (const [k, v] of dirtyStates) if (gone.has(v.deviceId)) dirtyStates.delete(k);
      await table.release(deviceIds, now());
    },
    adopt: (candidates) => table.adopt(candidates, now()),
    async settled() {
      while (inFlight !== undefined) await inFlight;
    },
    close() {
      flush(true);
      closed = true;
    },
  };
}
