import { expect, it } from 'vitest';
import {
  createPushStore,
  openPushStore,
  type PushStore,
  type VapidKeys,
} from '../../src/channels/push-store.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import { postgresChangeFeed } from '../../src/storage/changes.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { describeStores, until } from './stores.ts';

/**
 * Web Push subscriptions and the VAPID keys on both stores (src/channels/push-store.ts): the same answers on
 * SQLite and PostgreSQL, the keys made once however many instances open the store, and "has this person a
 * subscription" (asked synchronously while an alarm routes) current on every instance.
 */
const T0 = Date.parse('2026-12-01T08:00:00+08:00');
let made = 0;
const makeKeys = (): VapidKeys => {
  made++;
  return { publicKey: `public-${made}`, privateKey: `private-${made}` };
};
const phone = (n: number) => ({
  endpoint: `https://push.example.cn/send/${n}`,
  keys: { p256dh: `p256dh-${n}`, auth: `auth-${n}` },
});

describeStores('push subscriptions', ({ dialect, fresh }) => {
  const open = (store: SqlStore, clock: ManualClock): Promise<PushStore> =>
    dialect === 'sqlite'
      ? Promise.resolve(createPushStore(store, clock, makeKeys))
      : openPushStore(store, clock, makeKeys);

  it('keeps each person’s subscriptions; an endpoint subscribed again moves to whoever subscribed it last', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T0);
    const push = await open(sut.store, clock);
    expect(push.hasSubscription('w1')).toBe(false);
    const first = await push.subscribe({
      ...phone(1),
      personId: 'w1',
      username: 'wang.wei',
      userAgent: 'Android',
    });
    expect(first).toMatchObject({ personId: 'w1', username: 'wang.wei', createdAt: T0, lastOkAt: null });
    await push.subscribe({ ...phone(2), personId: 'w1', username: 'wang.wei' });
    expect(push.hasSubscription('w1')).toBe(true);
    expect((await push.list('w1')).map((s) => s.endpoint)).toEqual([phone(1).endpoint, phone(2).endpoint]);

    // the phone changes hands: same endpoint, another person; new keys replace the old
    await push.subscribe({
      ...phone(2),
      keys: { p256dh: 'new', auth: 'new' },
      personId: 'w2',
      username: 'li.na',
    });
    expect((await push.list('w1')).map((s) => s.endpoint)).toEqual([phone(1).endpoint]);
    expect(await push.list('w2')).toMatchObject([{ endpoint: phone(2).endpoint, keys: { p256dh: 'new' } }]);

    // only its owner unsubscribes a phone; the last one gone, the person has none
    expect(await push.unsubscribe(phone(1).endpoint, 'w2')).toBe(false);
    expect(await push.unsubscribe(phone(1).endpoint, 'w1')).toBe(true);
    expect(push.hasSubscription('w1')).toBe(false);

    await push.markOk(phone(2).endpoint, T0 + 5_000);
    expect((await push.list('w2'))[0]?.lastOkAt).toBe(T0 + 5_000);
    await push.remove(phone(2).endpoint);
    expect(push.hasSubscription('w2')).toBe(false);
    expect(await push.list('w2')).toEqual([]);
  });

  it('makes the VAPID key pair once: a second instance, or a restart, signs with the same pair', async () => {
    const sut = await fresh();
    const clock = new ManualClock(T0);
    const before = made;
    const one = await open(sut.store, clock);
    const two = await open(sut.reopen(), clock);
    expect(two.vapidKeys()).toEqual(one.vapidKeys());
    expect(one.vapidKeys().publicKey).toBe(`public-${before + 1}`);
  });

  if (dialect === 'postgres')
    it('another instance hears who subscribed and unsubscribed, and reads all again after a reload', async () => {
      const sut = await fresh();
      const clock = new ManualClock(T0);
      const url = sut.url as string;
      const feedA = postgresChangeFeed(sut.store, url);
      const otherStore = sut.reopen();
      const feedB = postgresChangeFeed(otherStore, url);
      try {
        await Promise.all([feedA.ready(), feedB.ready()]);
        const a = await openPushStore(sut.store, clock, makeKeys, feedA);
        const b = await openPushStore(otherStore, clock, makeKeys, feedB);
        await a.subscribe({ ...phone(1), personId: 'w1', username: 'wang.wei' });
        await until(() => b.hasSubscription('w1'));
        await a.unsubscribe(phone(1).endpoint, 'w1');
        await until(() => !b.hasSubscription('w1'));

        // a change b never heard of (its feed was not listening): the reload finds it
        const c = await openPushStore(sut.reopen(), clock, makeKeys);
        await c.subscribe({ ...phone(3), personId: 'w3', username: 'zhao.lei' });
        expect(b.hasSubscription('w3')).toBe(false);
        await b.reload();
        expect(b.hasSubscription('w3')).toBe(true);
      } finally {
        await feedA.close();
        await feedB.close();
      }
    });
});
