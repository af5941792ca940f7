import type { Kysely } from 'kysely';
import { chunksOf } from '../storage/chunks.ts';
import { ownerGone } from '../storage/leases.ts';
import type { Migration } from '../storage/migrations.ts';
import type { SqlStore } from '../storage/sql-store.ts';
import type { RulesTables } from './store.ts';

/**
 * Handing a device's rule state from one live instance to another (owner routing, issue #18; the readme's
 * "Several instances: one owner per device"). The instance that loses a device while it runs (a new instance
 * joined) writes its last state and gives the rows up (`owner` = '': nobody's, so the taker's writes are not
 * refused), and leaves a note in `rules_handover`: who released the device and when. The taker waits for the
 * note of the instance it takes the device from before it evaluates the device, and the note's time is where its
 * shadow of the device's messages takes over (what came before, the old owner evaluated). A device whose owner
 * died needs no note: its rows are taken as the rows of a dead owner (`ownerGone`), and the dead owner's last
 * renewal is where the shadow starts.
 *
 * Notes are kept per device and releaser: instances joining one after another each give up what is not theirs
 * in their own view, and one instance's note must not replace the note another instance waits for.
 */
export const HANDOVER_MIGRATION: Migration = {
  description: 'devices released by a live instance, for the instance taking them over',
  statements: (db) => [
    db.schema
      .createTable('rules_handover')
      .addColumn('device_id', 'text', (c) => c.primaryKey())
      .addColumn('released_by', 'text', (c) => c.notNull())
      .addColumn('released_at', 'bigint', (c) => c.notNull()),
  ],
};

/** The notes' columns, copied into the new table: the notes of instances running through the upgrade are kept. */
const NOTE_COLUMNS = ['device_id', 'released_by', 'released_at'] as const;
type NoteRow = { device_id: string; released_by: string; released_at: number };

/**
 * One note per device and releaser (was: per device, the last releaser's replacing the one before). Found by a
 * cluster test: an instance joining third gave up, with its own notes, the devices the second one waited for from
 * the first, and the second waited for ever.
 */
export const HANDOVER_NOTES_PER_RELEASER_MIGRATION: Migration = {
  description: 'a hand-over note per device and per releasing instance',
  statements: (db) => [
    db.schema
      .createTable('rules_handover_v2')
      .addColumn('device_id', 'text', (c) => c.notNull())
      .addColumn('released_by', 'text', (c) => c.notNull())
      .addColumn('released_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('rules_handover_v2_pkey', ['device_id', 'released_by']),
    db
      .withTables<{ rules_handover_v2: NoteRow; rules_handover: NoteRow }>()
      .insertInto('rules_handover_v2')
      .columns(NOTE_COLUMNS)
      .expression((eb) => eb.selectFrom('rules_handover').select(NOTE_COLUMNS)),
    db.schema.dropTable('rules_handover'),
    db.schema.alterTable('rules_handover_v2').renameTo('rules_handover'),
  ],
};

export interface HandoverTables extends RulesTables {
  rules_handover: { device_id: string; released_by: string; released_at: number };
}

/** A device this instance is to take over; `from`: its previous owner when that one is live (a hand-over). */
export interface AdoptCandidate {
  deviceId: string;
  from: string | undefined;
  /**
   * Taken without its previous owner's note and whatever rows a live instance holds: it waited longer than a
   * hand-over can take (src/device-routing.ts), and a device that nobody evaluates is worse than one evaluated
   * twice for a moment (the holder's later writes are refused, and logged).
   */
  overdue?: boolean;
}

export interface AdoptRows {
  /** The devices ready to be taken: the time their live previous owner released them (undefined: none did). */
  ready: Map<string, number | undefined>;
  rows: { rule_id: string; device_id: string; state: string }[];
  presence: RulesTables['rules_presence'][];
}

/** Statements send at most this many device ids each (PostgreSQL's 65 535 parameters, with room). */
const CHUNK = 5_000;

/** Give devices up: rows nobody's, a note per device; one transaction. */
export async function releaseDevices(
  store: SqlStore,
  owner: string,
  deviceIds: readonly string[],
  at: number,
): Promise<void> {
  if (deviceIds.length === 0) return;
  const db: Kysely<HandoverTables> = store.builder<HandoverTables>();
  await store.transaction(async (tx) => {
    for (const ids of chunksOf(deviceIds, CHUNK)) {
      await tx.write(
        db
          .updateTable('rules_state')
          .set({ owner: '', updated_at: at })
          .where('owner', '=', owner)
          .where('device_id', 'in', ids),
      );
      await tx.write(
        db
          .insertInto('rules_handover')
          .values(ids.map((device_id) => ({ device_id, released_by: owner, released_at: at })))
          .onConflict((oc) =>
            oc
              .columns(['device_id', 'released_by'])
              .doUpdateSet((eb) => ({ released_at: eb.ref('excluded.released_at') })),
          ),
      );
    }
  });
}

/**
 * Which candidates can be taken now, and their rows. A device is ready when none of its rows is held by another
 * live instance and, when its previous owner lives, that owner's note is there (then used up); an overdue one
 * is ready at once.
 */
export async function adoptDevices(
  store: SqlStore,
  owner: string,
  candidates: readonly AdoptCandidate[],
  at: number,
): Promise<AdoptRows> {
  const db: Kysely<HandoverTables> = store.builder<HandoverTables>();
  const ready = new Map<string, number | undefined>();
  const rows: AdoptRows['rows'] = [];
  const presence: AdoptRows['presence'] = [];
  for (const part of chunksOf(candidates, CHUNK)) {
    const ids = part.map((c) => c.deviceId);
    const live = db.selectFrom('instance_leases').select('instance_id').where('expires_at', '>', at);
    const [notes, held] = await Promise.all([
      store.all(db.selectFrom('rules_handover').selectAll().where('device_id', 'in', ids)),
      store.all(
        db
          .selectFrom('rules_state')
          .select('device_id')
          .distinct()
          .where('device_id', 'in', ids)
          .where('owner', '<>', owner)
          .where('owner', '<>', '')
          .where('owner', 'in', live),
      ),
    ]);
    const noteOf = new Map(notes.map((n) => [`${n.device_id}\u0000${n.released_by}`, n]));
    const heldIds = new Set(held.map((h) => h.device_id));
    const taken: string[] = [];
    for (const c of part) {
      const note = c.from === undefined ? undefined : noteOf.get(`${c.deviceId}\u0000${c.from}`);
      if (!c.overdue && (heldIds.has(c.deviceId) || (c.from !== undefined && note === undefined))) continue;
      ready.set(c.deviceId, note === undefined ? undefined : Number(note.released_at));
      taken.push(c.deviceId);
    }
    if (taken.length === 0) continue;
    const [states, pres] = await Promise.all([
      store.all(
        db
          .selectFrom('rules_state')
          .select(['rule_id', 'device_id', 'state'])
          .where('device_id', 'in', taken),
      ),
      store.all(db.selectFrom('rules_presence').selectAll().where('device_id', 'in', taken)),
      store.write(db.deleteFrom('rules_handover').where('device_id', 'in', taken)),
      // the rows are this instance's from now on, so the store refuses a misrouted write by another again
      store.write(
        db
          .updateTable('rules_state')
          .set({ owner })
          .where('device_id', 'in', taken)
          .where((eb) => eb.or([eb('owner', '=', owner), ownerGone(store, 'owner', at)])),
      ),
    ]);
    rows.push(...states);
    presence.push(...pres);
  }
  return { ready, rows, presence };
}
