import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { heldChannelTargets } from '../../src/alerts/channel-targets.ts';
import { openPostgresAlertStores, openSharedAlertStores } from '../../src/alerts/postgres-alert-store.ts';
import { createQuietHoursPort, heldQuietHours } from '../../src/alerts/quiet-hours.ts';
import { createResidentPort, heldResidents } from '../../src/alerts/residents.ts';
import { ALERTS_MIGRATIONS } from '../../src/alerts/schema.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import type { Resident, ResidentInput } from '../../src/domain/records.ts';
import { postgresChangeFeed } from '../../src/storage/changes.ts';
import { migrateModuleSync } from '../../src/storage/migrations.ts';
import { describeStores, until } from './stores.ts';

/**
 * Quiet hours and robot targets on a shared database (held-list.ts): the raise reads them from memory, so an
 * edit on one instance must reach the copy every other instance holds — through the change feed — and the
 * editing instance's own copy at once.
 */
const T0 = Date.parse('2026-12-01T23:30:00+08:00');

const grandma: ResidentInput = {
  id: 'r1',
  name: '张奶奶',
  phone: '13900000001',
  familyName: '张明',
  familyPhone: '13900000002',
  healthNotes: '高血压',
  deviceId: 'btn-1',
  placeId: 'u1',
};

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

  if (dialect === 'postgres')
    it('an edit made while an instance’s change feed was down reaches it once the feed listens again', async () => {
      const sut = await fresh();
      const url = sut.url as string;
      const otherStore = sut.reopen();
      const feedA = postgresChangeFeed(sut.store, url);
      // instance B as the hub wires it (hub-stores.ts): its feed's reconnect runs every registered reload
      const reloads: (() => Promise<void>)[] = [];
      let lost: () => void = () => {};
      const feedDown = new Promise<void>((resolve) => {
        lost = resolve;
      });
      const feedB = postgresChangeFeed(otherStore, url, {
        name: 'held-tables-feed-b',
        onError: () => lost(),
        onReconnect: () => {
          for (const reload of reloads) void reload();
        },
      });
      try {
        await Promise.all([feedA.ready(), feedB.ready()]);
        const clock = new ManualClock(T0);
        const a = await openSharedAlertStores(sut.store, clock, { timeZone: 'Asia/Shanghai' }, feedA);
        const b = await openSharedAlertStores(
          otherStore,
          clock,
          { timeZone: 'Asia/Shanghai', whenFeedReconnects: (r) => void reloads.push(r) },
          feedB,
        );
        const grid = { street: 's1', community: 'c1', grid: 'g1' };
        await sut.store.write(
          sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE application_name = 'held-tables-feed-b'`.compile(sut.store.builder()),
        );
        await feedDown;
        // said while B does not listen: PostgreSQL keeps no notice for it
        await a.channelTargets.add({
          placeId: 'g1',
          role: null,
          channel: 'wecom',
          target: 'g1-robot',
          label: null,
        });
        await a.quietHours.add({ personId: null, placeId: 'g1', startMinute: 22 * 60, endMinute: 7 * 60 });
        await a.residents.put(grandma);
        await until(() => b.channelTargets.match(grid, ['grid_worker']).length === 1);
        await until(() => b.quietHours.heldUntil(null, grid, T0) === Date.parse('2026-12-02T07:00:00+08:00'));
        let name: string | undefined;
        await until(() => {
          void Promise.resolve(b.residents.forDevice('btn-1')).then((r) => {
            name = r?.name;
          });
          return name === '张奶奶';
        });
      } finally {
        await feedA.close();
        await feedB.close();
      }
    });

  it('residents: an instance’s own edit is what the next alert’s view reads, at once', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T0);
    if (sut.sqlite) migrateModuleSync(sut.store, 'alerts', ALERTS_MIGRATIONS);
    else await openPostgresAlertStores(sut.store, clock);
    const port = createResidentPort(sut.store, clock);
    await port.put(grandma);
    // what was there at open is held
    const residents = await heldResidents(port);
    expect(residents.forDevice('btn-1')).toEqual({ ...grandma, updatedAt: T0 });
    clock.advance(60_000);
    await residents.put({ ...grandma, familyPhone: '13900000003' });
    expect(residents.forDevice('btn-1')?.familyPhone).toBe('13900000003');
    // the device moves to a second button: the first one names nobody now
    await residents.put({ ...grandma, deviceId: 'btn-2' });
    expect(residents.forDevice('btn-1')).toBeUndefined();
    expect(residents.get('r1')?.deviceId).toBe('btn-2');
    expect(await residents.remove('r1')).toBe(true);
    expect(residents.forDevice('btn-2')).toBeUndefined();
    expect(await residents.list()).toEqual([]);
  });

  if (dialect === 'postgres')
    it('residents: an edit on one instance reaches what every instance reads for the next alert', async () => {
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
        const onA = await heldResidents(portsA.residents, feedA);
        const onB = await heldResidents(portsB.residents, feedB);
        // the stores the hub hands its dispatcher (hub.ts) hold them the same way
        const dispatcherOfB = await openSharedAlertStores(
          otherStore,
          clock,
          { timeZone: 'Asia/Shanghai' },
          feedB,
        );
        await onA.put(grandma);
        await until(() => onB.forDevice('btn-1')?.name === '张奶奶');
        await until(() => (dispatcherOfB.residents.forDevice('btn-1') as Resident | undefined)?.id === 'r1');
        await onB.put({ ...grandma, familyPhone: '13900000009' });
        expect(onB.forDevice('btn-1')?.familyPhone).toBe('13900000009');
        await until(() => onA.forDevice('btn-1')?.familyPhone === '13900000009');
        expect(await onA.remove('r1')).toBe(true);
        await until(() => onB.forDevice('btn-1') === undefined);
        // a notice never heard (written by a port that announces nothing, as while B's feed was down): B holds
        // what it read until the reload its feed's return asks for
        await createResidentPort(sut.store, clock).put({ ...grandma, id: 'r2', deviceId: 'btn-2' });
        expect(onB.forDevice('btn-2')).toBeUndefined();
        await onB.reload();
        expect(onB.forDevice('btn-2')?.id).toBe('r2');
      } finally {
        await feedA.close();
        await feedB.close();
      }
    });
});
