import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import { openRegistry, type Registry } from '../../src/registry/registry.ts';
import { createInstanceLease, type InstanceLease, migrateLeases } from '../../src/storage/leases.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { describeStores, type StoreUnderTest } from './stores.ts';

/**
 * Presence with owners, on both stores: a device is online through the instance holding its connection. At start
 * an instance marks offline only its own devices and those of instances whose lease ran out; a late close of an
 * old connection does not take a device offline that has moved to another instance; the heartbeat's sweep frees
 * a dead instance's devices. (On SQLite the two "instances" are two connections to one file.)
 */
const T0 = Date.parse('2026-12-01T08:00:00+08:00');
const TTL = 15_000;
const secretKey = randomBytes(32);

interface Instance {
  registry: Registry;
  lease: InstanceLease;
}

async function instance(store: SqlStore, id: string, clock: ManualClock): Promise<Instance> {
  await migrateLeases(store);
  const registry = await openRegistry(store, createCatalogue(), clock, { secretKey, instanceId: id });
  const lease = createInstanceLease(store, { instanceId: id, clock, ttlMs: TTL });
  await lease.renew();
  return { registry, lease };
}

/** What a third party reading the table sees (the board of any instance after a reload). */
async function onlineIn(sut: StoreUnderTest, clock: ManualClock): Promise<string[]> {
  const r = await openRegistry(sut.reopen(), createCatalogue(), clock, { secretKey });
  return r.devices
    .list({ online: true })
    .map((d) => d.id)
    .sort();
}

describeStores('presence owners', ({ fresh }) => {
  it('an instance starting marks offline its own devices and the orphans of dead instances, not a live one’s', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T0);
    const a = await instance(sut.store, 'hub-a', clock);
    const r = a.registry;
    await r.places.create({ id: 's1', level: 'street', name: '青龙街道', parentId: null });
    await r.places.create({ id: 'c1', level: 'community', name: '幸福社区', parentId: 's1' });
    await r.places.create({ id: 'g1', level: 'grid', name: '第一网格', parentId: 'c1' });
    await r.places.create({ id: 'e1', level: 'estate', name: '阳光小区', parentId: 'g1' });
    for (const id of ['d1', 'd2', 'd3']) await r.devices.provision({ id, type: 'smoke', placeId: 'e1' }, T0);
    const b = await instance(sut.reopen(), 'hub-b', clock);
    a.registry.devices.setOnline('d1', true, T0 + 1);
    b.registry.devices.setOnline('d2', true, T0 + 1);
    b.registry.devices.setOnline('d3', true, T0 + 1);
    await a.registry.devices.settled();
    await b.registry.devices.settled();
    expect(await onlineIn(sut, clock)).toEqual(['d1', 'd2', 'd3']);

    // B restarts (same id): its own devices go offline, A's d1 stays online
    const b2 = await instance(sut.reopen(), 'hub-b', clock);
    await b2.registry.devices.markOfflineAtStart(T0 + 2);
    expect(await onlineIn(sut, clock)).toEqual(['d1']);

    // d1 moves to B (A's network to it broke); A's old connection closes late: d1 stays online, now B's
    b2.registry.devices.setOnline('d1', true, T0 + 3);
    await b2.registry.devices.settled();
    a.registry.devices.setOnline('d1', false, T0 + 4);
    await a.registry.devices.settled();
    expect(await onlineIn(sut, clock)).toEqual(['d1']);

    // a third instance starting while B lives leaves B's device alone
    const c = await instance(sut.reopen(), 'hub-c', clock);
    await c.registry.devices.markOfflineAtStart(T0 + 5);
    expect(await onlineIn(sut, clock)).toEqual(['d1']);

    // B dies: within its lease nothing moves; once it has run out, C's sweep takes d1 offline
    clock.advance(TTL - 1);
    await c.lease.renew();
    expect(await c.registry.devices.releaseOrphans(clock.now())).toEqual([]);
    clock.advance(2);
    await c.lease.renew();
    expect(await c.registry.devices.releaseOrphans(clock.now())).toEqual(['d1']);
    expect(await onlineIn(sut, clock)).toEqual([]);
    // and B's lease given up on a clean stop frees its devices at once, without waiting for the lease
    c.registry.devices.setOnline('d2', true, clock.now());
    await c.registry.devices.settled();
    await c.lease.stop();
    await a.lease.renew();
    expect(await a.registry.devices.releaseOrphans(clock.now())).toEqual(['d2']);
  });
});
