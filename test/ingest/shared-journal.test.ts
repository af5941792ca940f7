import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import type { EventReading, Reading } from '../../src/domain/reading.ts';
import { orphanSweep } from '../../src/hub.ts';
import { postgresJournal } from '../../src/ingest/journal.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createInstanceLease } from '../../src/storage/leases.ts';
import { postgresStore } from '../../src/storage/postgres.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { type Harness, removeDir, startHarness } from './harness.ts';
import { ackOf, connectRaw, type RawClient } from './raw-mqtt.ts';

/** Wait for what the hub writes behind the acknowledgement (the row marked done), failing after 5 s. */
async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The QoS 1 journal on a shared PostgreSQL, through the real broker with real mqtt.js devices: a QoS 1 event is
 * in the shared store before its PUBACK, and survives the instance that took it, its disk included — another
 * instance, with a data dir of its own, replays it once the first one's lease has run out.
 */
if (POSTGRES_MISSING) console.warn(POSTGRES_MISSING);

describe.skipIf(POSTGRES_MISSING !== undefined)('QoS 1 journal on the shared store', () => {
  let cluster: TestPostgres;
  const stores: SqlStore[] = [];
  const harnesses: Harness[] = [];
  beforeAll(async () => {
    cluster = await startPostgres();
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) {
      await h.close();
      removeDir(h.dir);
    }
    for (const s of stores.splice(0)) await s.close();
  });
  const open = (url: string) => {
    const s = postgresStore(url, { maxConnections: 4 });
    stores.push(s);
    return s;
  };

  const count = async (s: SqlStore, table: string) =>
    Number(
      (
        await s.first(
          s
            .builder<Record<string, { n: number }>>()
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n')),
        )
      )?.n,
    );

  it('the PUBACK goes only after the COMMIT: a journal write held by a lock holds the acknowledgement', async () => {
    const url = await cluster.createDatabase();
    const store = open(url);
    const h = await startHarness({}, undefined, {}, await postgresJournal(store, 'hub-a'));
    harnesses.push(h);
    const delivered: Reading[] = [];
    h.sink.onReading = (r) => void delivered.push(r);

    // another session holds a lock that blocks INSERTs into the journal
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ingest_journal IN SHARE MODE');
      const c = await h.connectDevice('call_button');
      let acked = false;
      const published = c
        .publishAsync(`gh/${h.devices.call_button.id}/event`, '{"event":"press"}', { qos: 1 })
        .then(() => {
          acked = true;
        });
      // the hub's INSERT is waiting on the lock: it has not committed, so nothing may have been acknowledged.
      // Asked from a session outside the locker's transaction, which sees the statistics as they were at BEGIN.
      const waiting = async () =>
        (
          await store.pool.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND query ILIKE '%insert into "ingest_journal"%'`,
          )
        ).rows[0].n as number;
      for (const deadline = Date.now() + 10_000; (await waiting()) === 0; ) {
        if (Date.now() > deadline) throw new Error('the journal INSERT never reached the lock');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(acked).toBe(false);
      expect(delivered).toEqual([]);
      await locker.query('COMMIT');
      await published;
      expect(delivered).toEqual([expect.objectContaining({ kind: 'event', event: 'press' })]);
      expect((delivered[0] as EventReading).journalId).toBeGreaterThan(0);
      // its identity is in the shared store (a resend is recognised there), its row is done behind the PUBACK
      expect(await count(store, 'ingest_seen')).toBe(1);
      await until(async () => (await count(store, 'ingest_journal')) === 0, 'journal row done');
    } finally {
      await locker.end();
    }
  });

  it('a flood of QoS 1 presses shares few commits, and every press is handed on once, in order, after its commit', async () => {
    const url = await cluster.createDatabase();
    const store = open(url);
    const journal = await postgresJournal(store, 'hub-a');
    let commits = 0;
    const counted = {
      ...journal,
      record: (...args: Parameters<typeof journal.record>) => {
        commits++;
        return journal.record(...args);
      },
    };
    const h = await startHarness({}, undefined, {}, counted);
    harnesses.push(h);
    const c = await h.connectDevice('call_button');
    const topic = `gh/${h.devices.call_button.id}/event`;
    const n = 300;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        c.publishAsync(topic, `{"event":"press","eventId":"p-${i}"}`, { qos: 1 }),
      ),
    );
    const presses = h.readings as EventReading[];
    expect(presses.map((r) => r.eventId)).toEqual(Array.from({ length: n }, (_, i) => `p-${i}`));
    const ids = presses.map((r) => r.journalId as number);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(n);
    // while one batch is committing the next one gathers: far fewer round trips than presses
    expect(commits).toBeLessThan(n / 2);
    expect(await count(store, 'ingest_seen')).toBe(n * 2);
    await until(async () => (await count(store, 'ingest_journal')) === 0, 'journal rows done');
  });

  it("an acknowledged event outlives its instance and that instance's disk: another replays it after the lease", async () => {
    const url = await cluster.createDatabase();
    const leaseClock = new ManualClock();
    const storeA = open(url);
    const journalA = await postgresJournal(storeA, 'hub-a');
    await createInstanceLease(storeA, { instanceId: 'hub-a', clock: leaseClock, ttlMs: 15_000 }).renew();
    const a = await startHarness({}, undefined, {}, journalA);
    harnesses.push(a);
    // the rules stage fails: the event stays journaled (acknowledged all the same), and then the instance dies
    a.sink.onReading = () => {
      throw new Error('rules crashed');
    };
    const c = await a.connectDevice('call_button');
    await c.publishAsync(`gh/${a.devices.call_button.id}/event`, '{"event":"fall"}', { qos: 1 });
    expect(await count(storeA, 'ingest_journal')).toBe(1);
    await a.close();
    removeDir(a.dir);
    harnesses.splice(0);

    // another instance, another data dir (the first one's disk is gone), the same database
    const storeB = open(url);
    const b = await startHarness({}, undefined, {}, await postgresJournal(storeB, 'hub-b'));
    harnesses.push(b);
    // while A's lease runs, its row is A's
    expect(await b.ingest.replayJournal()).toBe(0);
    expect(b.readings).toEqual([]);
    b.clock.advance(15_001);
    expect(await b.ingest.replayJournal()).toBe(1);
    expect(b.readings).toEqual([
      expect.objectContaining({ kind: 'event', event: 'fall', deviceId: 'callbutton-1', qos: 1 }),
    ]);
    await until(async () => (await count(storeB, 'ingest_journal')) === 0, 'replayed row done');
    expect(await b.ingest.replayJournal()).toBe(0);
  });
  it("the heartbeat's sweep: a running instance replays a dead one's event once after the lease, never its own", async () => {
    const url = await cluster.createDatabase();
    const storeA = open(url);
    const a = await startHarness({}, undefined, {}, await postgresJournal(storeA, 'hub-a'));
    harnesses.push(a);
    // A's lease, on a clock of its own at the same instant as B's: renewed once, then A stops renewing
    const leaseClockA = new ManualClock(a.clock.now());
    const leaseA = createInstanceLease(storeA, { instanceId: 'hub-a', clock: leaseClockA, ttlMs: 15_000 });
    await leaseA.renew();
    // A's rules stage fails: the event is acknowledged and journaled, in flight in A's retry queue
    let aBroken = true;
    let bBroken = true;
    const handed: { by: string; eventId: string | undefined }[] = [];
    a.sink.onReading = (r) => {
      if (aBroken) throw new Error('rules crashed');
      handed.push({ by: 'a', eventId: (r as EventReading).eventId });
    };
    const ca = await a.connectDevice('call_button');
    await ca.publishAsync(`gh/${a.devices.call_button.id}/event`, '{"event":"fall","eventId":"a-1"}', {
      qos: 1,
    });

    const storeB = open(url);
    const b = await startHarness({}, undefined, {}, await postgresJournal(storeB, 'hub-b'));
    harnesses.push(b);
    // B's own event stays in flight too: its rules refuse it, so its row is B's, in B's retry queue
    b.sink.onReading = (r) => {
      const eventId = (r as EventReading).eventId;
      if (eventId === 'b-1' && bBroken) throw new Error('rules crashed');
      handed.push({ by: 'b', eventId });
    };
    // on another device: one device's events go in order, so a-1 (the call button's) would wait behind b-1
    const cb = await b.connectDevice('smoke');
    await cb.publishAsync(`gh/${b.devices.smoke.id}/event`, '{"event":"alarm","eventId":"b-1"}', { qos: 1 });
    const owners = async () =>
      (
        await storeB.pool.query<{ owner: string; reading: string }>(
          'SELECT owner, reading FROM ingest_journal ORDER BY id',
        )
      ).rows.map((r) => [r.owner, (JSON.parse(r.reading) as EventReading).eventId]);
    expect(await owners()).toEqual([
      ['hub-a', 'a-1'],
      ['hub-b', 'b-1'],
    ]);

    // B runs its lease with the sweep, on its clock
    const leaseB = createInstanceLease(storeB, { instanceId: 'hub-b', clock: b.clock, ttlMs: 15_000 });
    const sweep = orphanSweep({
      devices: b.registry.devices,
      ingest: b.ingest,
      // this harness runs ingest alone: no dispatcher, so no due steps or outbox rows to take over
      dispatcher: { takeOver: async () => 0 },
      log: createLogger('silent'),
    });
    const sweptAt: number[] = [];
    const errors: unknown[] = [];
    leaseB.start(
      (err) => void errors.push(err),
      async (now) => {
        await sweep(now);
        sweptAt.push(now);
      },
    );
    const start = b.clock.now();
    const sweepAt = async (offset: number) => {
      b.clock.advance(start + offset - b.clock.now());
      await until(async () => sweptAt.includes(start + offset), `the sweep at +${offset} ms`);
    };
    try {
      await sweepAt(0);
      await sweepAt(5_000);
      await sweepAt(10_000);
      // while A's lease runs, its row is A's: nobody has taken a-1
      expect(handed).toEqual([]);
      // the sweep after the lease (15 s, one lease period): a-1 is B's and handed on, once
      await sweepAt(15_000);
      expect(handed).toEqual([{ by: 'b', eventId: 'a-1' }]);
      await until(async () => (await owners()).length === 1, 'the replayed row done');
      // B's own row in flight was never taken by the sweep: still B's, still waiting for B's own re-feed
      expect(await owners()).toEqual([['hub-b', 'b-1']]);
      await sweepAt(20_000);
      expect(handed).toEqual([{ by: 'b', eventId: 'a-1' }]);

      // A was only paused: its lease is renewed late, its rules work again, and its retry comes due
      aBroken = false;
      leaseClockA.advance(b.clock.now() - leaseClockA.now());
      await leaseA.renew();
      // A's pipeline wakes at B's now (B's lease is live): its re-feed, due long ago, runs
      a.clock.advance(b.clock.now() - a.clock.now());
      // A's retry checks its rows first and finds a-1 taken over: it drops it instead of handing it on again
      await until(
        async () => /gridhub_ingest_journal_taken_over_total 1\b/.test(await a.metrics.metrics()),
        "A's retry finding its row taken over",
      );
      expect(handed).toEqual([{ by: 'b', eventId: 'a-1' }]);
      // and a restart of A with its old id finds nothing of its own: the row is done
      expect(await a.ingest.replayJournal()).toBe(0);
      expect(handed).toEqual([{ by: 'b', eventId: 'a-1' }]);
      // B's rules recover: its own event is re-fed by its own retry, once (a sweep that took it would have
      // queued it a second time)
      bBroken = false;
      b.clock.advance(30_000);
      await until(async () => (await owners()).length === 0, "B's own row done");
      expect(handed.filter((h) => h.eventId === 'b-1')).toEqual([{ by: 'b', eventId: 'b-1' }]);
      expect(errors).toEqual([]);
    } finally {
      await leaseB.stop();
    }
  });
  it('a resend to another instance is recognised: the identities are read from the shared store at CONNECT', async () => {
    const url = await cluster.createDatabase();
    const a = await startHarness({}, undefined, {}, await postgresJournal(open(url), 'hub-a'));
    harnesses.push(a);
    const b = await startHarness({}, undefined, {}, await postgresJournal(open(url), 'hub-b'));
    harnesses.push(b);
    const raws: RawClient[] = [];
    const creds = (h: Harness) => ({
      username: h.devices.call_button.id,
      password: h.devices.call_button.secret,
    });
    try {
      const topic = `gh/${a.devices.call_button.id}/event`;
      const toA = await connectRaw(a.port, creds(a));
      raws.push(toA);
      toA.publish({ topic, payload: '{"event":"fall"}', qos: 1, messageId: 7 });
      await toA.next(ackOf('puback', 7));
      expect(a.readings).toEqual([expect.objectContaining({ kind: 'event', event: 'fall' })]);
      // the PUBACK was lost on the way: the device's network drops, it reconnects to B and resends with DUP
      await toA.drop();
      const toB = await connectRaw(b.port, creds(b));
      raws.push(toB);
      toB.publish({ topic, payload: '{"event":"fall"}', qos: 1, messageId: 7, dup: true });
      await toB.next(ackOf('puback', 7));
      // acknowledged, not taken again: one event across both instances, the duplicate counted by B
      expect(b.readings).toEqual([]);
      expect(await b.counter('gridhub_ingest_duplicates_total', { reason: 'dup_flag' })).toBe(1);
      // the device's next message on B is taken as usual
      toB.publish({ topic, payload: '{"event":"press"}', qos: 1, messageId: 8 });
      await toB.next(ackOf('puback', 8));
      expect(b.readings).toEqual([expect.objectContaining({ kind: 'event', event: 'press' })]);
    } finally {
      for (const r of raws) r.socket.destroy();
    }
  });
});
