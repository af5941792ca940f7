import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import { openRegistry, type Registry } from '../../src/registry/registry.ts';
import { type ChangeFeed, postgresChangeFeed } from '../../src/storage/changes.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { code, describeStores, until } from './stores.ts';

/**
 * People and duty, the same tests on SQLite and on PostgreSQL: what one instance writes, the store keeps and
 * another instance (a reopened store) resolves the same way; the roster in memory follows every write, and on
 * PostgreSQL another instance's write through the ChangeFeed.
 */
// Tuesday 1 Dec 2026, 16:00 in Shanghai.
const T0 = Date.parse('2026-12-01T16:00:00+08:00');
const ALWAYS = [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, startMinute: 0, endMinute: 1440 }));
const secretKey = randomBytes(32);

const open = (store: SqlStore, changes?: ChangeFeed): Promise<Registry> =>
  openRegistry(store, createCatalogue(), new ManualClock(T0), {
    secretKey,
    timeZone: 'Asia/Shanghai',
    ...(changes ? { changes } : {}),
  });

async function community(r: Registry): Promise<void> {
  await r.places.create({ id: 's1', level: 'street', name: '青龙街道', parentId: null });
  await r.places.create({ id: 'c1', level: 'community', name: '幸福社区', parentId: 's1' });
  await r.places.create({ id: 'g1', level: 'grid', name: '第一网格', parentId: 'c1' });
  await r.places.create({ id: 'g2', level: 'grid', name: '第二网格', parentId: 'c1' });
  await r.places.create({ id: 'e1', level: 'estate', name: '阳光小区', parentId: 'g1' });
  await r.places.create({ id: 'b1', level: 'building', name: '1号楼', parentId: 'e1' });
}

const picks = (r: Registry, at = T0) =>
  r.people.resolve(r.places.path('b1'), 'grid_worker', at).map((p) => `${p.person.id}:${p.via}`);

