/**
 * Web Push subscriptions per person and the VAPID key pair, in the channels module's tables, on either store
 * (issue #18): one set of Kysely statements. The raise asks "does this person have a push subscription?" for
 * every recipient while it routes, synchronously, so the set of people with subscriptions is held in memory,
 * kept current by this store's own writes and, on a shared database, by the other instances' announcements
 * (`push_subscriptions`, by person) on the change feed. The keys are read (or made) once at open. Everything
 * else — the subscriptions themselves, at delivery time and in the API — is read from the store.
 */
import type { Generated, Insertable, Selectable } from 'kysely';
import type { Clock } from '../clock/clock.ts';
import { type ChangeFeed, silentFeed } from '../storage/changes.ts';
import { migrateModule, migrateModuleSync } from '../storage/migrations.ts';
import type { SqlStore } from '../storage/sql-store.ts';
import { CHANNELS_MIGRATIONS } from './schema.ts';

/** A browser's PushSubscription as the worker view posts it (`subscription.toJSON()`). */
export interface PushSubscriptionInput {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface StoredSubscription extends PushSubscriptionInput {
  id: number;
  personId: string;
  username: string;
  userAgent: string | null;
  createdAt: number;
  lastOkAt: number | null;
}

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

export interface PushStore {
  /** The VAPID key pair: made on the first open and kept in the store, so subscriptions survive restarts. */
  vapidKeys(): VapidKeys;
  /** Whether the person has a subscription (held in memory: the raise asks it while routing). */
  hasSubscription(personId: string): boolean;
  subscribe(
    input: PushSubscriptionInput & { personId: string; username: string; userAgent?: string | null },
  ): Promise<StoredSubscription>;
  unsubscribe(endpoint: string, personId: string): Promise<boolean>;
  list(personId: string): Promise<StoredSubscription[]>;
  /** Drop a subscription the push service called expired (404/410). */
  remove(endpoint: string): Promise<void>;
  markOk(endpoint: string, at: number): Promise<void>;
  /** Read the people with subscriptions again (the change feed was down). */
  reload(): Promise<void>;
}

interface PushTables {
  push_subscriptions: {
    id: Generated<number>;
    person_id: string;
    username: string;
    endpoint: string;
    p256dh: string;
    auth: string;
    user_agent: string | null;
    created_at: number;
    last_ok_at: number | null;
  };
  alert_keys: { name: string; value: string; created_at: number };
}

type SubRow = Selectable<PushTables['push_subscriptions']>;
const TABLE = 'push_subscriptions';

const toSub = (r: SubRow): StoredSubscription => ({
  id: Number(r.id),
  personId: r.person_id,
  username: r.username,
  endpoint: r.endpoint,
  keys: { p256dh: r.p256dh, auth: r.auth },
  userAgent: r.user_agent,
  createdAt: Number(r.created_at),
  lastOkAt: r.last_ok_at === null ? null : Number(r.last_ok_at),
});

function queries(store: SqlStore) {
  const db = store.builder<PushTables>();
  return {
    keys: db.selectFrom('alert_keys').select('value').where('name', '=', 'vapid'),
    // ON CONFLICT DO NOTHING, then read back: instances starting together agree on whichever pair was first
    putKeys: (value: string, at: number) =>
      db
        .insertInto('alert_keys')
        .values({ name: 'vapid', value, created_at: at })
        .onConflict((oc) => oc.column('name').doNothing()),
    people: db.selectFrom('push_subscriptions').select('person_id').distinct(),
    personHas: (personId: string) =>
      db.selectFrom('push_subscriptions').select('id').where('person_id', '=', personId).limit(1),
    ofPerson: (personId: string) =>
      db.selectFrom('push_subscriptions').selectAll().where('person_id', '=', personId).orderBy('id'),
    byEndpoint: (endpoint: string) =>
      db.selectFrom('push_subscriptions').selectAll().where('endpoint', '=', endpoint),
    upsert: (row: Insertable<PushTables['push_subscriptions']>) =>
      db
        .insertInto('push_subscriptions')
        .values(row)
        .onConflict((oc) =>
          oc.column('endpoint').doUpdateSet((eb) => ({
            person_id: eb.ref('excluded.person_id'),
            username: eb.ref('excluded.username'),
            p256dh: eb.ref('excluded.p256dh'),
            auth: eb.ref('excluded.auth'),
            user_agent: eb.ref('excluded.user_agent'),
          })),
        )
        .returningAll(),
    unsubscribe: (endpoint: string, personId: string) =>
      db.deleteFrom('push_subscriptions').where('endpoint', '=', endpoint).where('person_id', '=', personId),
    remove: (endpoint: string) =>
      db.deleteFrom('push_subscriptions').where('endpoint', '=', endpoint).returning('person_id'),
    markOk: (endpoint: string, at: number) =>
      db.updateTable('push_subscriptions').set({ last_ok_at: at }).where('endpoint', '=', endpoint),
  };
}

type Queries = ReturnType<typeof queries>;

const keysOf = (stored: { value: string } | undefined): VapidKeys => {
  if (!stored) throw new Error('the VAPID keys were written but cannot be read back');
  return JSON.parse(stored.value) as VapidKeys;
};

/**
 * On the hub's SQLite file, opened synchronously (the dispatcher's harnesses and the embedded hub build their
 * channels synchronously); `makeKeys` makes a fresh key pair when the store has none.
 */
export function createPushStore(store: SqlStore, clock: Clock, makeKeys: () => VapidKeys): PushStore {
  const sync = store.sync;
  if (!sync) throw new Error('createPushStore opens SQLite only: use openPushStore for PostgreSQL');
  migrateModuleSync(store, 'channels', CHANNELS_MIGRATIONS);
  const q = queries(store);
  let stored = sync.first(q.keys);
  if (!stored) {
    sync.write(q.putKeys(JSON.stringify(makeKeys()), clock.now()));
    stored = sync.first(q.keys);
  }
  const people = new Set(sync.all(q.people).map((r) => r.person_id));
  return pushStoreOn(store, clock, q, keysOf(stored), people, silentFeed);
}

/** On either store, with the other instances' subscription changes heard on `changes`. */
export async function openPushStore(
  store: SqlStore,
  clock: Clock,
  makeKeys: () => VapidKeys,
  changes: ChangeFeed = silentFeed,
): Promise<PushStore> {
  await migrateModule(store, 'channels', CHANNELS_MIGRATIONS);
  const q = queries(store);
  let stored = await store.first(q.keys);
  if (!stored) {
    await store.write(q.putKeys(JSON.stringify(makeKeys()), clock.now()));
    stored = await store.first(q.keys);
  }
  const people = new Set((await store.all(q.people)).map((r) => r.person_id));
  return pushStoreOn(store, clock, q, keysOf(stored), people, changes);
}

function pushStoreOn(
  store: SqlStore,
  clock: Clock,
  q: Queries,
  keys: VapidKeys,
  people: Set<string>,
  changes: ChangeFeed,
): PushStore {
  /** Whether the person still has a subscription, read from the store, and told to the other instances. */
  const recheck = async (personId: string, announce: boolean): Promise<void> => {
    if (await store.first(q.personHas(personId))) people.add(personId);
    else people.delete(personId);
    if (announce) await changes.announce({ table: TABLE, id: personId });
  };
  changes.subscribe((change) => {
    if (change.table === TABLE) void recheck(change.id, false).catch(() => {});
  });
  return {
    vapidKeys: () => keys,
    hasSubscription: (personId) => people.has(personId),
    async subscribe(input) {
      // an endpoint re-subscribed under another person moves to them: both people may have changed
      const before = await store.first(q.byEndpoint(input.endpoint));
      const row = await store.first(
        q.upsert({
          person_id: input.personId,
          username: input.username,
          endpoint: input.endpoint,
          p256dh: input.keys.p256dh,
          auth: input.keys.auth,
          user_agent: input.userAgent ?? null,
          created_at: clock.now(),
        }),
      );
      people.add(input.personId);
      await changes.announce({ table: TABLE, id: input.personId });
      if (before && before.person_id !== input.personId) await recheck(before.person_id, true);
      return toSub(row as SubRow);
    },
    async unsubscribe(endpoint, personId) {
      const gone = (await store.write(q.unsubscribe(endpoint, personId))) > 0;
      if (gone) await recheck(personId, true);
      return gone;
    },
    async list(personId) {
      return (await store.all(q.ofPerson(personId))).map(toSub);
    },
    async remove(endpoint) {
      for (const { person_id } of await store.all(q.remove(endpoint))) await recheck(person_id, true);
    },
    async markOk(endpoint, at) {
      await store.write(q.markOk(endpoint, at));
    },
    async reload() {
      const now = new Set((await store.all(q.people)).map((r) => r.person_id));
      people.clear();
      for (const p of now) people.add(p);
    },
  };
}
