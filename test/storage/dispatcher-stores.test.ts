import { expect, it } from 'vitest';
import { createAuditLog, createAuditPort } from '../../src/alerts/audit-log.ts';
import {
  CHANNEL_TARGETS_TABLE,
  createChannelTargetPort,
  createChannelTargetStore,
  matchTargets,
} from '../../src/alerts/channel-targets.ts';
import { OUTBOX_MIGRATIONS } from '../../src/alerts/outbox-schema.ts';
import { openPostgresAlertStores } from '../../src/alerts/postgres-alert-store.ts';
import {
  createQuietHoursPort,
  createQuietHoursStore,
  QUIET_HOURS_TABLE,
  quietHoursClock,
} from '../../src/alerts/quiet-hours.ts';
import { createResidentPort, createResidentStore } from '../../src/alerts/residents.ts';
import { ALERTS_MIGRATIONS } from '../../src/alerts/schema.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import type { ResidentInput } from '../../src/domain/records.ts';
import { type Change, postgresChangeFeed } from '../../src/storage/changes.ts';
import { migrateModuleSync } from '../../src/storage/migrations.ts';
import { code, describeStores, type StoreUnderTest, until } from './stores.ts';

/**
 * The dispatcher's other stores — residents, the audit log, quiet hours, channel targets — through their async
 * ports on SQLite and on PostgreSQL (one set of Kysely statements each). On SQLite the hub's synchronous stores
 * run the same statements on the same file, so each test also reads back through them what the port wrote.
 */
const T = Date.parse('2026-12-01T23:30:00+08:00'); // a Tuesday night in Shanghai
const MIN = 60_000;
const ZONE = 'Asia/Shanghai';

async function migrated(sut: StoreUnderTest, clock: ManualClock): Promise<void> {
  if (sut.sqlite) {
    migrateModuleSync(sut.store, 'alerts', ALERTS_MIGRATIONS);
    migrateModuleSync(sut.store, 'alerts.outbox', OUTBOX_MIGRATIONS);
  } else await openPostgresAlertStores(sut.store, clock);
}

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

