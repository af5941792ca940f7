import { type Generated, type Kysely, sql } from 'kysely';
import type { EventReading } from '../domain/reading.ts';
import { chunksOf } from '../storage/chunks.ts';
import { type LeaseTables, migrateLeases, ownerGone } from '../storage/leases.ts';
import { type Migration, migrateModule, migrateModuleSync } from '../storage/migrations.ts';
import type { SqlStore } from '../storage/sql-store.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';

/**
 * The QoS 1 event journal. A row holds an event that was acknowledged (or is about to be) but not yet fully
 * processed by the rules and the dispatcher; a row is deleted once they have taken it. So the table holds only
 * the few events in flight, and after a crash exactly those that might not have reached the alert store.
 * Ids are never reused (SQLite AUTOINCREMENT, a PostgreSQL identity): `journalId` is a stable key downstream
 * stages may use to recognise an event replayed after a crash that they had in fact already processed.
 *
 * `ingest_seen` remembers what identifies each event taken recently (src/ingest/redelivery.ts): its MQTT
 * packet id with a digest of its payload, and its `eventId` when the device sent one. It is written in the same
 * transaction as the journal row, so an event is never taken without the means to recognise its redelivery,
 * including after a crash.
 *
 * The first two versions are the SQL the SQLite-only hub applied under the same numbers (a data dir migrated by
 * it goes on at version 3); written once here for both stores.
 */
