import type { EventReading } from '../domain/reading.ts';
import { type Db, migrate } from '../storage/sqlite.ts';

/**
 * The QoS 1 event journal. A row holds an event that was acknowledged (or is about to be) but not yet fully
 * processed by the rules and the dispatcher; a row is deleted once they have taken it. So the table holds only
 * the few events in flight, and after a crash exactly those that might not have reached the alert store.
 * AUTOINCREMENT keeps ids unique across deletes: `journalId` is a stable key downstream stages may use to
 * recognise an event replayed after a crash that they had in fact already processed.
 *
 * `ingest_seen` remembers what identifies each event taken recently (src/ingest/redelivery.ts): its MQTT
 * packet id with a digest of its payload, and its `eventId` when the device sent one. It is written in the same
 * transaction as the journal row, so an event is never taken without the means to recognise its redelivery,
 * including after a crash.
 */
export const INGEST_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE ingest_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    -- the normalised EventReading as JSON (without journalId)
    reading TEXT NOT NULL
  );
  `,
  `
  CREATE TABLE ingest_seen (
    device_id TEXT NOT NULL,
    -- 'p:<MQTT packet id>' or 'e:<eventId>'
    key TEXT NOT NULL,
    -- payload digest (packet keys): the same id with another payload is another message
    digest TEXT NOT NULL,
    -- the connection the message came on (redelivery.ts: a resend on the same connection must carry DUP)
    conn TEXT NOT NULL,
    qos INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, key)
  ) WITHOUT ROWID;
  CREATE INDEX ingest_seen_expiry ON ingest_seen(expires_at);
  `,
];

/** One identity of a taken event (see src/ingest/redelivery.ts). */
export interface SeenKey {
  deviceId: string;
  key: string;
  digest: string;
  conn: string;
  qos: number;
  expiresAt: number;
}

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

export function createEventJournal(db: Db): EventJournal {
  migrate(db, 'ingest', INGEST_MIGRATIONS);
  const insert = db.prepare<[string, number, string]>(
    'INSERT INTO ingest_journal (device_id, received_at, reading) VALUES (?, ?, ?)',
  );
  const remove = db.prepare<[number]>('DELETE FROM ingest_journal WHERE id = ?');
  const all = db.prepare<[], { id: number; reading: string }>(
    'SELECT id, reading FROM ingest_journal ORDER BY id',
  );
  const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM ingest_journal');
  const putSeen = db.prepare<[string, string, string, string, number, number]>(
    'INSERT OR REPLACE INTO ingest_seen (device_id, key, digest, conn, qos, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const getSeen = db.prepare<
    [string, string],
    { digest: string; conn: string; qos: number; expires_at: number }
  >('SELECT digest, conn, qos, expires_at FROM ingest_seen WHERE device_id = ? AND key = ?');
  const delSeen = db.prepare<[string, string]>('DELETE FROM ingest_seen WHERE device_id = ? AND key = ?');
  const settle = db.prepare<[string, string]>(
    "DELETE FROM ingest_seen WHERE device_id = ? AND conn = ? AND key LIKE 'p:%'",
  );
  const prune = db.prepare<[number]>('DELETE FROM ingest_seen WHERE expires_at <= ?');

  const recordTx = db.transaction((readings: readonly EventReading[], seen: readonly SeenKey[]) => {
    for (const r of readings) {
      const info = insert.run(r.deviceId, r.receivedAt, JSON.stringify(r));
      r.journalId = Number(info.lastInsertRowid);
    }
    for (const s of seen) putSeen.run(s.deviceId, s.key, s.digest, s.conn, s.qos, s.expiresAt);
  });
  const doneTx = db.transaction((ids: readonly number[]) => {
    for (const id of ids) remove.run(id);
  });

  return {
    record: (readings, seen = []) => recordTx(readings, seen),
    done: (ids) => {
      if (ids.length) doneTx(ids);
    },
    pending: () =>
      all.all().map((row) => {
        const reading = JSON.parse(row.reading) as EventReading;
        reading.journalId = row.id;
        return reading;
      }),
    count: () => count.get()?.n ?? 0,
    seen(deviceId, key) {
      const row = getSeen.get(deviceId, key);
      return row
        ? { deviceId, key, digest: row.digest, conn: row.conn, qos: row.qos, expiresAt: row.expires_at }
        : undefined;
    },
    forget: (deviceId, key) => void delSeen.run(deviceId, key),
    settle: (deviceId, conn) => void settle.run(deviceId, conn),
    prune: (now) => prune.run(now).changes,
  };
}
