import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import { openRegistry, type Registry } from '../../src/registry/registry.ts';
import { hashSecret } from '../../src/registry/secrets.ts';
import type { RegistryTables } from '../../src/registry/tables.ts';
import { type ChangeFeed, postgresChangeFeed } from '../../src/storage/changes.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { code, describeStores, type StoreUnderTest, until } from './stores.ts';

/**
 * The registry's places and devices, the same tests on SQLite and on PostgreSQL: what one instance writes, the
 * store keeps and another instance (a reopened store) reads; conflicts between instances are answered as
 * conflicts. People and duty, users and tokens have their own suites (people.test.ts, users.test.ts).
 */
const T0 = Date.parse('2026-12-01T08:00:00+08:00');
const secretKey = randomBytes(32);

async function open(store: SqlStore, _sut: StoreUnderTest, changes?: ChangeFeed): Promise<Registry> {
  return openRegistry(store, createCatalogue(), new ManualClock(T0), {
    secretKey,
    ...(changes ? { changes } : {}),
  });
}

async function tree(r: Registry): Promise<void> {
  await r.places.create({ id: 's1', level: 'street', name: '青龙街道', parentId: null });
  await r.places.create({ id: 'c1', level: 'community', name: '幸福社区', parentId: 's1' });
  await r.places.create({ id: 'g1', level: 'grid', name: '第一网格', parentId: 'c1' });
  await r.places.create({ id: 'e1', level: 'estate', name: '阳光小区', parentId: 'g1' });
  await r.places.create({ id: 'b1', level: 'building', name: '1号楼', parentId: 'e1' });
  await r.places.create({ id: 'b2', level: 'building', name: '2号楼', parentId: 'e1' });
}

describeStores('registry: places', ({ fresh }) => {
  it('keeps the tree, with paths, names and subtrees, for the next instance', async () => {
    const sut = await fresh();
    const r = await open(sut.store, sut);
    await tree(r);
    const again = await open(sut.reopen(), sut);
    expect(again.places.path('b1')).toEqual({
      street: 's1',
      community: 'c1',
      grid: 'g1',
      estate: 'e1',
      building: 'b1',
    });
    expect(again.places.names('b2')).toEqual(['青龙街道', '幸福社区', '第一网格', '阳光小区', '2号楼']);
    expect(again.places.subtree('e1').sort()).toEqual(['b1', 'b2', 'e1']);
    expect(again.places.tree(['g1'])[0]?.children[0]?.children.map((c) => c.id)).toEqual(['b1', 'b2']);
  });

  it('refuses a place under the wrong level, under an unknown parent, and a second place with an id', async () => {
    const sut = await fresh();
    const r = await open(sut.store, sut);
    await tree(r);
    expect(await code(r.places.create({ id: 'x', level: 'grid', name: 'x', parentId: 's1' }))).toBe(
      'REQUEST_INVALID',
    );
    expect(await code(r.places.create({ id: 'x', level: 'unit', name: 'x', parentId: 'nope' }))).toBe(
      'REQUEST_INVALID',
    );
    expect(await code(r.places.create({ id: 'b1', level: 'building', name: 'x', parentId: 'e1' }))).toBe(
      'CONFLICT',
    );
    // another instance, whose memory does not know b3 yet, creating it as well: the store says conflict
    const other = await open(sut.reopen(), sut);
    await r.places.create({ id: 'b3', level: 'building', name: '3号楼', parentId: 'e1' });
    expect(await code(other.places.create({ id: 'b3', level: 'building', name: 'x', parentId: 'e1' }))).toBe(
      'CONFLICT',
    );
    expect(other.places.get('b3')).toBeUndefined();
    // until it reads the tree again (the hook LISTEN/NOTIFY will call)
    await other.places.reload();
    expect(other.places.name('b3')).toBe('3号楼');
  });

  it("merges a building's layout, and keeps it", async () => {
    const sut = await fresh();
    const r = await open(sut.store, sut);
    await tree(r);
    expect(await r.places.setLayout('b1', { x: 12.5, y: 40 })).toEqual({ x: 12.5, y: 40, floors: null });
    expect(await r.places.setLayout('b1', { floors: 18, x: null })).toEqual({ x: null, y: 40, floors: 18 });
    expect(await code(r.places.setLayout('nope', { floors: 1 }))).toBe('NOT_FOUND');
    const again = await open(sut.reopen(), sut);
    expect(again.places.layout('b1')).toEqual({ x: null, y: 40, floors: 18 });
    expect(again.places.layout('b2')).toBeUndefined();
  });
});