export const INGEST_MIGRATIONS: readonly Migration[] = [
  {
    description: 'the QoS 1 event journal',
    statements: (db, dialect) => [
      db.schema
        .createTable('ingest_journal')
        .addColumn('id', dialect === 'postgres' ? 'bigint' : 'integer', (c) =>
          // AUTOINCREMENT, unlike addIdColumn: a journal id must never come back after its row was deleted
          dialect === 'postgres'
            ? c.primaryKey().generatedByDefaultAsIdentity()
            : c.primaryKey().autoIncrement(),
        )
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        // the normalised EventReading as JSON (without journalId)
        .addColumn('reading', 'text', (c) => c.notNull()),
    ],
  },
  {
    description: 'identities of the events taken recently, to recognise redeliveries',
    statements: (db, dialect) => {
      const table = db.schema
        .createTable('ingest_seen')
        .addColumn('device_id', 'text', (c) => c.notNull())
        // 'p:<MQTT packet id>' or 'e:<eventId>'
        .addColumn('key', 'text', (c) => c.notNull())
        // payload digest (packet keys): the same id with another payload is another message
        .addColumn('digest', 'text', (c) => c.notNull())
        // the connection the message came on (redelivery.ts: a resend on the same connection must carry DUP)
        .addColumn('conn', 'text', (c) => c.notNull())
        .addColumn('qos', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('ingest_seen_pkey', ['device_id', 'key']);
      return [
        dialect === 'sqlite' ? table.modifyEnd(sql`without rowid`) : table,
        db.schema.createIndex('ingest_seen_expiry').on('ingest_seen').column('expires_at'),
      ];
    },
  },
  {
    // On a shared database the journal of every instance is one table: a row names the instance that took the
    // event, so a restart replays its own rows and only an instance whose lease ran out loses its rows to another.
    description: 'journal rows name the instance that took the event',
    statements: (db) => [
      db.schema.alterTable('ingest_journal').addColumn('owner', 'text', (c) => c.notNull().defaultTo('')),
      db.schema.createIndex('ingest_journal_owner').on('ingest_journal').column('owner'),
    ],
  },
];

export interface JournalTables extends LeaseTables {
  ingest_journal: {
    id: Generated<number>;
    device_id: string;
    received_at: number;
    reading: string;
    owner: string;
  };
  ingest_seen: {
    device_id: string;
    key: string;
    digest: string;
    conn: string;
    qos: number;
    expires_at: number;
  };
}

/** One identity of a taken event (see src/ingest/redelivery.ts). */
export interface SeenKey {
  deviceId: string;
  key: string;
  digest: string;
  conn: string;
  qos: number;
  expiresAt: number;
}

/**
 * The journal as the pipeline uses it on SQLite: synchronous, because its group commit is on the path of every
 * alarm (one transaction per socket read, done before the PUBACKs; no turn of the event loop added).
 */
export interface EventJournal {
  /** Record events and their identities durably, in one transaction; sets each reading's journalId. */
  record(readings: readonly EventReading[], seen?: readonly SeenKey[]): void;
  /** Mark events processed (delete their rows), in one transaction. */
  done(ids: readonly number[]): void;
  /** Events recorded but never marked done, oldest first. */
  pending(): EventReading[];
  count(): number;
  /** The identity recorded under this key, expired or not. */
  seen(deviceId: string, key: string): SeenKey | undefined;
  /** Forget identities: a QoS 2 exchange completed (PUBREL), or a device disconnected cleanly. */
  forget(deviceId: string, key: string): void;
  /** Forget the packet ids taken on this connection: the device ended it with DISCONNECT, so it had its acks. */
  settle(deviceId: string, conn: string): void;
  /** Delete identities whose window has passed. */
  prune(now: number): number;
}

/**
 * The journal on either store, asynchronous: the port the PostgreSQL hub uses, and the one the conformance suite
 * (test/storage/journal.test.ts) holds both stores to. On SQLite every call has done its work when it returns,
 * and `sync` offers the same calls with plain results (what the pipeline uses there).
 */
export interface JournalStore {
  /** This instance's id, written on every row it records. */
  readonly owner: string;
  /** SQLite only: the same journal, synchronous. */
  readonly sync: EventJournal | undefined;
  /**
   * Events and identities in one commit, before any of them is acknowledged. On PostgreSQL one statement, so
   * one round trip: a multi-row INSERT of the events with the identities' upsert as a data-modifying CTE.
   */
  record(readings: readonly EventReading[], seen?: readonly SeenKey[]): Promise<void>;
  done(ids: readonly number[]): Promise<void>;
  /**
   * The events to replay, oldest first: this instance's own rows, and those of instances that hold no live
   * lease at `now` (they died with events in flight), which become this instance's in the same statement, so
   * of two instances taking over at once each row goes to one. On SQLite one process owns the file: every row.
   */
  claim(now: number): Promise<EventReading[]>;
  /**
   * Only the rows of instances whose lease ran out, taken as this instance's: the running sweep (this
   * instance's own rows are in flight in its pipeline, and must not be fed twice). SQLite: none.
   */
  claimOrphans(now: number): Promise<EventReading[]>;
  /**
   * Which of `ids` are still this instance's rows, and whether its lease is live at `now`: before a re-feed from
   * memory, so a row another instance took over while this one's lease had run out is not handed on twice.
   */
  owned(ids: readonly number[], now: number): Promise<Ownership>;
  count(): Promise<number>;
  seen(deviceId: string, key: string): Promise<SeenKey | undefined>;
  /**
   * Every identity of these devices still in its window at `now`: read at a device's CONNECT, and for all the
   * devices of a take-over at once (`AsyncEventJournal.recall`).
   */
  seenOf(deviceIds: readonly string[], now: number): Promise<SeenKey[]>;
  forget(deviceId: string, key: string): Promise<void>;
  settle(deviceId: string, conn: string): Promise<void>;
  prune(now: number): Promise<number>;
}

/** The answer of `JournalStore.owned`. */
export interface Ownership {
  mine: ReadonlySet<number>;
  /** This instance's lease is live: its rows are safe to re-feed (false: wait, another may be taking them). */
  live: boolean;
}

/** Devices per statement when a take-over reads their identities (well below PostgreSQL's 65 535 parameters). */
const SEEN_OF_CHUNK = 1_000;

/** The statements, built once per store with Kysely; SQLite prepares them once, PostgreSQL sends them. */
function queries(db: Kysely<JournalTables>) {
  return {
    insertOne: db
      .insertInto('ingest_journal')
      .values({ device_id: '', received_at: 0, reading: '', owner: '' })
      .returning('id'),
    remove: (ids: readonly number[]) => db.deleteFrom('ingest_journal').where('id', 'in', ids),
    all: db.selectFrom('ingest_journal').select(['id', 'reading']).orderBy('id'),
    count: db.selectFrom('ingest_journal').select((eb) => eb.fn.countAll<number>().as('n')),
    putSeen: (rows: JournalTables['ingest_seen'][]) =>
      db
        .insertInto('ingest_seen')
        .values(rows)
        .onConflict((oc) =>
          oc.columns(['device_id', 'key']).doUpdateSet((eb) => ({
            digest: eb.ref('excluded.digest'),
            conn: eb.ref('excluded.conn'),
            qos: eb.ref('excluded.qos'),
            expires_at: eb.ref('excluded.expires_at'),
          })),
        ),
    getSeen: (deviceId: string, key: string) =>
      db
        .selectFrom('ingest_seen')
        .select(['digest', 'conn', 'qos', 'expires_at'])
        .where('device_id', '=', deviceId)
        .where('key', '=', key),
    delSeen: (deviceId: string, key: string) =>
      db.deleteFrom('ingest_seen').where('device_id', '=', deviceId).where('key', '=', key),
    settle: (deviceId: string, conn: string) =>
      db
        .deleteFrom('ingest_seen')
        .where('device_id', '=', deviceId)
        .where('conn', '=', conn)
        .where('key', 'like', sql.lit('p:%')),
    prune: (now: number) => db.deleteFrom('ingest_seen').where('expires_at', '<=', now),
    seenOf: (deviceIds: readonly string[], now: number) =>
      db
        .selectFrom('ingest_seen')
        .select(['device_id', 'key', 'digest', 'conn', 'qos', 'expires_at'])
        .where('device_id', 'in', deviceIds)
        .where('expires_at', '>', now),
  };
}

const seenRow = (s: SeenKey): JournalTables['ingest_seen'] => ({
  device_id: s.deviceId,
  key: s.key,
  digest: s.digest,
  conn: s.conn,
  qos: s.qos,
  expires_at: s.expiresAt,
});

const toSeen = (
  deviceId: string,
  key: string,
  row: { digest: string; conn: string; qos: number; expires_at: number } | undefined,
): SeenKey | undefined =>
  row
    ? { deviceId, key, digest: row.digest, conn: row.conn, qos: row.qos, expiresAt: row.expires_at }
    : undefined;

const toReading = (row: { id: number; reading: string }): EventReading => {
  const reading = JSON.parse(row.reading) as EventReading;
  reading.journalId = row.id;
  return reading;
};

/**
 * The journal on the hub's SQLite connection. Kysely builds each statement once; better-sqlite3 prepares its
 * text once and the group commit is one prepared transaction, as fast as the hand-written SQL it replaces (no
 * compilation, no promise, no turn of the event loop per batch).
 */
export function sqliteJournal(db: Db, owner = 'local'): JournalStore {
  const store = sqliteStore(db);
  migrateModuleSync(store, 'ingest', INGEST_MIGRATIONS);
  const q = queries(store.builder<JournalTables>());
  const prep = <P extends unknown[], R = unknown>(s: { compile(): { sql: string } }) =>
    db.prepare<P, R>(s.compile().sql);
  const insert = prep<[string, number, string, string], { id: number }>(q.insertOne);
  const remove = prep<[number]>(q.remove([0]));
  const all = prep<[], { id: number; reading: string }>(q.all);
  const count = prep<[], { n: number }>(q.count);
  const putSeen = prep<[string, string, string, string, number, number]>(
    q.putSeen([seenRow({ deviceId: '', key: '', digest: '', conn: '', qos: 0, expiresAt: 0 })]),
  );
  const getSeen = prep<[string, string], { digest: string; conn: string; qos: number; expires_at: number }>(
    q.getSeen('', ''),
  );
  const delSeen = prep<[string, string]>(q.delSeen('', ''));
  const settle = prep<[string, string]>(q.settle('', ''));
  const prune = prep<[number]>(q.prune(0));
  // one device per run: prepared once (a take-over's devices are read one by one, each a few µs on SQLite)
  const seenOf = prep<
    [string, number],
    { device_id: string; key: string; digest: string; conn: string; qos: number; expires_at: number }
  >(q.seenOf([''], 0));

  const recordTx = db.transaction((readings: readonly EventReading[], seen: readonly SeenKey[]) => {
    for (const r of readings) {
      const row = insert.get(r.deviceId, r.receivedAt, JSON.stringify(r), owner) as { id: number };
      r.journalId = row.id;
    }
    for (const s of seen) putSeen.run(s.deviceId, s.key, s.digest, s.conn, s.qos, s.expiresAt);
  });
  const doneTx = db.transaction((ids: readonly number[]) => {
    for (const id of ids) remove.run(id);
  });

  const sync: EventJournal = {
    record: (readings, seen = []) => recordTx(readings, seen),
    done: (ids) => {
      if (ids.length) doneTx(ids);
    },
    pending: () => all.all().map(toReading),
    count: () => count.get()?.n ?? 0,
    seen: (deviceId, key) => toSeen(deviceId, key, getSeen.get(deviceId, key)),
    forget: (deviceId, key) => void delSeen.run(deviceId, key),
    settle: (deviceId, conn) => void settle.run(deviceId, conn),
    prune: (now) => prune.run(now).changes,
  };
  const settled = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  };
  return {
    owner,
    sync,
    record: (readings, seen) => settled(() => sync.record(readings, seen)),
    done: (ids) => settled(() => sync.done(ids)),
    claim: () => settled(() => sync.pending()),
    claimOrphans: () => Promise.resolve([]),
    // one process owns the file: every row is its own
    owned: (ids) => Promise.resolve({ mine: new Set(ids), live: true }),
    count: () => settled(() => sync.count()),
    seen: (deviceId, key) => settled(() => sync.seen(deviceId, key)),
    seenOf: (deviceIds, now) =>
      settled(() =>
        deviceIds.flatMap((id) => seenOf.all(id, now).map((r) => toSeen(id, r.key, r) as SeenKey)),
      ),
    forget: (deviceId, key) => settled(() => sync.forget(deviceId, key)),
    settle: (deviceId, conn) => settled(() => sync.settle(deviceId, conn)),
    prune: (now) => settled(() => sync.prune(now)),
  };
}

