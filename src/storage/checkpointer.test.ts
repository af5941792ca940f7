import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointerOf, type Db, openDatabase } from './sqlite.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(checkpoints: 'auto' | 'background'): { db: Db; file: string } {
  const dir = mkdtempSync(join(os.tmpdir(), 'gridhub-ckpt-'));
  dirs.push(dir);
  const file = join(dir, 'hub.db');
  const db = openDatabase(file, { checkpoints });
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)');
  return { db, file };
}

/** ~3 000 pages of 4 KB through the WAL, in small commits as the hub makes them. */
function write(db: Db): void {
  const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
  const body = Buffer.alloc(3_000, 1);
  for (let i = 0; i < 300; i++)
    db.transaction(() => {
      for (let k = 0; k < 12; k++) insert.run(body);
    })();
}

const pagesInFile = (file: string) => Math.floor(statSync(file).size / 4096);

describe('background WAL checkpoints', () => {
  it("the hub's connection never checkpoints: the WAL reaches the database file through the worker", async () => {
    const { db, file } = open('background');
    const checkpointer = checkpointerOf(db);
    expect(checkpointer).toBeDefined();
    await checkpointer?.ready;
    const before = pagesInFile(file);
    write(db);
    // SQLite's own checkpoint (1 000 pages by default) is only the safety net now
    expect(Number(db.pragma('wal_autocheckpoint', { simple: true }))).toBe(10_000);
    const stepped = await checkpointer?.step();
    expect(stepped?.lastError).toBeNull();
    expect(stepped?.frames).toBeGreaterThan(1_000);
    expect(stepped?.checkpointed).toBe(stepped?.frames);
    expect(pagesInFile(file) - before).toBeGreaterThan(1_000);
    expect((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(3_600);
    db.close();
    await checkpointer?.stop();
  });

  it('with auto checkpoints (the default) the writing connection does them itself', () => {
    const { db, file } = open('auto');
    expect(checkpointerOf(db)).toBeUndefined();
    const before = pagesInFile(file);
    write(db);
    // SQLite checkpointed inside one of those COMMITs
    expect(pagesInFile(file) - before).toBeGreaterThan(900);
    db.close();
  });

  it('keeps running on its own period and stops with the connection', async () => {
    const { db } = open('background');
    const checkpointer = checkpointerOf(db);
    await checkpointer?.ready;
    const steps = checkpointer?.status.steps ?? 0;
    await new Promise<void>((resolve) => {
      const poll = () => ((checkpointer?.status.steps ?? 0) > steps ? resolve() : setTimeout(poll, 20));
      poll();
    });
    db.close();
    await checkpointer?.stop();
  });
});