describeStores('the dispatcher’s stores', ({ dialect, fresh }) => {
  it('keeps residents: put replaces, a device has one resident, removed ones are gone', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T);
    await migrated(sut, clock);
    const port = createResidentPort(sut.store, clock);
    expect(await port.put(grandma)).toEqual({ ...grandma, updatedAt: T });
    clock.advance(MIN);
    const moved = await port.put({ ...grandma, phone: null, placeId: 'u2' });
    expect(moved).toEqual({ ...grandma, phone: null, placeId: 'u2', updatedAt: T + MIN });
    expect(await port.get('r1')).toEqual(moved);
    expect(await port.forDevice('btn-1')).toEqual(moved);
    expect(await port.forDevice('btn-2')).toBeUndefined();
    // the device is grandma's: giving it to another resident is refused
    expect(await code(port.put({ ...grandma, id: 'r2', name: '李爷爷' }))).toBe('CONFLICT');
    await port.put({ ...grandma, id: 'r0', name: '李爷爷', deviceId: null });
    expect((await port.list()).map((r) => r.id)).toEqual(['r0', 'r1']);
    if (sut.sqlite) {
      const sync = createResidentStore(sut.sqlite, clock);
      expect(sync.forDevice('btn-1')).toEqual(moved);
      expect(() => sync.put({ ...grandma, id: 'r2' })).toThrow(/belongs to resident r1/);
      expect(sync.remove('r0')).toBe(true);
    } else expect(await port.remove('r0')).toBe(true);
    expect(await port.remove('r0')).toBe(false);
    expect(await port.get('r0')).toBeUndefined();
  });

  it('keeps the audit log, newest first, filtered by time and user, its detail as written', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T);
    await migrated(sut, clock);
    const port = createAuditPort(sut.store, clock);
    await port.record({ username: 'w1', action: 'resident.read', subject: 'r1', alertId: 'a1', detail: {} });
    clock.advance(MIN);
    await port.record({
      username: 'admin',
      action: 'people.update',
      subject: 'w1',
      alertId: null,
      detail: { f: 1 },
    });
    clock.advance(MIN);
    await port.record({ username: 'w1', action: 'resident.read', subject: 'r1', alertId: 'a2', detail: {} });
    const all = await port.list({});
    expect(all.map((e) => [e.at, e.username, e.alertId])).toEqual([
      [T + 2 * MIN, 'w1', 'a2'],
      [T + MIN, 'admin', null],
      [T, 'w1', 'a1'],
    ]);
    expect(all[1]).toEqual({
      id: 2,
      at: T + MIN,
      username: 'admin',
      action: 'people.update',
      subject: 'w1',
      alertId: null,
      detail: { f: 1 },
    });
    expect((await port.list({ username: 'w1' })).map((e) => e.id)).toEqual([3, 1]);
    expect((await port.list({ from: T + MIN, to: T + 2 * MIN })).map((e) => e.id)).toEqual([2]);
    expect((await port.list({ limit: 1 })).map((e) => e.id)).toEqual([3]);
    if (sut.sqlite) expect(createAuditLog(sut.sqlite, clock).list({ username: 'admin' })).toEqual([all[1]]);
  });

  it('keeps quiet hours and tells when they hold a message, across midnight', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T);
    await migrated(sut, clock);
    const port = createQuietHoursPort(sut.store);
    const night = await port.add({ personId: 'w1', placeId: null, startMinute: 22 * 60, endMinute: 7 * 60 });
    const estate = await port.add({
      personId: null,
      placeId: 'e1',
      startMinute: 12 * 60,
      endMinute: 14 * 60,
    });
    expect(await port.list()).toEqual([night, estate]);
    const held = quietHoursClock(ZONE);
    const tomorrow7 = Date.parse('2026-12-02T07:00:00+08:00');
    expect(held(await port.list(), 'w1', { grid: 'g1' }, T)).toBe(tomorrow7);
    expect(held(await port.list(), 'w2', { grid: 'g1', estate: 'e1' }, T)).toBeNull();
    expect(held(await port.list(), 'w2', { estate: 'e1' }, Date.parse('2026-12-02T13:00:00+08:00'))).toBe(
      Date.parse('2026-12-02T14:00:00+08:00'),
    );
    if (sut.sqlite) expect(createQuietHoursStore(sut.sqlite, ZONE).heldUntil('w1', {}, T)).toBe(tomorrow7);
    expect(await port.remove(night.id)).toBe(true);
    expect(await port.remove(night.id)).toBe(false);
    expect(held(await port.list(), 'w1', { grid: 'g1' }, T)).toBeNull();
  });

  it('keeps channel targets and matches them by place and role', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T);
    await migrated(sut, clock);
    const port = createChannelTargetPort(sut.store);
    const robot = await port.add({
      placeId: 'g1',
      role: null,
      channel: 'wecom',
      target: 'g1-robot',
      label: '一网格群',
    });
    const duty = await port.add({
      placeId: null,
      role: 'community_duty',
      channel: 'sms',
      target: '110',
      label: null,
    });
    expect(await port.list()).toEqual([robot, duty]);
    const match = async (path: Record<string, string>, roles: string[]) =>
      matchTargets(await port.list(), path, roles).map((t) => t.target);
    expect(await match({ grid: 'g1' }, ['grid_worker'])).toEqual(['g1-robot']);
    expect(await match({ grid: 'g2' }, ['grid_worker', 'community_duty'])).toEqual(['110']);
    if (sut.sqlite) {
      expect(createChannelTargetStore(sut.sqlite).match({ grid: 'g1' }, ['community_duty'])).toEqual([
        robot,
        duty,
      ]);
    }
    expect(await port.remove(robot.id)).toBe(true);
    expect(await match({ grid: 'g1' }, ['grid_worker'])).toEqual([]);
  });

  if (dialect === 'postgres') {
    it('announces edits of quiet hours and channel targets to the other instances', async () => {
      const sut = await fresh();
      await migrated(sut, new ManualClock(T));
      const [mine, theirs] = [0, 1].map(() => postgresChangeFeed(sut.store, sut.url as string));
      try {
        await Promise.all([mine?.ready(), theirs?.ready()]);
        const heard: Change[] = [];
        theirs?.subscribe((c) => heard.push(c));
        const targets = createChannelTargetPort(sut.store, mine);
        const quiet = createQuietHoursPort(sut.store, mine);
        const t = await targets.add({
          placeId: 'g1',
          role: null,
          channel: 'wecom',
          target: 'x',
          label: null,
        });
        const q = await quiet.add({ personId: 'w1', placeId: null, startMinute: 0, endMinute: 60 });
        await targets.remove(t.id);
        await until(() => heard.length === 3);
        expect(heard).toEqual([
          { table: CHANNEL_TARGETS_TABLE, id: String(t.id) },
          { table: QUIET_HOURS_TABLE, id: String(q.id) },
          { table: CHANNEL_TARGETS_TABLE, id: String(t.id) },
        ]);
      } finally {
        await Promise.all([mine?.close(), theirs?.close()]);
      }
    });
  }
});