/** Today's synchronous journal on the hub's SQLite connection (what the pipeline takes). */
export function createEventJournal(db: Db): EventJournal {
  return sqliteJournal(db).sync as EventJournal;
}

/**
 * The journal on the shared PostgreSQL store; `owner` is this instance's lease id (src/storage/leases.ts).
 * Migrates the module on first use. Every call is one round trip.
 */
export async function postgresJournal(store: SqlStore, owner: string): Promise<JournalStore> {
  await migrateLeases(store);
  await migrateModule(store, 'ingest', INGEST_MIGRATIONS);
  const db = store.builder<JournalTables>();
  const q = queries(db);
  const take = async (now: number, mine: boolean) => {
    const rows = await store.all(
      db
        .updateTable('ingest_journal')
        .set({ owner })
        .where((eb) =>
          mine
            ? eb.or([eb('owner', '=', owner), ownerGone(store, 'owner', now)])
            : // never its own, even when its lease has lapsed (a paused instance): those are in its pipeline
              eb.and([eb('owner', '<>', owner), ownerGone(store, 'owner', now)]),
        )
        .returning(['id', 'reading']),
    );
    return rows.map((r) => toReading({ id: Number(r.id), reading: r.reading })).sort(byJournalId);
  };
  return {
    owner,
    sync: undefined,
    async record(readings, seen = []) {
      if (readings.length === 0 && seen.length === 0) return;
      if (readings.length === 0) {
        await store.write(q.putSeen(seen.map(seenRow)));
        return;
      }
      const rows = readings.map((r) => ({
        device_id: r.deviceId,
        received_at: r.receivedAt,
        reading: JSON.stringify(r),
        owner,
      }));
      const insert =
        seen.length === 0
          ? db.insertInto('ingest_journal').values(rows).returning('id')
          : // PostgreSQL runs a data-modifying CTE to completion whether or not the outer statement reads it
            db
              .with('seen', () => q.putSeen(seen.map(seenRow)).returning('key'))
              .insertInto('ingest_journal')
              .values(rows)
              .returning('id');
      const ids = (await store.all(insert)).map((r) => Number(r.id));
      // The identity takes its values in VALUES order within the statement; RETURNING's order is not promised.
      ids.sort((a, b) => a - b);
      readings.forEach((r, i) => {
        r.journalId = ids[i];
      });
    },
    async done(ids) {
      if (ids.length > 0) await store.write(q.remove(ids));
    },
    claim: (now) => take(now, true),
    claimOrphans: (now) => take(now, false),
    async owned(ids, now) {
      if (ids.length === 0) return { mine: new Set(), live: true };
      const rows = await store.all(
        db
          .selectFrom('ingest_journal')
          .select('id')
          .select((eb) =>
            eb
              .exists(
                eb
                  .selectFrom('instance_leases')
                  .select('instance_id')
                  .where('instance_id', '=', owner)
                  .where('expires_at', '>', now),
              )
              .as('live'),
          )
          .where('id', 'in', ids)
          .where('owner', '=', owner),
      );
      return { mine: new Set(rows.map((r) => Number(r.id))), live: rows.every((r) => Boolean(r.live)) };
    },
    count: async () => Number((await store.first(q.count))?.n ?? 0),
    seen: async (deviceId, key) => toSeen(deviceId, key, await store.first(q.getSeen(deviceId, key))),
    async seenOf(deviceIds, now) {
      // a take-over's devices (hundreds) in a few statements rather than one round trip each
      const out: SeenKey[] = [];
      for (const ids of chunksOf(deviceIds, SEEN_OF_CHUNK)) {
        const rows = await store.all(q.seenOf(ids, now));
        for (const r of rows)
          out.push(
            toSeen(r.device_id, r.key, {
              ...r,
              qos: Number(r.qos),
              expires_at: Number(r.expires_at),
            }) as SeenKey,
          );
      }
      return out;
    },
    forget: async (deviceId, key) => void (await store.write(q.delSeen(deviceId, key))),
    settle: async (deviceId, conn) => void (await store.write(q.settle(deviceId, conn))),
    prune: (now) => store.write(q.prune(now)),
  };
}

