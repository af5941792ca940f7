import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCatalogue } from '../catalogue/catalogue.ts';
import { ManualClock } from '../clock/clock.ts';
import { openDatabase } from '../storage/sqlite.ts';
import { sqliteTransactions } from '../storage/sqlite-kysely.ts';
import { localWeekMinute, shiftCovers } from './people.ts';
import { createRegistry } from './registry.ts';

const fmt = (tz: string) =>
  new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });

describe('duty time', () => {
  it('reads weekday and minute in the community time zone', () => {
    // Sunday 2026-01-04 23:30 UTC is Monday 07:30 in Shanghai.
    const at = Date.UTC(2026, 0, 4, 23, 30);
    expect(localWeekMinute(fmt('Asia/Shanghai'), at)).toEqual({ weekday: 1, minute: 7 * 60 + 30 });
    expect(localWeekMinute(fmt('UTC'), at)).toEqual({ weekday: 0, minute: 23 * 60 + 30 });
  });

  it.each([
    [{ weekday: 1, startMinute: 540, endMinute: 1080 }, 1, 540, true],
    [{ weekday: 1, startMinute: 540, endMinute: 1080 }, 1, 1080, false],
    [{ weekday: 1, startMinute: 540, endMinute: 1080 }, 2, 600, false],
    // Night shift Saturday 22:00 → Sunday 06:00.
    [{ weekday: 6, startMinute: 1320, endMinute: 1800 }, 6, 1400, true],
    [{ weekday: 6, startMinute: 1320, endMinute: 1800 }, 0, 300, true],
    [{ weekday: 6, startMinute: 1320, endMinute: 1800 }, 0, 360, false],
  ])('shift %o covers weekday %i minute %i: %s', (shift, weekday, minute, covered) => {
    expect(shiftCovers(shift, weekday, minute)).toBe(covered);
  });
});

