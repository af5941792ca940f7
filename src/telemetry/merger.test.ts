import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { tempDir } from '../../test/telemetry/helpers.ts';
import { type Db, migrate, openDatabase } from '../storage/sqlite.ts';
import { TELEMETRY_MIGRATIONS } from './embedded-store.ts';
import { type Merger, startMerger } from './merger.ts';

const shape = { fanIn: 4, topLevel: 3, maxRows: 1_000 };
const open: { db: Db; merger: Merger }[] = [];
afterEach(async () => {
  for (const { db, merger } of open.splice(0)) {
    await merger.stop();
    db.close();
  }
});

function setUp(migrated = true): { db: Db; merger: Merger; file: string } {
  const file = join(tempDir('merger'), 'telemetry.db');
  const db = openDatabase(file);
  if (migrated) migrate(db, 'telemetry', TELEMETRY_MIGRATIONS);
  const merger = startMerger(file, shape);
  open.push({ db, merger });
  return { db, merger, file };
}

/** A level-0 chunk `id` with one row of two readings for each device. */
function chunk(db: Db, id: number, devices: string[]): void {
  for (const d of devices)
    db.prepare('INSERT INTO series (chunk, device, min_ts, max_ts, n, pts) VALUES (?, ?, ?, ?, 2, ?)').run(
      id,
      d,
      id * 10,
      id * 10 + 1,
      `${id * 10},0,{"v":${id}},${id * 10 + 1},0,{"v":${id}}`,
    );
  db.prepare('INSERT INTO chunks (id, level, min_ts, max_ts, rows) VALUES (?, 0, ?, ?, ?)').run(
    id,
    id * 10,
    id * 10 + 1,
    2 * devices.length,
  );
}

it('merges a full level on its own thread into one chunk of the next, oldest readings first', async () => {
  const { db, merger } = setUp();
  for (const id of [16, 32, 48, 64]) chunk(db, id, ['a', 'b']);
  expect(await merger.run()).toBe(1);
  expect(db.prepare('SELECT id, level, min_ts, max_ts, rows FROM chunks').all()).toEqual([
    { id: 65, level: 1, min_ts: 160, max_ts: 641, rows: 16 },
  ]);
  const rows = db.prepare('SELECT device, n, pts FROM series ORDER BY device').all() as {
    device: string;
    n: number;
    pts: string;
  }[];
  expect(rows.map((r) => [r.device, r.n])).toEqual([
    ['a', 8],
    ['b', 8],
  ]);
  expect(JSON.parse(`[${rows[0]?.pts}]`).filter((_: unknown, i: number) => i % 3 === 0)).toEqual([
    160, 161, 320, 321, 480, 481, 640, 641,
  ]);
  // nothing full any more: nothing to do
  expect(await merger.run()).toBe(0);
});

it('answers a merge that failed with its error, and merges on the next run', async () => {
  const { db, merger } = setUp(false);
  await expect(merger.run()).rejects.toThrow(/no such table/);
  migrate(db, 'telemetry', TELEMETRY_MIGRATIONS);
  for (const id of [16, 32, 48, 64]) chunk(db, id, ['a']);
  expect(await merger.run()).toBe(1);
});

it('refuses to run once stopped', async () => {
  const { merger } = setUp();
  expect(await merger.run()).toBe(0);
  await merger.stop();
  await expect(merger.run()).rejects.toThrow(/stopped/);
});