const byJournalId = (a: EventReading, b: EventReading) => (a.journalId ?? 0) - (b.journalId ?? 0);

/**
 * The journal as the pipeline uses it on a store without a synchronous runner (PostgreSQL): the group commit
 * is awaited (the PUBACKs go after its COMMIT), the rest is written behind. Redelivery checks are synchronous
 * (they run inside the broker's publish hook), so the identities this instance recorded are also kept here, in
 * memory, until their window passes: a resend to this instance is recognised as on SQLite. For a resend to
 * another instance (the device reconnected elsewhere), that instance reads the device's identities from the
 * shared store at its CONNECT, before the CONNACK (`recall`).
 */
export interface AsyncEventJournal
  extends Pick<EventJournal, 'done' | 'seen' | 'forget' | 'settle' | 'prune'> {
  record(readings: readonly EventReading[], seen?: readonly SeenKey[]): Promise<void>;
  /** This instance's unfinished events and those of instances whose lease ran out (`JournalStore.claim`). */
  claim(now: number): Promise<EventReading[]>;
  /** Only the rows of instances whose lease ran out (`JournalStore.claimOrphans`): the running sweep. */
  claimOrphans(now: number): Promise<EventReading[]>;
  owned(ids: readonly number[], now: number): Promise<Ownership>;
  /**
   * Read devices' identities from the shared store into this instance's memory: a device's at its CONNECT
   * (before the CONNACK), so one that lost a PUBACK from another instance and resends here is recognised; every
   * device of a take-over before their shadowed messages are fed.
   */
  recall(deviceIds: readonly string[], now: number): Promise<void>;
}