describeStores('registry: devices', ({ dialect, fresh }) => {
  it('provisions a device whose secret the next instance verifies, and refuses bad input', async () => {
    const sut = await fresh();
    const r = await open(sut.store, sut);
    await tree(r);
    const { device, secret } = await r.devices.provision(
      { id: 'smoke-1', type: 'smoke', placeId: 'b1', floor: 3 },
      T0,
    );
    expect(device).toMatchObject({
      id: 'smoke-1',
      placeId: 'b1',
      floor: 3,
      enabled: true,
      online: false,
      createdAt: T0,
    });
    expect(await code(r.devices.provision({ id: 'smoke-1', type: 'smoke', placeId: 'b1' }, T0))).toBe(
      'CONFLICT',
    );
    expect(await code(r.devices.provision({ id: 'x', type: 'toaster', placeId: 'b1' }, T0))).toBe(
      'REQUEST_INVALID',
    );
    expect(await code(r.devices.provision({ id: 'x', type: 'smoke', placeId: 'nope' }, T0))).toBe(
      'REQUEST_INVALID',
    );
    expect(await code(r.devices.provision({ id: 'a b', type: 'smoke', placeId: 'b1' }, T0))).toBe(
      'REQUEST_INVALID',
    );
    const again = await open(sut.reopen(), sut);
    expect(again.devices.get('smoke-1')).toEqual(device);
    expect(again.devices.get('smoke-1')?.place).toEqual(r.places.path('b1'));
    expect(await again.devices.verifySecret('smoke-1', secret)).toBe(true);
    expect(await again.devices.verifySecret('smoke-1', `${secret}x`)).toBe(false);
    // two instances provisioning one id: the second is told so
    const other = await open(sut.reopen(), sut);
    await r.devices.provision({ id: 'bin-1', type: 'bin', placeId: 'e1' }, T0);
    expect(await code(other.devices.provision({ id: 'bin-1', type: 'bin', placeId: 'e1' }, T0))).toBe(
      'CONFLICT',
    );
    expect((await other.devices.reload('bin-1'))?.type).toBe('bin');
  });

  it('updates and lists devices, and the update is kept', async () => {
    const sut = await fresh();
    const r = await open(sut.store, sut);
    await tree(r);
    await r.devices.provision({ id: 'smoke-1', type: 'smoke', placeId: 'b1' }, T0);
    await r.devices.provision({ id: 'smoke-2', type: 'smoke', placeId: 'b2' }, T0);
    await r.devices.provision({ id: 'bin-1', type: 'bin', placeId: 'e1' }, T0);
    const moved = await r.devices.update('smoke-1', {
      placeId: 'b2',
      floor: 7,
      label: '7楼走廊',
      enabled: false,
    });
    expect(moved).toMatchObject({ placeId: 'b2', floor: 7, label: '7楼走廊', enabled: false });
    expect(moved.place.building).toBe('b2');
    expect(await code(r.devices.update('nope', { enabled: false }))).toBe('DEVICE_UNKNOWN');
    expect(await code(r.devices.update('smoke-2', { placeId: 'nope' }))).toBe('REQUEST_INVALID');
    const again = await open(sut.reopen(), sut);
    expect(again.devices.get('smoke-1')).toMatchObject({
      placeId: 'b2',
      floor: 7,
      label: '7楼走廊',
      enabled: false,
    });
    expect(again.devices.list({ type: 'smoke' }).map((d) => d.id)).toEqual(['smoke-1', 'smoke-2']);
    expect(again.devices.list({ placeId: 'b2', enabled: true }).map((d) => d.id)).toEqual(['smoke-2']);
    expect(again.devices.list({ placeId: 'e1' }).map((d) => d.id)).toEqual(['bin-1', 'smoke-1', 'smoke-2']);
  });

  it('verifies an old scrypt hash once and keeps the keyed hash in its place', async () => {
    const sut = await fresh();
    const r = await open(sut.store, sut);
    await tree(r);
    const { secret } = await r.devices.provision({ id: 'smoke-1', type: 'smoke', placeId: 'b1' }, T0);
    const db = sut.store.builder<RegistryTables>();
    // a hash written by an older hub (scrypt N=2048)
    await sut.store.write(
      db
        .updateTable('devices')
        .set({ secret_hash: await hashSecret(secret, 2_048) })
        .where('id', '=', 'smoke-1'),
    );
    const stored = async () =>
      (await sut.store.first(db.selectFrom('devices').select('secret_hash').where('id', '=', 'smoke-1')))
        ?.secret_hash;
    const again = await open(sut.reopen(), sut);
    expect(await again.devices.verifySecret('smoke-1', 'wrong')).toBe(false);
    expect(await stored()).toMatch(/^scrypt\$/);
    expect(await again.devices.verifySecret('smoke-1', secret)).toBe(true);
    expect(await stored()).toMatch(/^hmac-sha256\$/);
    expect(await (await open(sut.reopen(), sut)).devices.verifySecret('smoke-1', secret)).toBe(true);
  });

  it('writes presence: online changes in order, last-seen coalesced and never moved back', async () => {
    const sut = await fresh();
    const r = await open(sut.store, sut);
    await tree(r);
    await r.devices.provision({ id: 'smoke-1', type: 'smoke', placeId: 'b1' }, T0);
    await r.devices.provision({ id: 'smoke-2', type: 'smoke', placeId: 'b1' }, T0);
    // the broker's calls are synchronous; the writes follow in order
    r.devices.setOnline('smoke-1', true, T0 + 1);
    r.devices.setOnline('smoke-1', false, T0 + 2);
    r.devices.setOnline('smoke-1', true, T0 + 3);
    r.devices.setOnline('smoke-2', true, T0 + 3);
    r.devices.touch('smoke-1', T0 + 10);
    r.devices.touch('smoke-1', T0 + 20);
    r.devices.touch('smoke-2', T0 + 15);
    await r.devices.settled();
    expect(await r.devices.flushPresence()).toBe(2);
    expect(await r.devices.flushPresence()).toBe(0);
    // another instance's flush of an older instant does not move it back
    const other = await open(sut.reopen(), sut);
    other.devices.touch('smoke-1', T0 + 5);
    await other.devices.flushPresence();
    const seen = await open(sut.reopen(), sut);
    expect(seen.devices.get('smoke-1')).toMatchObject({
      online: true,
      onlineChangedAt: T0 + 3,
      lastSeen: T0 + 20,
    });
    expect(seen.devices.get('smoke-2')).toMatchObject({ online: true, lastSeen: T0 + 15 });
    await seen.devices.markOfflineAtStart(T0 + 30);
    expect(seen.devices.list({ online: true })).toEqual([]);
    const after = await open(sut.reopen(), sut);
    expect(after.devices.get('smoke-2')).toMatchObject({ online: false, onlineChangedAt: T0 + 30 });
  });

  it('writes the online changes of a reconnect storm in one transaction, and names every device of one that fails', async () => {
    const sut = await fresh();
    const setup = await open(sut.store, sut);
    await tree(setup);
    const ids = Array.from({ length: 30 }, (_, i) => `smoke-${i}`);
    for (const id of ids) await setup.devices.provision({ id, type: 'smoke', placeId: 'b1' }, T0);
    // the store refuses one device's change: as a disk or a constraint would refuse a write
    const refuse =
      dialect === 'sqlite'
        ? sql`CREATE TRIGGER refuse_13 BEFORE UPDATE OF online ON devices WHEN NEW.id = 'smoke-13'
              BEGIN SELECT RAISE(ABORT, 'refused'); END`
        : sql`ALTER TABLE devices ADD CONSTRAINT refuse_13 CHECK (id <> 'smoke-13' OR online = 0)`;
    await sut.store.write(refuse.compile(sut.store.builder()));
    const failed: (readonly string[])[] = [];
    const r = await openRegistry(sut.reopen(), createCatalogue(), new ManualClock(T0), {
      secretKey,
      onWriteError: (_err, deviceIds) => failed.push(deviceIds),
    });
    // as the broker calls it: synchronously, one device after another
    for (const id of ids) r.devices.setOnline(id, true, T0 + 1);
    await r.devices.settled();
    expect(failed).toEqual([ids]);
    const stored = await open(sut.reopen(), sut);
    expect(stored.devices.list({ online: true })).toEqual([]);
    // this instance still holds them online; the next change of one is written
    expect(r.devices.get('smoke-3')?.online).toBe(true);
    r.devices.setOnline('smoke-3', false, T0 + 2);
    r.devices.setOnline('smoke-4', false, T0 + 2);
    r.devices.setOnline('smoke-4', true, T0 + 3);
    await r.devices.settled();
    expect(failed).toHaveLength(1);
    const again = await open(sut.reopen(), sut);
    expect(again.devices.list({ online: true }).map((d) => d.id)).toEqual(['smoke-4']);
  });

  if (dialect === 'postgres') {
    it("brings another instance's new place and device, and a device's edit, into this instance's memory", async () => {
      const sut = await fresh();
      const feeds = [0, 1].map(() => postgresChangeFeed(sut.store, sut.url as string));
      try {
        await Promise.all(feeds.map((f) => f.ready()));
        const [fa, fb] = feeds as [ChangeFeed, ChangeFeed];
        const a = await open(sut.store, sut, fa);
        const b = await open(sut.reopen(), sut, fb);
        await tree(a);
        await a.devices.provision({ id: 'smoke-1', type: 'smoke', placeId: 'b1' }, T0);
        await until(() => b.devices.get('smoke-1')?.place.building === 'b1');
        await a.places.create({ id: 'b9', level: 'building', name: '9号楼', parentId: 'e1' });
        await a.devices.update('smoke-1', { placeId: 'b9', enabled: false });
        await until(() => b.devices.get('smoke-1')?.placeId === 'b9');
        expect(b.devices.get('smoke-1')).toMatchObject({
          enabled: false,
          place: { building: 'b9', estate: 'e1' },
        });
        expect(b.places.name('b9')).toBe('9号楼');
      } finally {
        await Promise.all(feeds.map((f) => f.close()));
      }
    });
  }
});
