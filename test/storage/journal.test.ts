import type pg from 'pg';
import { expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import type { EventReading } from '../../src/domain/reading.ts';
import { type JournalStore, postgresJournal, type SeenKey, sqliteJournal } from '../../src/ingest/journal.ts';
import { createInstanceLease, migrateLeases } from '../../src/storage/leases.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { openDatabase } from '../../src/storage/sqlite.ts';
import { describeStores, type StoreUnderTest } from './stores.ts';

/**
 * The QoS 1 journal and the identities of taken events (`ingest_seen`), the same tests on SQLite and on
 * PostgreSQL: what is recorded stays until it is marked done, survives the instance that took it, and on a
 * shared database goes to exactly one other instance once the owner's lease has run out.
 */
const T0 = Date.parse('2026-12-01T08:00:00+08:00');

function press(deviceId: string, n: number): EventReading {
  return {
    kind: 'event',
    event: 'sos',
    data: { n },
    deviceId,
    deviceType: 'call_button',
    placeId: 'u1',
    place: { street: 's1', community: 'c1', grid: 'g1', estate: 'e1', building: 'b1', unit: 'u1' },
    floor: 3,
    ts: T0 + n,
    receivedAt: T0 + n,
    qos: 1,
  };
}

const packet = (deviceId: string, id: number, conn: string, expiresAt = T0 + 60_000): SeenKey => ({
  deviceId,
  key: `p:${id}`,
  digest: `d${id}`,
  conn,
  qos: 1,
  expiresAt,
});

/** The journal an instance opens on `store` (SQLite: on its connection; another file handle is another process). */
async function journalOn(sut: StoreUnderTest, store: SqlStore, owner: string): Promise<JournalStore> {
  if (sut.dialect === 'sqlite') {
    // `store` is a reopened SQLite store only when it is not the first: open the file again for it
    const db = store === sut.store ? sut.sqlite : sut.sqliteFile ? openDatabase(sut.sqliteFile) : undefined;
    if (!db) throw new Error('no SQLite file');
    return sqliteJournal(db, owner);
  }
  return postgresJournal(store, owner);
}

describeStores('ingest journal', ({ fresh }) => {
  it('records events with increasing ids, gives them back oldest first, and forgets them once done', async () => {
    const sut = await fresh();
    const j = await journalOn(sut, sut.store, 'hub-a');
    const batch = [press('d1', 1), press('d2', 2), press('d1', 3)];
    await j.record(batch);
    const ids = batch.map((r) => r.journalId as number);
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(await j.count()).toBe(3);
    const pending = await j.claim(T0);
    expect(pending.map((r) => [r.journalId, r.deviceId, r.data.n])).toEqual([
      [ids[0], 'd1', 1],
      [ids[1], 'd2', 2],
      [ids[2], 'd1', 3],
    ]);
    expect(pending[0]).toEqual(batch[0]);
    await j.done([ids[0] as number, ids[2] as number]);
    expect((await j.claim(T0)).map((r) => r.journalId)).toEqual([ids[1]]);
    // an id is never given again, even after its row is gone
    await j.done([ids[1] as number]);
    const next = [press('d3', 4)];
    await j.record(next);
    expect(next[0]?.journalId).toBeGreaterThan(ids[2] as number);
    expect(await j.count()).toBe(1);
  });

  it('keeps identities with their events: upserted, looked up, forgotten, settled per connection, pruned', async () => {
    const sut = await fresh();
    const j = await journalOn(sut, sut.store, 'hub-a');
    const e1: SeenKey = {
      deviceId: 'd1',
      key: 'e:abc',
      digest: '',
      conn: '',
      qos: 1,
      expiresAt: T0 + 600_000,
    };
    await j.record([press('d1', 1)], [packet('d1', 7, 'c1'), packet('d1', 8, 'c1'), e1]);
    expect(await j.seen('d1', 'p:7')).toEqual(packet('d1', 7, 'c1'));
    expect(await j.seen('d2', 'p:7')).toBeUndefined();
    // the same packet id again (a new message after the PUBACK) replaces what it identifies
    await j.record([], [{ ...packet('d1', 7, 'c2'), digest: 'other' }]);
    expect(await j.seen('d1', 'p:7')).toMatchObject({ conn: 'c2', digest: 'other' });
    await j.forget('d1', 'p:7');
    expect(await j.seen('d1', 'p:7')).toBeUndefined();
    // a clean DISCONNECT frees the packet ids of that connection, not the eventIds
    await j.settle('d1', 'c1');
    expect(await j.seen('d1', 'p:8')).toBeUndefined();
    expect(await j.seen('d1', 'e:abc')).toEqual(e1);
    await j.record([], [packet('d2', 1, 'c9', T0 + 1_000)]);
    expect(await j.prune(T0 + 1_000)).toBe(1);
    expect(await j.seen('d2', 'p:1')).toBeUndefined();
    expect(await j.seen('d1', 'e:abc')).toEqual(e1);
  });

  it("seenOf: devices' identities still in their window, what another instance reads at a CONNECT or a take-over", async () => {
    const sut = await fresh();
    const j = await journalOn(sut, sut.store, 'hub-a');
    await j.record(
      [press('d1', 1)],
      [packet('d1', 7, 'c1'), packet('d1', 8, 'c1', T0 + 1_000), packet('d2', 7, 'c2')],
    );
    const keys = async (deviceId: string, now: number) =>
      (await j.seenOf([deviceId], now)).sort((x, y) => x.key.localeCompare(y.key));
    expect(await keys('d1', T0)).toEqual([packet('d1', 7, 'c1'), packet('d1', 8, 'c1', T0 + 1_000)]);
    // past its window an identity is not read
    expect(await keys('d1', T0 + 1_000)).toEqual([packet('d1', 7, 'c1')]);
    expect(await keys('d3', T0)).toEqual([]);
    // a take-over's devices in one read, however many (past one statement's chunk)
    const many = Array.from({ length: 2_500 }, (_, i) => `x${i}`);
    const all = await j.seenOf([...many.slice(0, 1_200), 'd1', ...many.slice(1_200), 'd2'], T0);
    expect(all.map((s) => `${s.deviceId} ${s.key}`).sort()).toEqual(
      [packet('d1', 7, 'c1'), packet('d1', 8, 'c1', T0 + 1_000), packet('d2', 7, 'c2')].map(
        (s) => `${s.deviceId} ${s.key}`,
      ),
    );
    expect(await j.seenOf([], T0)).toEqual([]);
  });

  it('a batch that fails records nothing: no event without its identities, no identity without its event', async () => {
    const sut = await fresh();
    const j = await journalOn(sut, sut.store, 'hub-a');
    // a NOT NULL column left null fails the statement part-way through the batch
    const broken = { ...press('d1', 2), deviceId: null as unknown as string };
    await expect(j.record([press('d1', 1), broken], [packet('d1', 5, 'c1')])).rejects.toThrow();
    expect(await j.count()).toBe(0);
    expect(await j.seen('d1', 'p:5')).toBeUndefined();
  });

  it('what one instance recorded before it died is replayed by the next one on the store', async () => {
    const sut = await fresh();
    const first = await journalOn(sut, sut.store, 'hub-a');
    const batch = [press('d1', 1), press('d2', 2)];
    await first.record(batch, [packet('d1', 3, 'c1')]);
    // no done(): the process is gone; a restart of the same instance opens the store afresh
    const again = await journalOn(sut, sut.reopen(), 'hub-a');
    expect((await again.claim(T0)).map((r) => r.journalId)).toEqual(batch.map((r) => r.journalId));
    expect(await again.seen('d1', 'p:3')).toEqual(packet('d1', 3, 'c1'));
  });
});

describeStores('ingest journal on a shared database', ({ dialect, fresh }) => {
  if (dialect === 'sqlite') {
    it('one process owns the file: a restart replays every row, whoever recorded it', async () => {
      const sut = await fresh();
      const old = await journalOn(sut, sut.store, 'hub-before-rename');
      await old.record([press('d1', 1)]);
      const now = await journalOn(sut, sut.reopen(), 'local');
      expect((await now.claim(T0)).map((r) => r.deviceId)).toEqual(['d1']);
    });

    it('the group commit is done when record returns: nothing to await on the alarm path', async () => {
      const sut = await fresh();
      const j = await journalOn(sut, sut.store, 'local');
      const batch = [press('d1', 1), press('d2', 2)];
      j.sync?.record(batch, [packet('d1', 1, 'c1')]);
      expect(batch.map((r) => typeof r.journalId)).toEqual(['number', 'number']);
      expect(j.sync?.count()).toBe(2);
      expect(j.sync?.seen('d1', 'p:1')).toEqual(packet('d1', 1, 'c1'));
    });
    return;
  }

  it('a live instance keeps its rows; once its lease runs out exactly one other instance takes them', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T0);
    const [sa, sb, sc] = [sut.store, sut.reopen(), sut.reopen()];
    await migrateLeases(sa);
    const leaseA = createInstanceLease(sa, { instanceId: 'hub-a', clock, ttlMs: 15_000 });
    const leaseB = createInstanceLease(sb, { instanceId: 'hub-b', clock, ttlMs: 15_000 });
    const leaseC = createInstanceLease(sc, { instanceId: 'hub-c', clock, ttlMs: 15_000 });
    await Promise.all([leaseA.renew(), leaseB.renew(), leaseC.renew()]);
    const a = await journalOn(sut, sa, 'hub-a');
    const b = await journalOn(sut, sb, 'hub-b');
    const c = await journalOn(sut, sc, 'hub-c');
    const batch = [press('d1', 1), press('d2', 2), press('d3', 3)];
    await a.record(batch);
    await b.record([press('d9', 9)]);
    // A is alive: its events in flight are its own
    expect(await b.claim(clock.now())).toHaveLength(1);
    expect(await c.claim(clock.now())).toEqual([]);
    // the running sweep takes orphans only, never the sweeper's own rows in flight
    expect(await b.claimOrphans(clock.now())).toEqual([]);
    // A dies (no renewal); B and C renew and, after the lease, both look for orphans at once
    clock.advance(16_000);
    await Promise.all([leaseB.renew(), leaseC.renew()]);
    // B looks as at its start (its own and orphans), C as the running sweep (orphans only)
    const [byB, byC] = await Promise.all([b.claim(clock.now()), c.claimOrphans(clock.now())]);
    const taken = [...byB, ...byC].map((r) => r.journalId).filter((id) => id !== undefined);
    // B's own d9 is B's either way; A's three go to one of them, once
    expect(taken.sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual(
      [...batch.map((r) => r.journalId), byB.find((r) => r.deviceId === 'd9')?.journalId].sort(
        (x, y) => (x ?? 0) - (y ?? 0),
      ),
    );
    const winner = byB.some((r) => r.deviceId === 'd1') ? b : c;
    // nothing is left for a sweep once they are taken
    expect(await b.claimOrphans(clock.now())).toEqual([]);
    expect(await c.claimOrphans(clock.now())).toEqual([]);
    // A comes back with its old id: the rows are the winner's now (it holds a live lease)
    await leaseA.renew();
    expect(await a.claim(clock.now())).toEqual([]);
    expect((await winner.claim(clock.now())).filter((r) => r.deviceId !== 'd9')).toHaveLength(3);
  });

  it('owned: before a re-feed, the rows still its own, and whether its lease is live to re-feed them', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T0);
    const [sa, sb] = [sut.store, sut.reopen()];
    await migrateLeases(sa);
    const leaseA = createInstanceLease(sa, { instanceId: 'hub-a', clock, ttlMs: 15_000 });
    const leaseB = createInstanceLease(sb, { instanceId: 'hub-b', clock, ttlMs: 15_000 });
    await Promise.all([leaseA.renew(), leaseB.renew()]);
    const a = await journalOn(sut, sa, 'hub-a');
    const b = await journalOn(sut, sb, 'hub-b');
    const batch = [press('d1', 1), press('d2', 2)];
    await a.record(batch);
    const ids = batch.map((r) => r.journalId as number);
    expect(await a.owned(ids, clock.now())).toEqual({ mine: new Set(ids), live: true });
    // A's lease runs out unrenewed: still its rows, but not to re-feed (another may be taking them now)
    clock.advance(16_000);
    await leaseB.renew();
    expect((await a.owned(ids, clock.now())).live).toBe(false);
    // nor does A's own sweep take them as orphans: they are in its pipeline, however late its lease
    expect(await a.claimOrphans(clock.now())).toEqual([]);
    // B's sweep takes them; A, renewed late, finds them no longer its own
    expect(await b.claimOrphans(clock.now())).toHaveLength(2);
    await leaseA.renew();
    expect(await a.owned(ids, clock.now())).toEqual({ mine: new Set(), live: true });
    expect(await b.owned(ids, clock.now())).toEqual({ mine: new Set(ids), live: true });
  });

  it('a batch of events with their identities is one statement: one round trip before the PUBACKs', async () => {
    const sut = await fresh();
    const store = sut.reopen() as SqlStore & { pool: pg.Pool };
    const j = await journalOn(sut, store, 'hub-a');
    let queries = 0;
    const client = await store.pool.connect();
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
      queries++;
      return query(...args);
    };
    client.release();
    const batch = Array.from({ length: 50 }, (_, i) => press(`d${i % 7}`, i));
    const seen = batch.map((r, i) => packet(r.deviceId, i, 'c1'));
    await j.record(batch, seen);
    expect(queries).toBe(1);
    expect(await j.count()).toBe(50);
    expect(await j.seen('d3', 'p:3')).toEqual(packet('d3', 3, 'c1'));
    expect(new Set(batch.map((r) => r.journalId)).size).toBe(50);
  });
});