export function asyncEventJournal(
  store: JournalStore,
  onError: (err: unknown, what: string) => void,
): AsyncEventJournal {
  const memory = new Map<string, SeenKey>();
  const k = (deviceId: string, key: string) => `${deviceId}\n${key}`;
  const behind = (p: Promise<unknown>, what: string) => {
    p.catch((err: unknown) => onError(err, what));
  };
  return {
    async record(readings, seen = []) {
      await store.record(readings, seen);
      for (const s of seen) memory.set(k(s.deviceId, s.key), s);
    },
    claim: (now) => store.claim(now),
    claimOrphans: (now) => store.claimOrphans(now),
    owned: (ids, now) => store.owned(ids, now),
    async recall(deviceIds, now) {
      if (deviceIds.length === 0) return;
      for (const s of await store.seenOf(deviceIds, now)) {
        const id = k(s.deviceId, s.key);
        // the later window wins: what this instance took itself since is newer than the row another wrote
        const mine = memory.get(id);
        if (!mine || mine.expiresAt < s.expiresAt) memory.set(id, s);
      }
    },
    // a row left behind when this fails is replayed at the next claim; downstream knows its journalId
    done: (ids) => behind(store.done(ids), 'done'),
    seen: (deviceId, key) => memory.get(k(deviceId, key)),
    forget(deviceId, key) {
      memory.delete(k(deviceId, key));
      behind(store.forget(deviceId, key), 'forget');
    },
    settle(deviceId, conn) {
      for (const [key, s] of memory)
        if (s.deviceId === deviceId && s.conn === conn && s.key.startsWith('p:')) memory.delete(key);
      behind(store.settle(deviceId, conn), 'settle');
    },
    prune(now) {
      let n = 0;
      for (const [key, s] of memory)
        if (s.expiresAt <= now) {
          memory.delete(key);
          n++;
        }
      behind(store.prune(now), 'prune');
      return n;
    },
  };
}

/** The pipeline's journal: `store`'s (either form), or the SQLite journal on `db` by default. */
export function pipelineJournal(
  store: JournalStore | undefined,
  db: Db,
  log: { error(obj: object, msg: string): void },
): EventJournal | AsyncEventJournal {
  if (!store) return createEventJournal(db);
  return (
    store.sync ??
    asyncEventJournal(store, (err, what) => log.error({ err, what }, 'event journal write behind failed'))
  );
}
