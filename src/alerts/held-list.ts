import { type ChangeFeed, silentFeed } from '../storage/changes.ts';
import type { SqlStore, Statement } from '../storage/sql-store.ts';

/** Registers a reload for when the change feed listens again after a gap (its notices meanwhile are lost). */
export type WhenFeedReconnects = (reload: () => Promise<void>) => void;

/**
 * A small table the raise reads on every message (quiet hours, group-robot targets), held in memory on a shared
 * database: read at open, read again after this instance's own edits and whenever another instance announces an
 * edit of `table` on the change feed. Reads of one reload at a time; a reload asked meanwhile runs after it, so
 * the copy never ends older than the last edit heard.
 */
export interface HeldList<T> {
  items(): readonly T[];
  reload(): Promise<void>;
}

export async function holdList<T>(
  load: () => Promise<T[]>,
  table: string,
  changes: ChangeFeed = silentFeed,
  onError: (err: unknown) => void = () => {},
): Promise<HeldList<T>> {
  let items: readonly T[] = await load();
  let running: Promise<void> = Promise.resolve();
  const reload = (): Promise<void> => {
    running = running
      .catch(() => {})
      .then(async () => {
        items = await load();
      });
    return running;
  };
  changes.subscribe((change) => {
    if (change.table === table) reload().catch(onError);
  });
  return { items: () => items, reload };
}

/** A small table's port: `list` reads the store, edits write it (and announce themselves). */
export interface EditablePort<T, New> {
  list(): Promise<T[]>;
  add(item: New): Promise<T>;
  remove(id: number): Promise<boolean>;
}

/**
 * A small table's port on either store: the rows through `toItem`; each edit is announced on `changes` (by the
 * row's id) after it is written, so the other instances' copies reload.
 */
export function announcedPort<T extends { id: number }, New, Row>(
  store: SqlStore,
  table: string,
  q: {
    all(): Statement<Row>;
    insert(item: New): Statement<{ id: number }>;
    remove(id: number): Statement<unknown>;
  },
  toItem: (row: Row) => T,
  withId: (item: New, id: number) => T,
  changes: ChangeFeed = silentFeed,
): EditablePort<T, New> {
  return {
    list: async () => (await store.all(q.all())).map(toItem),
    async add(item) {
      const row = await store.first(q.insert(item));
      const id = Number(row?.id);
      await changes.announce({ table, id: String(id) });
      return withId(item, id);
    },
    async remove(id) {
      const removed = (await store.write(q.remove(id))) > 0;
      if (removed) await changes.announce({ table, id: String(id) });
      return removed;
    },
  };
}

/** The port's edits, each followed by a reload of the copy in memory; `items` is that copy. */
export interface HeldTable<T, New> extends EditablePort<T, New> {
  items(): readonly T[];
}

export async function holdTable<T, New>(
  port: EditablePort<T, New>,
  table: string,
  changes: ChangeFeed = silentFeed,
  whenFeedReconnects?: WhenFeedReconnects,
): Promise<HeldTable<T, New>> {
  const held = await holdList(() => port.list(), table, changes);
  // the feed's notices of the other instances' edits while it was down are lost: read the table again then
  whenFeedReconnects?.(held.reload);
  return {
    items: held.items,
    list: async () => [...held.items()],
    async add(item) {
      const added = await port.add(item);
      await held.reload();
      return added;
    },
    async remove(id) {
      const removed = await port.remove(id);
      await held.reload();
      return removed;
    },
  };
}
