/**
 * The dispatcher awaits its store (issue #18): two results can be in it at once. On SQLite its transactions still
 * run one at a time on the hub's one connection, each within one turn of the event loop; these tests hand results
 * in without waiting for the ones before, as the flow and the API do when several arrive together.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sqliteAlertStore } from '../../src/alerts/sqlite-alert-store.ts';
import type { EventReading } from '../../src/domain/reading.ts';
import type { AlertClear } from '../../src/domain/rule-result.ts';
import { TransactionSpansTurnError } from '../../src/storage/sql-store.ts';
import { sqliteStore } from '../../src/storage/sqlite-kysely.ts';
import { createHarness, type Harness, raise, seedCommunity } from './fixtures.ts';

let h: Harness;

afterEach(async () => {
  await h?.close();
});

async function start(): Promise<Harness> {
  h = createHarness();
  seedCommunity(h.registry);
  await h.dispatcher.start();
  return h;
}

const suppressions = () =>
  h.db.prepare('SELECT device_id FROM alert_suppressions ORDER BY device_id').all() as {
    device_id: string;
  }[];

describe('alert store transactions on SQLite', () => {
  it('runs transactions asked at once one after another: a rollback takes none of the other’s statements', async () => {
    await start();
    const store = sqliteAlertStore(h.db);
    const order: string[] = [];
    const first = store.transaction(async () => {
      order.push('first:begin');
      await store.statements.suppress('r', 'dev-a', 1, 'test');
      await Promise.resolve();
      order.push('first:end');
      throw new Error('first fails');
    });
    const second = store.transaction(async () => {
      order.push('second:begin');
      await store.statements.suppress('r', 'dev-b', 1, 'test');
      order.push('second:end');
    });
    await expect(first).rejects.toThrow('first fails');
    await second;
    expect(order).toEqual(['first:begin', 'first:end', 'second:begin', 'second:end']);
    // Interleaved inside the first BEGIN, dev-b would have been rolled back with dev-a.
    expect(suppressions()).toEqual([{ device_id: 'dev-b' }]);
  });

  it('rolls back a body that awaits anything but its own statements, with TransactionSpansTurnError', async () => {
    await start();
    const store = sqliteAlertStore(h.db);
    await expect(
      store.transaction(async () => {
        await store.statements.suppress('r', 'dev-a', 1, 'test');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }),
    ).rejects.toBeInstanceOf(TransactionSpansTurnError);
    expect(suppressions()).toEqual([]);
    expect(h.db.inTransaction).toBe(false);
  });

  it('shares one queue with the Kysely stores on the connection: both kinds asked at once both commit', async () => {
    await start();
    const store = sqliteAlertStore(h.db);
    const kysely = sqliteStore(h.db);
    const b = kysely.builder<{
      alert_suppressions: { rule_id: string; device_id: string; until: number; reason: string };
    }>();
    await Promise.all([
      kysely.transaction(async (tx) => {
        await tx.write(
          b
            .insertInto('alert_suppressions')
            .values({ rule_id: 'r', device_id: 'dev-k', until: 1, reason: 'k' }),
        );
        await Promise.resolve();
      }),
      store.transaction(async () => {
        await store.statements.suppress('r', 'dev-s', 1, 'test');
      }),
    ]);
    expect(suppressions()).toEqual([{ device_id: 'dev-k' }, { device_id: 'dev-s' }]);
  });
});

describe('the dispatcher with results in flight together', () => {
  it('opens one alert for a press that reached two instances: the same eventId under two journal ids', async () => {
    // Owner routing under load (issue #18, "0 alerts doubled"): an instance whose lease ran out while it was
    // stalled still took the press from its socket backlog, and the instance that took its devices over fed
    // its shadowed copy; each journaled it (two journal ids), and a per-occurrence rule opens one alert a raise.
    await start();
    const press = (journalId: number) => {
      const r = raise(h.registry, h.clock, {
        placeId: 'b1',
        deviceId: 'call-twice',
        ruleId: 'call-button-press',
        dedup: 'per-occurrence',
      });
      if (r.kind !== 'raise') throw new Error('a raise');
      const reading: EventReading = {
        kind: 'event',
        deviceId: r.deviceId,
        deviceType: r.deviceType,
        placeId: r.placeId,
        place: r.place,
        floor: r.floor,
        ts: r.at,
        receivedAt: r.at,
        qos: 1,
        event: 'press',
        data: {},
        eventId: 'press-1',
        journalId,
      };
      return { ...r, reading };
    };
    await h.dispatcher.handle(press(11));
    await h.dispatcher.handle(press(42));
    // another press of the same device is another alert
    await h.dispatcher.handle({ ...press(43), reading: { ...press(43).reading, eventId: 'press-2' } });
    const { items } = await h.dispatcher.list({});
    expect(items.filter((a) => a.deviceId === 'call-twice')).toHaveLength(2);
  });

  it('deduplicates two raises of one device handed in at once: one alert, counted twice', async () => {
    await start();
    const a = raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-same' });
    const b = raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-same' });
    await Promise.all([h.dispatcher.handle(a), h.dispatcher.handle(b)]);
    const { total, items } = await h.dispatcher.list({});
    expect(total).toBe(1);
    expect(items[0]?.count).toBe(2);
  });

  it('keeps a device’s results in the order they were handed in: a raise and its clear end resolved', async () => {
    await start();
    const up = raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-order' });
    const clear: AlertClear = {
      kind: 'clear',
      ruleId: up.ruleId,
      deviceId: up.deviceId,
      deviceType: up.deviceType,
      placeId: up.placeId,
      place: up.place,
      floor: up.floor,
      at: up.at,
      resolution: 'auto',
      note: 'smoke cleared',
    };
    await Promise.all([h.dispatcher.handle(up), h.dispatcher.handle(clear)]);
    const [alert] = (await h.dispatcher.list({})).items;
    expect(alert?.status).toBe('resolved');
    const types = (await h.dispatcher.timeline(alert?.id ?? '')).map((e) => e.type);
    expect(types.indexOf('opened')).toBeLessThan(types.indexOf('resolved'));
  });

  it('gives the lane slot of a raise that rolled back to the raise queued behind it', async () => {
    h = createHarness({ config: { laneConcurrency: 1 } });
    seedCommunity(h.registry);
    await h.dispatcher.start();
    await h.dispatcher.drain();
    // The first raise's ladder timers are refused (it rolls back after queuing its alarm, claimed at the insert);
    // the trigger goes before the second raise's transaction begins.
    h.db.exec(
      "CREATE TRIGGER refuse_timers BEFORE INSERT ON alert_timers WHEN NEW.alert_id IN (SELECT id FROM alerts WHERE device_id = 'smoke-x') BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
    );
    const failing = h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-x' }));
    const next = h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-y' }));
    await expect(failing).rejects.toThrow(/disk says no/);
    await next;
    const sent = h.publisher.to('w1');
    expect(sent).toHaveLength(1);
    expect(JSON.stringify(sent[0])).toContain('smoke-y');
  });
});
