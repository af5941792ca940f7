/**
 * Channel targets: the group robots and other fixed targets told of alerts at a place, for some roles. The
 * statements are written once with Kysely: `createChannelTargetStore` runs them synchronously on the hub's SQLite
 * connection (the dispatcher matches targets synchronously, from memory), `createChannelTargetPort` on either
 * store, answering promises and announcing each edit to the other instances.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Awaitable } from '../domain/awaitable.ts';
import type { PlacePath } from '../domain/places.ts';
import { type ChangeFeed, silentFeed } from '../storage/changes.ts';
import type { SqlStore } from '../storage/sql-store.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import { announcedPort, type EditablePort, holdTable, type WhenFeedReconnects } from './held-list.ts';
import { placeIdsOf } from './places.ts';
import type { AlertStoreTables } from './tables.ts';

export interface ChannelTarget {
  id: number;
  /** Alerts at or under this place (a grid's robot); null = everywhere. */
  placeId: string | null;
  /** Only when this role is notified; null = any. */
  role: string | null;
  channel: string;
  target: string;
  label: string | null;
}

/** Group-robot targets as the dispatcher and the API use them: edits synchronous on SQLite, promises elsewhere. */
export interface ChannelTargetStore {
  list(): Awaitable<ChannelTarget[]>;
  add(t: Omit<ChannelTarget, 'id'>): Awaitable<ChannelTarget>;
  remove(id: number): Awaitable<boolean>;
  /** Targets for an alert at `path` when `roles` are notified. */
  match(path: PlacePath, roles: readonly string[]): ChannelTarget[];
}

/** The channel targets on either store; `list` reads the store, so it is what the memory of a store reloads. */
export type ChannelTargetPort = EditablePort<ChannelTarget, Omit<ChannelTarget, 'id'>>;

/** What `ChangeFeed` announces after an edit: other instances reload their targets. */
export const CHANNEL_TARGETS_TABLE = 'alert_channel_targets';

const toTarget = (r: Selectable<AlertStoreTables['alert_channel_targets']>): ChannelTarget =>
  Object.freeze({
    id: r.id,
    placeId: r.place_id,
    role: r.role,
    channel: r.channel,
    target: r.target,
    label: r.label,
  });

function targetQueries(db: Kysely<AlertStoreTables>) {
  return {
    all: () => db.selectFrom('alert_channel_targets').selectAll().orderBy('id'),
    insert: (t: Omit<ChannelTarget, 'id'>) =>
      db
        .insertInto('alert_channel_targets')
        .values({ place_id: t.placeId, role: t.role, channel: t.channel, target: t.target, label: t.label })
        .returning('id'),
    remove: (id: number) => db.deleteFrom('alert_channel_targets').where('id', '=', id),
  };
}

/** Targets for an alert at `path` when `roles` are notified, among `targets`. */
export function matchTargets(
  targets: readonly ChannelTarget[],
  path: PlacePath,
  roles: readonly string[],
): ChannelTarget[] {
  const places = placeIdsOf(path);
  return targets.filter(
    (t) => (t.placeId === null || places.has(t.placeId)) && (t.role === null || roles.includes(t.role)),
  );
}

export function createChannelTargetStore(db: Db): ChannelTargetStore {
  const store = sqliteStore(db);
  const sync = store.sync as NonNullable<SqlStore['sync']>;
  const q = targetQueries(store.builder<AlertStoreTables>());
  // Every notification asks; targets change when an admin edits them through this store, which drops the copy.
  let cached: readonly ChannelTarget[] | undefined;
  const list = (): ChannelTarget[] => {
    cached ??= sync.all(q.all()).map(toTarget);
    return [...cached];
  };
  return {
    list,
    add(t) {
      const row = sync.first(q.insert(t));
      cached = undefined;
      return { ...t, id: Number(row?.id) };
    },
    remove(id) {
      cached = undefined;
      return sync.write(q.remove(id)) > 0;
    },
    match: (path, roles) => matchTargets(list(), path, roles),
  };
}

export function createChannelTargetPort(
  store: SqlStore,
  changes: ChangeFeed = silentFeed,
): ChannelTargetPort {
  const q = targetQueries(store.builder<AlertStoreTables>());
  return announcedPort(store, CHANNEL_TARGETS_TABLE, q, toTarget, (t, id) => ({ ...t, id }), changes);
}

/** Group-robot targets on a shared database: edits through `port`, the list held in memory for `match`. */
export async function heldChannelTargets(
  port: ChannelTargetPort,
  changes: ChangeFeed = silentFeed,
  whenFeedReconnects?: WhenFeedReconnects,
): Promise<ChannelTargetStore> {
  const held = await holdTable(port, CHANNEL_TARGETS_TABLE, changes, whenFeedReconnects);
  return {
    list: held.list,
    add: held.add,
    remove: held.remove,
    match: (path, roles) => matchTargets(held.items(), path, roles),
  };
}
