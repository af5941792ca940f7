import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/**
 * Open a SQLite file in WAL mode. WAL + synchronous=NORMAL survives a process crash (SIGKILL).
 * `verbose` hears every statement the connection executes (tests count a read's statements with it).
 */
export function openDatabase(file: string, options: { verbose?: (sql: string) => void } = {}): Db {
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
