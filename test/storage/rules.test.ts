import pino from 'pino';
import { expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import type { Presence, RuleState } from '../../src/rules/evaluator.ts';
import {
  openStateStore,
  postgresRulesTable,
  RULES_MIGRATIONS,
  type RulesTable,
  sqliteRulesTable,
} from '../../src/rules/store.ts';
import { createInstanceLease, migrateLeases } from '../../src/storage/leases.ts';
import { migrateModule } from '../../src/storage/migrations.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { openDatabase } from '../../src/storage/sqlite.ts';
import { describeStores, type StoreUnderTest } from './stores.ts';

/**
 * Rule state (`rules_state`) and last-seen times (`rules_presence`), the same tests on SQLite and PostgreSQL:
 * what one instance wrote the next one loads; two instances writing the same (rule, device) never interleave —
 * the owner's writes stand, the other's are refused and reported, until the owner's lease runs out.
 */
const T0 = Date.parse('2026-12-01T08:00:00+08:00');
const log = pino({ level: 'silent' });

const pending = (since: number): RuleState => ({
  phase: 'pending',
  since,
  raisedAt: null,
  ops: { w: { n: 3 } } as unknown as RuleState['ops'],
  last: null,
  fp: 'fp1',
});

const seen = (deviceId: string, lastSeen: number): Presence => ({
  deviceId,
  deviceType: 'bin',
  placeId: 'e1',
  place: { street: 's1', community: 'c1', grid: 'g1', estate: 'e1' },
  floor: null,
  lastSeen,
});

async function tableOn(sut: StoreUnderTest, store: SqlStore, owner: string): Promise<RulesTable> {
  if (sut.dialect === 'sqlite') {
    const db = store === sut.store ? sut.sqlite : sut.sqliteFile ? openDatabase(sut.sqliteFile) : undefined;
    if (!db) throw new Error('no SQLite file');
    return sqliteRulesTable(db, log, owner);
  }
  return postgresRulesTable(store, log, owner);
}

/** Instances hub-a and hub-b on one database, each with its connection, lease (renewed once) and rules table. */
async function twoInstances(sut: StoreUnderTest) {
  const clock = new ManualClock(T0);
  const sa = sut.store;
  const sb = sut.reopen();
  await migrateLeases(sa);
  const leaseA = createInstanceLease(sa, { instanceId: 'hub-a', clock, ttlMs: 15_000 });
  const leaseB = createInstanceLease(sb, { instanceId: 'hub-b', clock, ttlMs: 15_000 });
  await leaseA.renew();
  await leaseB.renew();
  return {
    clock,
    sa,
    sb,
    leaseA,
    leaseB,
    a: await tableOn(sut, sa, 'hub-a'),
    b: await tableOn(sut, sb, 'hub-b'),
  };
}

describeStores('rule state', ({ fresh }) => {
  it('upserts, deletes and loads states and last-seen times, for the next instance too', async () => {
    const sut = await fresh();
    const t = await tableOn(sut, sut.store, 'hub-a');
    expect(
      await t.write({
        states: [
          { ruleId: 'bin-full', deviceId: 'b1', state: pending(T0) },
          { ruleId: 'bin-full', deviceId: 'b2', state: pending(T0 + 1) },
        ],
        presence: [
          ['b1', seen('b1', T0)],
          ['b2', seen('b2', T0)],
        ],
        at: T0,
      }),
    ).toEqual([]);
    await t.write({
      states: [
        {
          ruleId: 'bin-full',
          deviceId: 'b1',
          state: { ...pending(T0), phase: 'active', raisedAt: T0 + 600_000 },
        },
        { ruleId: 'bin-full', deviceId: 'b2', state: null },
      ],
      presence: [['b2', null]],
      at: T0 + 600_000,
    });
    const loaded = await (await tableOn(sut, sut.reopen(), 'hub-a')).load();
    expect(loaded.states).toEqual([
      {
        ruleId: 'bin-full',
        deviceId: 'b1',
        state: { ...pending(T0), phase: 'active', raisedAt: T0 + 600_000 },
      },
    ]);
    expect(loaded.presence).toEqual([seen('b1', T0)]);
  });

  it('a last-seen time never moves back, whichever instance writes it last', async () => {
    const sut = await fresh();
    const a = await tableOn(sut, sut.store, 'hub-a');
    const b = await tableOn(sut, sut.reopen(), 'hub-b');
    await a.write({ states: [], presence: [['b1', seen('b1', T0 + 5_000)]], at: T0 + 5_000 });
    await b.write({ states: [], presence: [['b1', seen('b1', T0 + 1_000)]], at: T0 + 6_000 });
    expect((await a.load()).presence).toEqual([seen('b1', T0 + 5_000)]);
    await b.write({ states: [], presence: [['b1', seen('b1', T0 + 9_000)]], at: T0 + 9_000 });
    expect((await a.load()).presence).toEqual([seen('b1', T0 + 9_000)]);
  });

  it("a second instance writing a live owner's (rule, device) is refused and told; after the lease it takes over", async () => {
    const { clock, leaseA, leaseB, a, b } = await twoInstances(await fresh());
    const key = { ruleId: 'bin-full', deviceId: 'b1' };
    await a.write({ states: [{ ...key, state: pending(T0) }], presence: [], at: clock.now() });
    // B saw another of b1's readings and would start its own `for` from a later time
    expect(
      await b.write({ states: [{ ...key, state: pending(T0 + 30_000) }], presence: [], at: clock.now() }),
    ).toEqual([key]);
    await b.write({ states: [{ ...key, state: null }], presence: [], at: clock.now() });
    expect((await a.load()).states).toEqual([{ ...key, state: pending(T0) }]);
    // A's own writes go on
    expect(
      await a.write({ states: [{ ...key, state: pending(T0 + 1) }], presence: [], at: clock.now() }),
    ).toEqual([]);

    // A dies: once its lease has run out, B's write takes the row, and A (back with its old id) is refused
    clock.advance(15_001);
    await leaseB.renew();
    expect(
      await b.write({ states: [{ ...key, state: pending(T0 + 40_000) }], presence: [], at: clock.now() }),
    ).toEqual([]);
    await leaseA.renew();
    expect(
      await a.write({ states: [{ ...key, state: pending(T0 + 2) }], presence: [], at: clock.now() }),
    ).toEqual([key]);
    expect((await b.load()).states).toEqual([{ ...key, state: pending(T0 + 40_000) }]);
  });

  it("the engine's store coalesces changes into one write and the next instance loads them", async () => {
    const sut = await fresh();
    const a = await openStateStore(await tableOn(sut, sut.store, 'hub-a'), log, { now: () => T0 });
    a.stateChanged('bin-full', 'b1', pending(T0), false);
    a.stateChanged('bin-full', 'b1', pending(T0 + 7), true);
    a.presenceChanged(seen('b1', T0 + 7));
    a.flush();
    await a.settled();
    const b = await openStateStore(await tableOn(sut, sut.reopen(), 'hub-a'), log);
    expect(b.load().states).toEqual([{ ruleId: 'bin-full', deviceId: 'b1', state: pending(T0 + 7) }]);
    expect(b.load().presence).toEqual([seen('b1', T0 + 7)]);
    a.close();
    b.close();
  });
  it('hands a device over: the live owner releases it with a note, the taker waits for it and its writes stand', async () => {
    const { clock, leaseB, a, b } = await twoInstances(await fresh());
    const key = { ruleId: 'bin-full', deviceId: 'b1' };
    await a.write({ states: [{ ...key, state: pending(T0) }], presence: [['b1', seen('b1', T0)]], at: T0 });
    await a.write({
      states: [{ ruleId: 'bin-full', deviceId: 'b2', state: pending(T0 + 5) }],
      presence: [],
      at: T0,
    });

    // A still holds b1 and has left no note: not ready
    let taken = await b.adopt([{ deviceId: 'b1', from: 'hub-a' }], clock.now());
    expect([...taken.ready]).toEqual([]);
    clock.advance(1_000);
    await a.release(['b1'], clock.now());
    taken = await b.adopt([{ deviceId: 'b1', from: 'hub-a' }], clock.now());
    expect([...taken.ready]).toEqual([['b1', T0 + 1_000]]);
    expect(taken.states).toEqual([{ ...key, state: pending(T0) }]);
    expect(taken.presence).toEqual([seen('b1', T0)]);
    // the note is used up, and the rows are B's: its writes stand, A's are refused
    expect([...(await b.adopt([{ deviceId: 'b1', from: 'hub-a' }], clock.now())).ready]).toEqual([]);
    expect(
      await b.write({ states: [{ ...key, state: pending(T0 + 7) }], presence: [], at: clock.now() }),
    ).toEqual([]);
    expect(
      await a.write({ states: [{ ...key, state: pending(T0 + 9) }], presence: [], at: clock.now() }),
    ).toEqual([key]);

    // A dies holding b2: no note is needed once its lease has run out
    expect([...(await b.adopt([{ deviceId: 'b2', from: undefined }], clock.now())).ready]).toEqual([]);
    clock.advance(15_001);
    await leaseB.renew();
    taken = await b.adopt([{ deviceId: 'b2', from: undefined }], clock.now());
    expect([...taken.ready]).toEqual([['b2', undefined]]);
    expect(taken.states).toEqual([{ ruleId: 'bin-full', deviceId: 'b2', state: pending(T0 + 5) }]);
  });

  it("keeps each releaser's note: a third instance giving the device up does not hide the note the taker waits for", async () => {
    const sut = await fresh();
    const { clock, sa, a, b } = await twoInstances(sut);
    const leaseC = createInstanceLease(sa, { instanceId: 'hub-c', clock, ttlMs: 15_000 });
    await leaseC.renew();
    const c = await tableOn(sut, sa, 'hub-c');
    // A releases b1 to B; C, starting, gives up everything not its own, b1 among them, a moment later
    await a.release(['b1'], T0 + 100);
    await c.release(['b1'], T0 + 200);
    const taken = await b.adopt([{ deviceId: 'b1', from: 'hub-a' }], clock.now());
    expect([...taken.ready]).toEqual([['b1', T0 + 100]]);
    // every note of the device is used up by the take
    expect([...(await b.adopt([{ deviceId: 'b1', from: 'hub-c' }], clock.now())).ready]).toEqual([]);
  });

  it('keeps the notes an older hub left through the upgrade to a note per releaser', async () => {
    const sut = await fresh();
    await migrateLeases(sut.store);
    await migrateModule(sut.store, 'rules', RULES_MIGRATIONS.slice(0, 3));
    await sut.store.write(
      sut.store
        .builder<{ rules_handover: { device_id: string; released_by: string; released_at: number } }>()
        .insertInto('rules_handover')
        .values({ device_id: 'b1', released_by: 'hub-a', released_at: T0 }),
    );
    const b = await tableOn(sut, sut.store, 'hub-b');
    const taken = await b.adopt([{ deviceId: 'b1', from: 'hub-a' }], T0 + 1);
    expect([...taken.ready]).toEqual([['b1', T0]]);
  });

  it('takes an overdue device without its note, even from a live holder, whose later writes are refused', async () => {
    const { clock, a, b } = await twoInstances(await fresh());
    const key = { ruleId: 'bin-full', deviceId: 'b1' };
    await a.write({ states: [{ ...key, state: pending(T0) }], presence: [], at: T0 });
    expect([...(await b.adopt([{ deviceId: 'b1', from: 'hub-a' }], clock.now())).ready]).toEqual([]);
    const taken = await b.adopt([{ deviceId: 'b1', from: 'hub-a', overdue: true }], clock.now());
    expect([...taken.ready]).toEqual([['b1', undefined]]);
    expect(taken.states).toEqual([{ ...key, state: pending(T0) }]);
    // A still holds the row while it lives: B's writes are refused, A's stand
    expect(
      await b.write({ states: [{ ...key, state: pending(T0 + 7) }], presence: [], at: clock.now() }),
    ).toEqual([key]);
    expect(
      await a.write({ states: [{ ...key, state: pending(T0 + 9) }], presence: [], at: clock.now() }),
    ).toEqual([]);
  });
});