describe('duty resolution from the cached roster', () => {
  // Monday 5 Jan 2026 16:00 in Shanghai.
  const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
  const ALWAYS = [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, startMinute: 0, endMinute: 1440 }));

  function community(file = ':memory:') {
    const db = openDatabase(file);
    const registry = createRegistry(db, createCatalogue(), new ManualClock(T0), {
      timeZone: 'Asia/Shanghai',
      secretKey: randomBytes(32),
    });
    const pl = registry.places;
    // not awaited: on SQLite a registry write is done when the call returns (src/storage/README.md)
    void pl.create({ id: 's1', level: 'street', name: '街道', parentId: null });
    void pl.create({ id: 'c1', level: 'community', name: '社区', parentId: 's1' });
    void pl.create({ id: 'g1', level: 'grid', name: '网格', parentId: 'c1' });
    void pl.create({ id: 'g2', level: 'grid', name: '网格二', parentId: 'c1' });
    void pl.create({ id: 'e1', level: 'estate', name: '小区', parentId: 'g1' });
    void pl.create({ id: 'b1', level: 'building', name: '1号楼', parentId: 'e1' });
    const people = registry.people;
    void people.create({ id: 'w1', name: '王', role: 'grid_worker', placeIds: ['g1'] });
    void people.create({ id: 'cd1', name: '李', role: 'community_duty', placeIds: ['c1'] });
    void people.setShifts('w1', ALWAYS);
    void people.setShifts('cd1', ALWAYS);
    return { db, people, path: pl.path('b1') };
  }
  const ids = (picks: { person: { id: string }; via: string }[]) =>
    picks.map((p) => `${p.person.id}:${p.via}`);

  it('sees every change made through the store at the next lookup: shifts, leave, deputies, people, places served', async () => {
    const { db, people, path } = community();
    expect(ids(people.resolve(path, 'grid_worker', T0))).toEqual(['w1:on_duty']);

    // Shifts: the worker's roster no longer covers Monday afternoon, so the community duty stands in.
    await people.setShifts('w1', [{ weekday: 1, startMinute: 0, endMinute: 600 }]);
    expect(ids(people.resolve(path, 'grid_worker', T0))).toEqual(['cd1:community_duty']);
    await people.setShifts('w1', ALWAYS);
    expect(ids(people.resolve(path, 'grid_worker', T0))).toEqual(['w1:on_duty']);

    // Leave: an override wins over the roster, only while it lasts.
    await people.addOverride({
      personId: 'w1',
      startsAt: T0 - 1,
      endsAt: T0 + 60_000,
      onLeave: true,
      note: '病假',
    });
    expect(ids(people.resolve(path, 'grid_worker', T0))).toEqual(['cd1:community_duty']);
    expect(ids(people.resolve(path, 'grid_worker', T0 + 60_000))).toEqual(['w1:on_duty']);

    // A deputy from the next grid, created and named later, is found for the worker on leave.
    await people.create({ id: 'w9', name: '赵', role: 'grid_worker', placeIds: ['g2'] });
    await people.setShifts('w9', ALWAYS);
    await people.update('w1', { deputyId: 'w9' });
    expect(ids(people.resolve(path, 'grid_worker', T0))).toEqual(['w9:deputy']);

    // Places served and active flag: moved away, then back and deactivated.
    await people.update('w9', { placeIds: ['g1'] });
    expect(ids(people.resolve(path, 'grid_worker', T0))).toEqual(['w9:on_duty']);
    await people.update('w9', { active: false });
    expect(people.peopleAt(path, 'grid_worker').map((p) => p.id)).toEqual(['w1']);
    db.close();
  });

  it('sees what another connection committed; a write around the store on its own connection needs invalidate()', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridhub-people-'));
    const { db, people, path } = community(join(dir, 'gridhub.db'));
    try {
      expect(people.isOnDuty('w1', T0)).toBe(true);
      // Another process (a second hub, a script) changes the roster.
      const other = openDatabase(join(dir, 'gridhub.db'));
      other.prepare('DELETE FROM duty_shifts WHERE person_id = ?').run('w1');
      other.close();
      expect(people.isOnDuty('w1', T0)).toBe(false);
      expect(ids(people.resolve(path, 'grid_worker', T0))).toEqual(['cd1:community_duty']);

      // The same connection, behind the store's back: SQLite reports no change, so the store is told.
      db.prepare('DELETE FROM duty_shifts WHERE person_id = ?').run('cd1');
      expect(people.isOnDuty('cd1', T0)).toBe(true);
      await people.invalidate();
      expect(people.isOnDuty('cd1', T0)).toBe(false);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sees another connection's commit in the next write transaction, though it reads data_version once per transaction", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridhub-people-'));
    const { db, people } = community(join(dir, 'gridhub.db'));
    const transactions = sqliteTransactions(db);
    try {
      await transactions.run(async () => {
        expect(people.isOnDuty('w1', T0)).toBe(true);
        expect(people.isOnDuty('cd1', T0)).toBe(true);
      });
      const other = openDatabase(join(dir, 'gridhub.db'));
      other.prepare('DELETE FROM duty_shifts WHERE person_id = ?').run('w1');
      other.close();
      // the version the last transaction read is not taken for this one's
      await transactions.run(async () => {
        expect(people.isOnDuty('w1', T0)).toBe(false);
      });
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hands out frozen people, so no caller can change the shared roster', () => {
    const { db, people, path } = community();
    const [w1] = people.peopleAt(path, 'grid_worker');
    expect(Object.isFrozen(w1)).toBe(true);
    expect(() => {
      (w1 as { name: string }).name = 'x';
    }).toThrow(TypeError);
    db.close();
  });
});

describe('the language of a person', () => {
  it("is their account's, for each person with one, and unknown without", async () => {
    const registry = createRegistry(openDatabase(':memory:'), createCatalogue(), new ManualClock(0), {
      timeZone: 'Asia/Shanghai',
      secretKey: randomBytes(32),
    });
    await registry.places.create({ id: 's1', level: 'street', name: '街道', parentId: null });
    await registry.people.create({ id: 'w1', name: 'Anna', role: 'grid_worker', placeIds: ['s1'] });
    await registry.people.create({ id: 'w2', name: '王', role: 'grid_worker', placeIds: ['s1'] });
    const phone = { password: null, role: 'worker' as const, scope: ['s1'] };
    await registry.users.create({ ...phone, username: 'anna', personId: 'w1', locale: 'en' }, 0);
    await registry.users.create({ ...phone, username: 'wang', personId: 'w2' }, 0);
    expect(registry.users.localeOfPerson('w1')).toBe('en');
    expect(registry.users.localeOfPerson('w2')).toBe('zh-CN');
    expect(registry.users.localeOfPerson('nobody')).toBeUndefined();
  });
});
