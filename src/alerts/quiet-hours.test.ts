import { beforeAll, describe, expect, it } from 'vitest';
import { REGISTRY_MIGRATIONS } from '../registry/schema.ts';
import { migrateModuleSync } from '../storage/migrations.ts';
import { openDatabase } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import { createQuietHoursStore } from './quiet-hours.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';

describe('quiet hours', () => {
  const db = openDatabase(':memory:');
  migrateModuleSync(sqliteStore(db), 'registry', REGISTRY_MIGRATIONS);
  migrateModuleSync(sqliteStore(db), 'alerts', ALERTS_MIGRATIONS);
  const store = createQuietHoursStore(db, 'Asia/Shanghai');
  beforeAll(async () => {
    await store.add({ personId: null, placeId: 'g1', startMinute: 22 * 60, endMinute: 7 * 60 });
  });
  const at = (hhmm: string) => Date.parse(`2026-01-05T${hhmm}:00+08:00`);

  it.each([
    ['21:59', null],
    ['22:00', '2026-01-06T07:00:00+08:00'],
    ['23:30', '2026-01-06T07:00:00+08:00'],
    ['06:59', '2026-01-05T07:00:00+08:00'],
    ['07:00', null],
  ])('at %s local the hold ends at %s', (time, end) => {
    const until = store.heldUntil(null, { grid: 'g1' }, at(time));
    expect(until).toBe(end === null ? null : Date.parse(end));
  });

  it('applies only to its place or person', () => {
    expect(store.heldUntil('w9', { grid: 'g2' }, at('23:00'))).toBeNull();
  });
});

describe('quiet hours follow their edits', () => {
  const db = openDatabase(':memory:');
  migrateModuleSync(sqliteStore(db), 'registry', REGISTRY_MIGRATIONS);
  migrateModuleSync(sqliteStore(db), 'alerts', ALERTS_MIGRATIONS);
  const at = Date.parse('2026-01-05T23:00:00+08:00');

  it('quiet hours added and removed apply from the next message on', async () => {
    const store = createQuietHoursStore(db, 'Asia/Shanghai');
    expect(store.heldUntil(null, { grid: 'g7' }, at)).toBeNull();
    const q = await store.add({ personId: null, placeId: 'g7', startMinute: 22 * 60, endMinute: 7 * 60 });
    expect(store.heldUntil(null, { grid: 'g7' }, at)).toBe(Date.parse('2026-01-06T07:00:00+08:00'));
    expect(await store.remove(q.id)).toBe(true);
    expect(store.heldUntil(null, { grid: 'g7' }, at)).toBeNull();
  });
});
