import { expect, it } from 'vitest';
import { heldChannelTargets } from '../../src/alerts/channel-targets.ts';
import { openPostgresAlertStores } from '../../src/alerts/postgres-alert-store.ts';
import { createQuietHoursPort, heldQuietHours } from '../../src/alerts/quiet-hours.ts';
import { ALERTS_MIGRATIONS } from '../../src/alerts/schema.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import { postgresChangeFeed } from '../../src/storage/changes.ts';
import { migrateModuleSync } from '../../src/storage/migrations.ts';
import { describeStores, until } from './stores.ts';

/**
 * Quiet hours and robot targets on a shared database (held-list.ts): the raise reads them from memory, so an
 * edit on one instance must reach the copy every other instance holds — through the change feed — and the
 * editing instance's own copy at once.
 */
const T0 = Date.parse('2026-12-01T23:30:00+08:00');

describeStores('tables held in memory', ({ dialect, fresh }) => {
  it('an instance’s own edit is read at once for the next message', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T0);
    if (sut.sqlite) migrateModuleSync(sut.store, 'alerts', ALERTS_MIGRATIONS);
    else await openPostgresAlertStores(sut.store, clock);
    const quiet = await heldQuietHours(createQuietHoursPort(sut.store), 'Asia/Shanghai');
    const grid = { street: 's1', community: 'c1', grid: 'g1' };
    expect(quiet.heldUntil(null, grid, T0)).toBeNull();
    const night = await quiet.add({ personId: null, placeId: 'g1', startMinute: 22 * 60, endMinute: 7 * 60 });
    expect(quiet.heldUntil(null, grid, T0)).toBe(Date.parse('2026-12-02T07:00:00+08:00'));
    expect((await quiet.list()).map((q) => q.id)).toEqual([night.id]);
    await quiet.remove(night.id);
    expect(quiet.heldUntil(null, grid, T0)).toBeNull();
  });

  if (dialect === 'postgres')
    it('an edit on one instance reaches what every instance reads for the next message', async () => {
      const sut = await fresh();
      const url = sut.url as string;
      const otherStore = sut.reopen();
      const feedA = postgresChangeFeed(sut.store, url);
      const feedB = postgresChangeFeed(otherStore, url);
      try {
        await Promise.all([feedA.ready(), feedB.ready()]);
        const clock = new ManualClock(T0);
        const portsA = await openPostgresAlertStores(sut.store, clock, feedA);
        const portsB = await openPostgresAlertStores(otherStore, clock, feedB);
        const quietA = await heldQuietHours(portsA.quietHours, 'Asia/Shanghai', feedA);
        const quietB = await heldQuietHours(portsB.quietHours, 'Asia/Shanghai', feedB);
        const robotsA = await heldChannelTargets(portsA.channelTargets, feedA);
        const robotsB = await heldChannelTargets(portsB.channelTargets, feedB);
        const grid = { street: 's1', community: 'c1', grid: 'g1' };

        const night = await quietA.add({
          personId: null,
          placeId: 'g1',
          startMinute: 22 * 60,
          endMinute: 7 * 60,
        });
        const morning = Date.parse('2026-12-02T07:00:00+08:00');
        expect(quietA.heldUntil(null, grid, T0)).toBe(morning);
        await until(() => quietB.heldUntil(null, grid, T0) === morning);

        const robot = await robotsA.add({
          placeId: 'g1',
          role: null,
          channel: 'wecom',
          target: 'g1-robot',
          label: null,
        });
        expect(robotsA.match(grid, ['grid_worker']).map((t) => t.target)).toEqual(['g1-robot']);
        await until(() => robotsB.match(grid, ['grid_worker']).length === 1);

        expect(await quietB.remove(night.id)).toBe(true);
        expect(quietB.heldUntil(null, grid, T0)).toBeNull();
        await until(() => quietA.heldUntil(null, grid, T0) === null);
        expect(await robotsB.remove(robot.id)).toBe(true);
        await until(() => robotsA.match(grid, ['grid_worker']).length === 0);
      } finally {
        await feedA.close();
        await feedB.close();
      }
    });
});
