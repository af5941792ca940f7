/** Channel targets: the group robots and other fixed targets told of alerts at a place, for some roles. */
import type { PlacePath } from '../domain/places.ts';
import type { Db } from '../storage/sqlite.ts';
import { placeIdsOf } from './places.ts';

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

export interface ChannelTargetStore {
  list(): ChannelTarget[];
  add(t: Omit<ChannelTarget, 'id'>): ChannelTarget;
  remove(id: number): boolean;
  /** Targets for an alert at `path` when `roles` are notified. */
  match(path: PlacePath, roles: readonly string[]): ChannelTarget[];
}

export function createChannelTargetStore(db: Db): ChannelTargetStore {
  const all = db.prepare<
    [],
    {
      id: number;
      place_id: string | null;
      role: string | null;
      channel: string;
      target: string;
      label: string | null;
    }
  >('SELECT * FROM alert_channel_targets ORDER BY id');
  const insert = db.prepare(
    'INSERT INTO alert_channel_targets (place_id, role, channel, target, label) VALUES (?, ?, ?, ?, ?)',
  );
  const del = db.prepare('DELETE FROM alert_channel_targets WHERE id = ?');
  // Every notification asks; targets change when an admin edits them through this store, which drops the copy.
  let cached: readonly ChannelTarget[] | undefined;
  const list = (): ChannelTarget[] => {
    cached ??= all.all().map((r) =>
      Object.freeze({
        id: r.id,
        placeId: r.place_id,
        role: r.role,
        channel: r.channel,
        target: r.target,
        label: r.label,
      }),
    );
    return [...cached];
  };
  return {
    list,
    add(t) {
      const info = insert.run(t.placeId, t.role, t.channel, t.target, t.label);
      cached = undefined;
      return { ...t, id: Number(info.lastInsertRowid) };
    },
    remove(id) {
      cached = undefined;
      return del.run(id).changes > 0;
    },
    match(path, roles) {
      const places = placeIdsOf(path);
      return list().filter(
        (t) => (t.placeId === null || places.has(t.placeId)) && (t.role === null || roles.includes(t.role)),
      );
    },
  };
}
