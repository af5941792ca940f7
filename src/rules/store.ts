import type { Logger } from 'pino';
import type { DeviceTypeId } from '../catalogue/types.ts';
import type { PlacePath } from '../domain/places.ts';
import type { Reading } from '../domain/reading.ts';
import { type Db, migrate } from '../storage/sqlite.ts';
import type { OpsState } from './conditions.ts';
import type { Presence, RuleState, StatePersistence } from './evaluator.ts';

/**
 * Rule state that spans minutes or hours (held-since times, windows, raised alerts, last-seen) kept in SQLite
 * so that a restart resumes where it stopped: a bin full for 8 minutes before a restart raises 2 minutes after.
 *
 * Writes are coalesced: changes mark a row dirty and one transaction writes all dirty rows every `flushMs`
 * (default 1 s); phase changes (raise, clear, start of a `for`) are written at once. A crash loses at most
 * `flushMs` of last-seen times and operator windows, never a raise or clear already handed on.
 */
export const RULES_MIGRATIONS = [
  `CREATE TABLE rules_state (
     rule_id TEXT NOT NULL,
     device_id TEXT NOT NULL,
     state TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (rule_id, device_id)
   ) WITHOUT ROWID;
   CREATE TABLE rules_presence (
     device_id TEXT PRIMARY KEY,
     device_type TEXT NOT NULL,
     place_id TEXT NOT NULL,
     place TEXT NOT NULL,
     floor INTEGER,
     last_seen INTEGER NOT NULL
   ) WITHOUT ROWID;`,
];

interface StoredState {
  p: RuleState['phase'];
  s: number | null;
  r: number | null;
  o: OpsState;
  l: Reading | null;
  f: string;
}

export interface StateStore extends StatePersistence {
  load(): {
    states: { ruleId: string; deviceId: string; state: RuleState }[];
    presence: Presence[];
  };
  flush(): void;
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
}

export function createStateStore(db: Db, log: Logger, options: StateStoreOptions = {}): StateStore {
  const flushMs = options.flushMs ?? 1000;
  const presenceFlushMs = options.presenceFlushMs ?? 15_000;
  migrate(db, 'rules', RULES_MIGRATIONS);
  const upsertState = db.prepare(
    `INSERT INTO rules_state (rule_id, device_id, state, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (rule_id, device_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
  );
  const deleteState = db.prepare('DELETE FROM rules_state WHERE rule_id = ? AND device_id = ?');
  const upsertPresence = db.prepare(
    `INSERT INTO rules_presence (device_id, device_type, place_id, place, floor, last_seen) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (device_id) DO UPDATE SET device_type = excluded.device_type, place_id = excluded.place_id,
       place = excluded.place, floor = excluded.floor, last_seen = excluded.last_seen`,
  );
  const deletePresence = db.prepare('DELETE FROM rules_presence WHERE device_id = ?');
  const dirtyStates = new Map<string, { ruleId: string; deviceId: string; state: RuleState | null }>();
  /** null = delete the row. */
  const dirtyPresence = new Map<string, Presence | null>();
  let timer: NodeJS.Timeout | undefined;
  let presenceTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const write = db.transaction((withPresence: boolean) => {
    const at = Date.now();
    for (const { ruleId, deviceId, state } of dirtyStates.values()) {
      if (state === null) deleteState.run(ruleId, deviceId);
      else {
        const stored: StoredState = {
          p: state.phase,
          s: state.since,
          r: state.raisedAt,
          o: state.ops,
          l: state.last,
          f: state.fp,
        };
        upsertState.run(ruleId, deviceId, JSON.stringify(stored), at);
      }
    }
    if (!withPresence) return;
    for (const [deviceId, p] of dirtyPresence) {
      if (p === null) deletePresence.run(deviceId);
      else
        upsertPresence.run(p.deviceId, p.deviceType, p.placeId, JSON.stringify(p.place), p.floor, p.lastSeen);
    }
  });

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
    const presenceDue = withPresence && dirtyPresence.size > 0;
    if (dirtyStates.size === 0 && !presenceDue) return;
    try {
      write(withPresence);
      dirtyStates.clear();
      if (withPresence) dirtyPresence.clear();
    } catch (err) {
      // Kept dirty: the next flush tries again.
      log.error({ err, states: dirtyStates.size, presence: dirtyPresence.size }, 'rule state write failed');
      schedule();
      if (withPresence) schedulePresence();
    }
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
    load() {
      const states = db
        .prepare<[], { rule_id: string; device_id: string; state: string }>(
          'SELECT rule_id, device_id, state FROM rules_state',
        )
        .all()
        .flatMap((row) => {
          try {
            const s = JSON.parse(row.state) as StoredState;
            const state: RuleState = {
              phase: s.p,
              since: s.s,
              raisedAt: s.r,
              ops: s.o ?? {},
              last: s.l,
              fp: s.f,
            };
            return [{ ruleId: row.rule_id, deviceId: row.device_id, state }];
          } catch (err) {
            log.warn({ err, ruleId: row.rule_id, deviceId: row.device_id }, 'unreadable rule state dropped');
            return [];
          }
        });
      const presence = db
        .prepare<
          [],
          {
            device_id: string;
            device_type: string;
            place_id: string;
            place: string;
            floor: number | null;
            last_seen: number;
          }
        >('SELECT device_id, device_type, place_id, place, floor, last_seen FROM rules_presence')
        .all()
        .map(
          (r): Presence => ({
            deviceId: r.device_id,
            deviceType: r.device_type as DeviceTypeId,
            placeId: r.place_id,
            place: JSON.parse(r.place) as PlacePath,
            floor: r.floor,
            lastSeen: r.last_seen,
          }),
        );
      return { states, presence };
    },
    flush: () => flush(true),
    close() {
      flush(true);
      closed = true;
    },
  };
}
