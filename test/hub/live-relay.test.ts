import type { CompiledQuery } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAlertStream } from '../../src/channels/stream.ts';
import { createEventBus } from '../../src/domain/events.ts';
import { createLiveRelay, type LiveRelay, relayAnnouncement } from '../../src/live-relay.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { type ChangeFeed, postgresChangeFeed } from '../../src/storage/changes.ts';
import { postgresStore } from '../../src/storage/postgres.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { createHarness, type Harness, raise, seedCommunity, silentLog } from '../alerts/fixtures.ts';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { until } from '../storage/stores.ts';

/**
 * The live stream across instances (src/live-relay.ts): what one instance's dispatcher commits reaches the SSE
 * subscribers of another instance, through the PostgreSQL change feed, in order, once; the instance that made the
 * change streams it from its own bus and is not sent it a second time. One dispatcher stands for the shared
 * store both instances read.
 */
describe.skipIf(POSTGRES_MISSING !== undefined)('the live stream across instances', () => {
  let pgc: TestPostgres;
  let h: Harness;
  const closing: (() => Promise<void> | void)[] = [];
  beforeAll(async () => {
    pgc = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await pgc?.stop();
  });
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
  });

  async function instance(url: string, bus = createEventBus(silentLog)) {
    const store: SqlStore = postgresStore(url);
    const changes: ChangeFeed = postgresChangeFeed(store, url);
    await changes.ready();
    const stream = createAlertStream({
      maxBufferedBytes: 512 * 1024,
      metrics: createMetricsRegistry({ defaultMetrics: false }),
      log: silentLog,
    });
    // as the composition root does: the instance's own changes go to its own stream from its bus
    bus.on('alert.streamed', stream.publish);
    // what the relay reads back from the shared store: only the changes whose view did not fit in the notice
    const reads: string[] = [];
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const relay: LiveRelay = createLiveRelay({
      bus,
      changes,
      stream,
      read: (id) => {
        reads.push(id);
        return h.dispatcher.get(id);
      },
      log: silentLog,
      metrics,
    });
    const heard: { type: string; alertId: string; status: unknown; detail: unknown }[] = [];
    stream.subscribe((m) =>
      heard.push({ type: m.type, alertId: m.alertId, status: m.alert.status, detail: m.alert.detail }),
    );
    closing.push(
      () => relay.close(),
      () => changes.close(),
      () => store.close(),
    );
    /** The relay's own count of other instances' changes: heard, streamed, skipped, waiting. */
    const counts = async () => {
      const v = async (name: string) => (await metrics.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
      return {
        heard: await v('gridhub_live_relay_heard_total'),
        streamed: await v('gridhub_live_relay_streamed_total'),
        skipped: await v('gridhub_live_relay_skipped_total'),
        waiting: await v('gridhub_live_relay_waiting'),
      };
    };
    return { bus, relay, heard, reads, counts };
  }

  /** Two instances on a fresh database; A's dispatcher (the harness's) makes the changes. */
  async function twoInstances() {
    const url = await pgc.createDatabase();
    h = createHarness();
    closing.push(() => h.close());
    seedCommunity(h.registry);
    return { a: await instance(url, h.bus), b: await instance(url) };
  }

  it('a change committed on one instance reaches the other’s board, in order, and nobody hears it twice', async () => {
    const { a, b } = await twoInstances();

    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1u1' }));
    const id = a.heard[0]?.alertId as string;
    expect(id).toBeTruthy();
    await h.dispatcher.acknowledge(id, 'w1');
    const own = a.heard.map((m) => m.type);
    expect(own).toContain('opened');
    expect(own.at(-1)).toBe('acknowledged');

    await until(() => b.heard.length === own.length);
    expect(b.heard.map((m) => m.type)).toEqual(own);
    expect(b.heard.every((m) => m.alertId === id)).toBe(true);
    // each message shows the alert as its change left it, as the instance that made the change streamed it, and
    // came with the announcement: B read nothing back from the store
    expect(b.heard.map((m) => m.status)).toEqual(a.heard.map((m) => m.status));
    expect(b.heard.at(-1)?.status).toBe('acknowledged');
    expect(b.reads).toEqual([]);

    // one more change: B hears exactly one more message, A still only its own (it ignores its own notices)
    await h.dispatcher.arrive(id, 'w1');
    await until(() => b.heard.length === own.length + 1);
    await b.relay.settled();
    expect(b.heard.at(-1)?.type).toBe(a.heard.at(-1)?.type);
    expect(a.heard.filter((m) => m.type === 'acknowledged')).toHaveLength(1);
    // what an operator compares across instances: B heard and streamed each of A's changes, A none of its own
    expect(await b.counts()).toEqual({
      heard: b.heard.length,
      streamed: b.heard.length,
      skipped: 0,
      waiting: 0,
    });
    expect((await a.counts()).heard).toBe(0);
  });
  it('an alert too large for one notice is read back from the store and still streamed, in order', async () => {
    const { a, b } = await twoInstances();
    // a view over PostgreSQL's 8000-byte NOTIFY payload: 3 000 Chinese characters are 9 000 bytes of UTF-8
    const detail = '烟'.repeat(3_000);
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1u1', detail }));
    const id = a.heard[0]?.alertId as string;
    await until(() => b.heard.length === a.heard.length);
    await b.relay.settled();
    expect(b.heard.map((m) => m.type)).toEqual(a.heard.map((m) => m.type));
    expect(b.heard.every((m) => m.detail === detail)).toBe(true);
    // read back, at most once per change (once per batch of the changes heard together)
    expect(b.reads.length).toBeGreaterThan(0);
    expect(b.reads.length).toBeLessThanOrEqual(b.heard.length);
    expect(new Set(b.reads)).toEqual(new Set([id]));
  });
  it('announces a change inside its transaction: delivered with the commit, never after a rollback', async () => {
    const url = await pgc.createDatabase();
    const store: SqlStore = postgresStore(url);
    const speaker = postgresChangeFeed(store, url);
    const listener = postgresChangeFeed(postgresStore(url), url);
    await Promise.all([speaker.ready(), listener.ready()]);
    closing.push(
      () => listener.close(),
      () => speaker.close(),
      () => store.close(),
    );
    const heard: string[] = [];
    listener.subscribe((c) => heard.push(`${c.id}:${c.kind}`));
    const notice = (id: string, kind: string) =>
      speaker.inTransaction([relayAnnouncement({ alertId: id, type: kind, at: 1 })]);
    await expect(
      store.transaction(async (tx) => {
        await tx.first(notice('a1', 'opened') as CompiledQuery);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await store.transaction(async (tx) => {
      await tx.first(notice('a2', 'opened') as CompiledQuery);
      // two changes of one transaction in one statement, heard in order
      await tx.first(
        speaker.inTransaction([
          relayAnnouncement({ alertId: 'a2', type: 'dispatched', at: 2 }),
          relayAnnouncement({ alertId: 'a2', type: 'acknowledged', at: 3 }),
        ]) as CompiledQuery,
      );
    });
    await until(() => heard.length === 3);
    // notices arrive in commit order: had the rolled-back one been sent, it would be first
    expect(heard).toEqual(['a2:opened', 'a2:dispatched', 'a2:acknowledged']);
  });
});
