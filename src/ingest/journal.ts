import type { EventReading } from '../domain/reading.ts';
import { type Db, migrate } from '../storage/sqlite.ts';

/**
 * The QoS 1 event journal. A row holds an event that was acknowledged (or is about to be) but not yet fully
 * processed by the rules and the dispatcher; a row is deleted once they have taken it. So the table holds only
 * the few events in flight, and after a crash exactly those that might not have reached the alert store.
 * AUTOINCREMENT keeps ids unique across deletes: `journalId` is a stable key downstream stages may use to
 * recognise an event replayed after a crash that they had in fact already processed.
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
];

export interface EventJournal {
  /** Record events durably, in one transaction; sets each reading's journalId. */
  record(readings: readonly EventReading[]): void;
  /** Mark events processed (delete their rows), in one transaction. */
  done(ids: readonly number[]): void;
  /** Events recorded but never marked done, oldest first. */
  pending(): EventReading[];
  count(): number;
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

  const recordTx = db.transaction((readings: readonly EventReading[]) => {
    for (const r of readings) {
      const info = insert.run(r.deviceId, r.receivedAt, JSON.stringify(r));
      r.journalId = Number(info.lastInsertRowid);
    }
  });
  const doneTx = db.transaction((ids: readonly number[]) => {
    for (const id of ids) remove.run(id);
  });

  return {
    record: (readings) => recordTx(readings),
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
  };
}
