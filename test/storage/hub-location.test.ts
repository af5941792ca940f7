import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { createHub, StartupError } from '../../src/hub.ts';
import { openStore, redactUrl, storeLocation } from '../../src/storage/open.ts';
import { openDatabase } from '../../src/storage/sqlite.ts';

describe('GRIDHUB_DATABASE_URL', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const hubWith = (url: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'gridhub-location-'));
    dirs.push(dir);
    const config = loadConfig(
      {
        GRIDHUB_DATA_DIR: dir,
        GRIDHUB_DATABASE_URL: url,
        GRIDHUB_LOG_LEVEL: 'silent',
        GRIDHUB_DEMO: 'false',
      },
      dir,
    );
    return createHub({ config });
  };

  it('chooses SQLite when unset and PostgreSQL for a postgres:// URL', () => {
    expect(storeLocation(undefined)).toEqual({ kind: 'sqlite' });
    expect(storeLocation('  ')).toEqual({ kind: 'sqlite' });
    expect(storeLocation('postgresql://hub@db:5432/gridhub')).toEqual({
      kind: 'postgres',
      url: 'postgresql://hub@db:5432/gridhub',
    });
    // never a password in a log line or an error
    expect(redactUrl('postgres://hub:s3cret@db/gridhub')).toBe('postgres://hub:***@db/gridhub');
  });

  it('stops the start-up on a URL that is not PostgreSQL, rather than falling back to a private file', async () => {
    await expect(hubWith('mysql://hub@db/gridhub')).rejects.toThrow(StartupError);
    await expect(hubWith('mysql://hub@db/gridhub')).rejects.toThrow(/must be a postgres:\/\/ URL/);
  });

  it('stops the start-up, naming the database without its password, when the PostgreSQL is not there', async () => {
    const starting = hubWith('postgres://hub:s3cret@127.0.0.1:1/gridhub');
    await expect(starting).rejects.toThrow(StartupError);
    await expect(starting).rejects.toThrow(/postgres:\/\/hub:\*\*\*@127\.0\.0\.1:1\/gridhub is unreachable/);
  });

  it('fails at once, without the password, when the PostgreSQL named is not there', async () => {
    const db = openDatabase(':memory:');
    try {
      const opening = openStore({ kind: 'postgres', url: 'postgres://hub:s3cret@127.0.0.1:1/gridhub' }, db);
      await expect(opening).rejects.toThrow(
        /PostgreSQL at postgres:\/\/hub:\*\*\*@127\.0\.0\.1:1\/gridhub is unreachable/,
      );
      await expect(opening).rejects.not.toThrow(/s3cret/);
      expect((await openStore({ kind: 'sqlite' }, db)).dialect).toBe('sqlite');
    } finally {
      db.close();
    }
  });
});
