import { readFileSync } from 'node:fs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { INGEST_MIGRATIONS, sqliteJournal } from '../../src/ingest/journal.ts';
import { createStateStore, RULES_MIGRATIONS } from '../../src/rules/store.ts';
import { type Migration, migrateModuleSync } from '../../src/storage/migrations.ts';
import { openDatabase } from '../../src/storage/sqlite.ts';
import { sqliteStore } from '../../src/storage/sqlite-kysely.ts';
import { type SchemaSnapshot, snapshotSqliteSchema } from './sqlite-schema.ts';

/**
 * The journal's and the rules' tables, rewritten with Kysely under the numbers their SQL had. Each version must
 * leave on SQLite what that SQL left: `golden/state-sqlite-schema.json` was taken from the SQL of the
 * SQLite-only hub (ingest 1–2, rules 1) before it was rewritten, and from that SQL followed by the new steps
 * (ingest 3, rules 2–4). What the snapshot does not show is checked by name: AUTOINCREMENT (a journal id never
 * comes back) and WITHOUT ROWID.
 */
const GOLDEN = JSON.parse(
  readFileSync(new URL('./golden/state-sqlite-schema.json', import.meta.url), 'utf8'),
) as Record<string, SchemaSnapshot>;

const MODULES: [string, readonly Migration[]][] = [
  ['ingest', INGEST_MIGRATIONS],
  ['rules', RULES_MIGRATIONS],
];

const tableSql = (db: ReturnType<typeof openDatabase>, name: string) =>
  (
    db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) as {
      sql: string;
    }
  ).sql.toLowerCase();

describe('journal and rule state schema on SQLite: each version as the SQL before it left it', () => {
  it('has a golden schema for every version', () => {
    expect(Object.keys(GOLDEN)).toEqual(MODULES.flatMap(([m, list]) => list.map((_, i) => `${m} ${i + 1}`)));
  });

  for (const [module, list] of MODULES) {
    for (let v = 1; v <= list.length; v++) {
      it(`${module} ${v}`, () => {
        const db = openDatabase(':memory:');
        migrateModuleSync(sqliteStore(db), module, list.slice(0, v));
        expect(snapshotSqliteSchema(db)).toEqual(GOLDEN[`${module} ${v}`]);
        db.close();
      });
    }
  }

  it('keeps AUTOINCREMENT on the journal and WITHOUT ROWID where the SQL had it', () => {
    const db = openDatabase(':memory:');
    migrateModuleSync(sqliteStore(db), 'ingest', INGEST_MIGRATIONS);
    migrateModuleSync(sqliteStore(db), 'rules', RULES_MIGRATIONS);
    expect(tableSql(db, 'ingest_journal')).toMatch(/primary key autoincrement/);
    for (const t of ['ingest_seen', 'rules_state', 'rules_presence'])
      expect(tableSql(db, t)).toMatch(/without rowid\s*$/);
    db.close();
  });

  it('a data dir an older hub left mid-flight goes on: its journal rows replay, its rule state loads', () => {
    const db = openDatabase(':memory:');
    const store = sqliteStore(db);
    // what the hub before ownership left: ingest at 2, rules at 1, with rows
    migrateModuleSync(store, 'ingest', INGEST_MIGRATIONS.slice(0, 2));
    migrateModuleSync(store, 'rules', RULES_MIGRATIONS.slice(0, 1));
    const reading = { kind: 'event', event: 'sos', deviceId: 'd1', receivedAt: 5 };
    db.prepare('INSERT INTO ingest_journal (device_id, received_at, reading) VALUES (?, ?, ?)').run(
      'd1',
      5,
      JSON.stringify(reading),
    );
    db.prepare(
      "INSERT INTO rules_state (rule_id, device_id, state, updated_at) VALUES ('bin-full', 'b1', ?, 1)",
    ).run(JSON.stringify({ p: 'pending', s: 1, r: null, o: {}, l: null, f: 'x' }));
    const journal = sqliteJournal(db).sync;
    expect(journal?.pending()).toEqual([{ ...reading, journalId: 1 }]);
    const rules = createStateStore(db, pino({ level: 'silent' }));
    expect(rules.load().states).toEqual([
      {
        ruleId: 'bin-full',
        deviceId: 'b1',
        state: { phase: 'pending', since: 1, raisedAt: null, ops: {}, last: null, fp: 'x' },
      },
    ]);
    // the row nobody owned is this instance's at its next write
    rules.stateChanged(
      'bin-full',
      'b1',
      { phase: 'active', since: 1, raisedAt: 2, ops: {}, last: null, fp: 'x' },
      true,
    );
    expect(db.prepare("SELECT owner FROM rules_state WHERE rule_id = 'bin-full'").get()).toEqual({
      owner: 'local',
    });
    expect(
      (
        db.prepare("SELECT version FROM schema_migrations WHERE module = 'ingest'").all() as {
          version: number;
        }[]
      ).map((r) => r.version),
    ).toEqual([1, 2, 3]);
    rules.close();
    db.close();
  });
});
