import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { type Checkpointer, startCheckpointer } from './checkpointer.ts';

export type Db = Database.Database;

export interface OpenOptions {
  /** Hears every statement the connection executes (tests count a read's statements with it). */
  verbose?: (sql: string) => void;
  /**
   * Who checkpoints the WAL. `auto` (default): SQLite, inside whichever COMMIT crosses 1 000 pages. `background`:
   * a worker thread with its own connection (checkpointer.ts), so no statement of this connection pays for one;
   * for the hub's long-lived databases, where a checkpoint inside an alarm's transaction was its p99.
   */
  checkpoints?: 'auto' | 'background';
}

/**
 * With background checkpoints, SQLite's own stays as a safety net far above what the worker lets the WAL reach
 * (it checkpoints every 200 ms): 10 000 pages, ~40 MB, if the worker could not keep up or is gone.
 */
const SAFETY_NET_PAGES = 10_000;

const checkpointers = new WeakMap<Db, Checkpointer>();

/** The background checkpointer of a database opened with `checkpoints: 'background'`. */
export function checkpointerOf(db: Db): Checkpointer | undefined {
  return checkpointers.get(db);
}

/** Open a SQLite file in WAL mode. WAL + synchronous=NORMAL survives a process crash (SIGKILL). */
export function openDatabase(file: string, options: OpenOptions = {}): Db {
  if (file !== ':memory:') {
    // Residents' personal data and keys: owner only. SQLite gives the -wal and -shm files the mode of the
    // database file, so creating it 0600 first covers all three.
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  }
  const verbose = options.verbose;
  const db = new Database(file, verbose ? { verbose: (sql) => verbose(String(sql)) } : {});
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    module TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL,
    PRIMARY KEY (module, version))`);
  if (options.checkpoints === 'background' && file !== ':memory:') {
    db.pragma(`wal_autocheckpoint = ${SAFETY_NET_PAGES}`);
    const checkpointer = startCheckpointer(file);
    checkpointers.set(db, checkpointer);
    const close = db.close.bind(db);
    // the worker's connection goes with this one (it is then the last, and leaves the WAL checkpointed)
    db.close = () => {
      void checkpointer.stop();
      return close();
    };
  }
  return db;
}

/**
 * Apply a module's migrations in order, each once. Every module (registry, alerts, rules, …) owns its own
 * numbered list, so modules can evolve their tables independently. Never edit a released migration: append.
 */
export function migrate(db: Db, module: string, migrations: readonly string[]): void {
  const applied = new Set(
    db
      .prepare<[string], { version: number }>('SELECT version FROM schema_migrations WHERE module = ?')
      .all(module)
      .map((r) => r.version),
  );
  const record = db.prepare('INSERT INTO schema_migrations (module, version, applied_at) VALUES (?, ?, ?)');
  migrations.forEach((sql, i) => {
    const version = i + 1;
    if (applied.has(version)) return;
    db.transaction(() => {
      db.exec(sql);
      record.run(module, version, new Date().toISOString());
    })();
  });
}