describeStores('registry: people', ({ dialect, fresh }) => {
  it('creates, updates and lists people, and the next instance reads them as written', async () => {
    const sut = await fresh();
    const a = await open(sut.store);
    await community(a);
    const w1 = await a.people.create({
      id: 'w1',
      name: '王芳',
      role: 'grid_worker',
      phone: '13800000001',
      contacts: [{ channel: 'mqtt', target: 'w1' }],
      placeIds: ['g1'],
    });
    expect(w1).toMatchObject({ id: 'w1', active: true, department: null, deputyId: null, placeIds: ['g1'] });
    await a.people.create({
      id: 'f1',
      name: '消防站',
      role: 'department',
      department: 'fire',
      placeIds: ['c1'],
    });
    await a.people.create({ id: 'w2', name: '李强', role: 'grid_worker', placeIds: ['g2'] });
    expect(
      await a.people.update('w1', { deputyId: 'w2', placeIds: ['g1', 'g2'], phone: null }),
    ).toMatchObject({
      deputyId: 'w2',
      placeIds: ['g1', 'g2'],
      phone: null,
      name: '王芳',
    });
    await a.people.update('w2', { active: false });

    const b = await open(sut.reopen());
    expect(b.people.get('w1')).toEqual({
      id: 'w1',
      name: '王芳',
      role: 'grid_worker',
      department: null,
      phone: null,
      contacts: [{ channel: 'mqtt', target: 'w1' }],
      deputyId: 'w2',
      active: true,
      placeIds: ['g1', 'g2'],
    });
    expect(b.people.list().map((p) => p.id)).toEqual(['f1', 'w1', 'w2']);
    expect(b.people.list({ placeId: 'g2' }).map((p) => p.id)).toEqual(['w1', 'w2']);
    expect(b.people.list({ role: 'department' }).map((p) => p.department)).toEqual(['fire']);
    // inactive people are listed but serve nowhere
    expect(b.people.peopleAt(b.places.path('b1'), 'grid_worker').map((p) => p.id)).toEqual(['w1']);
  });

  it('refuses what no write may hold, and a second person with an id — also from an instance that has not heard of the first', async () => {
    const sut = await fresh();
    const a = await open(sut.store);
    await community(a);
    const b = await open(sut.reopen()); // no feed: b's roster does not know what a writes next
    await a.people.create({ id: 'w1', name: '王芳', role: 'grid_worker', placeIds: ['g1'] });
    expect(await code(a.people.create({ id: 'w1', name: 'x', role: 'grid_worker', placeIds: ['g1'] }))).toBe(
      'CONFLICT',
    );
    expect(await code(b.people.create({ id: 'w1', name: 'x', role: 'grid_worker', placeIds: ['g1'] }))).toBe(
      'CONFLICT',
    );
    expect(await code(a.people.create({ id: 'x', name: 'x', role: 'grid_worker', placeIds: ['nope'] }))).toBe(
      'REQUEST_INVALID',
    );
    expect(await code(a.people.create({ id: 'x', name: 'x', role: 'department', placeIds: ['c1'] }))).toBe(
      'REQUEST_INVALID',
    );
    expect(await code(a.people.update('w1', { deputyId: 'w1' }))).toBe('REQUEST_INVALID');
    expect(await code(a.people.update('nobody', { name: 'x' }))).toBe('NOT_FOUND');
    expect((await open(sut.reopen())).people.list().map((p) => p.name)).toEqual(['王芳']);
  });

  it('resolves duty from shifts, dated overrides and deputies, the same on the next instance', async () => {
    const sut = await fresh();
    const a = await open(sut.store);
    await community(a);
    await a.people.create({ id: 'w1', name: '王芳', role: 'grid_worker', placeIds: ['g1'] });
    await a.people.create({ id: 'cd1', name: '值班员', role: 'community_duty', placeIds: ['c1'] });
    await a.people.create({ id: 'd1', name: '赵敏', role: 'grid_worker_parttime', placeIds: ['g2'] });
    // Tuesday 09:00–18:00 local, and a night shift Monday 22:00 → Tuesday 06:00
    await a.people.setShifts('w1', [
      { weekday: 2, startMinute: 9 * 60, endMinute: 18 * 60 },
      { weekday: 1, startMinute: 22 * 60, endMinute: 30 * 60 },
    ]);
    await a.people.setShifts('cd1', ALWAYS);
    await a.people.setShifts('d1', ALWAYS);
    expect(picks(a)).toEqual(['w1:on_duty']);
    expect(picks(a, T0 - 12 * 3_600_000)).toEqual(['w1:on_duty']); // Tuesday 04:00, the night shift
    expect(picks(a, T0 + 3 * 3_600_000)).toEqual(['cd1:community_duty']); // 19:00, nobody of the grid

    // leave for an hour: the community duty answers, and the worker is back when it ends
    const leave = await a.people.addOverride({
      personId: 'w1',
      startsAt: T0 - 60_000,
      endsAt: T0 + 3_600_000,
      onLeave: true,
      note: '病假',
    });
    expect(picks(a)).toEqual(['cd1:community_duty']);
    expect(picks(a, T0 + 3_600_000)).toEqual(['w1:on_duty']);
    // a deputy named: found while the worker is on leave
    await a.people.update('w1', { deputyId: 'd1' });
    expect(picks(a)).toEqual(['d1:deputy']);
    // an extra dated shift for the evening
    await a.people.addOverride({
      personId: 'w1',
      startsAt: T0 + 3 * 3_600_000,
      endsAt: T0 + 4 * 3_600_000,
      onLeave: false,
      note: null,
    });

    const b = await open(sut.reopen());
    expect(picks(b)).toEqual(['d1:deputy']);
    expect(picks(b, T0 + 3 * 3_600_000 + 1)).toEqual(['w1:on_duty']);
    expect(b.people.shifts('w1').map((s) => [s.weekday, s.startMinute, s.endMinute])).toEqual([
      [1, 1320, 1800],
      [2, 540, 1080],
    ]);
    const overrides = b.people.overrides('w1');
    expect(overrides.map((o) => [o.onLeave, o.note])).toEqual([
      [true, '病假'],
      [false, null],
    ]);
    expect(overrides[0]).toEqual(leave);
    expect(typeof overrides[1]?.id).toBe('number');
    expect(overrides[1]?.id).not.toBe(leave.id);

    // shifts replaced, not added to
    await b.people.setShifts('w1', []);
    expect((await open(sut.reopen())).people.shifts('w1')).toEqual([]);
  });

  if (dialect === 'postgres') {
    it("brings another instance's roster change into this instance's duty resolution", async () => {
      const sut = await fresh();
      const feeds = [0, 1].map(() => postgresChangeFeed(sut.store, sut.url as string));
      try {
        await Promise.all(feeds.map((f) => f.ready()));
        const [fa, fb] = feeds as [ChangeFeed, ChangeFeed];
        const a = await open(sut.store, fa);
        await community(a);
        const b = await open(sut.reopen(), fb);
        await until(() => b.places.get('b1') !== undefined);
        await a.people.create({ id: 'w1', name: '王芳', role: 'grid_worker', placeIds: ['g1'] });
        await a.people.create({ id: 'cd1', name: '值班员', role: 'community_duty', placeIds: ['c1'] });
        await a.people.setShifts('w1', ALWAYS);
        await a.people.setShifts('cd1', ALWAYS);
        await until(() => picks(b).join() === 'w1:on_duty');
        // leave taken on a: b's dispatcher stops calling the worker
        await a.people.addOverride({
          personId: 'w1',
          startsAt: T0 - 1,
          endsAt: T0 + 60_000,
          onLeave: true,
          note: null,
        });
        await until(() => picks(b).join() === 'cd1:community_duty');
        // and a change made on b reaches a
        await b.people.update('cd1', { active: false });
        await until(() => a.people.get('cd1')?.active === false);
        expect(picks(a)).toEqual([]);
      } finally {
        await Promise.all(feeds.map((f) => f.close()));
      }
    });
  }
});
