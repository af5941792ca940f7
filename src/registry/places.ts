import { GridHubError } from '../domain/errors.ts';
import { levelIndex, PLACE_LEVELS, type PlaceLevel, type PlacePath } from '../domain/places.ts';
import type { PlaceNode } from '../domain/records.ts';
import type { Db } from '../storage/sqlite.ts';

interface PlaceRow {
  id: string;
  level: PlaceLevel;
  name: string;
  parent_id: string | null;
  path: string;
}

export interface PlaceTreeNode extends PlaceNode {
  children: PlaceTreeNode[];
  layout?: PlaceLayout;
}

/**
 * Where a building stands on its estate's plan (0–100 across and down) and how many floors it has, for the
 * estate map (需求地图). Set by admins; without it the map lays buildings out by itself.
 */
export interface PlaceLayout {
  x: number | null;
  y: number | null;
  floors: number | null;
}

interface LayoutRow {
  place_id: string;
  x: number | null;
  y: number | null;
  floors: number | null;
}

/** The place tree, cached in memory: places change rarely and every reading needs its device's path. */
export class PlaceStore {
  readonly #db: Db;
  readonly #byId = new Map<string, PlaceNode>();
  readonly #layout = new Map<string, PlaceLayout>();

  constructor(db: Db) {
    this.#db = db;
    for (const row of db.prepare<[], PlaceRow>('SELECT * FROM places').all()) this.#cache(row);
    // Its own table, created here: the layout is presentation, and older databases gain it on first start.
    db.exec(`CREATE TABLE IF NOT EXISTS place_layout (
      place_id TEXT PRIMARY KEY REFERENCES places(id) ON DELETE CASCADE,
      x REAL, y REAL, floors INTEGER)`);
    for (const r of db.prepare<[], LayoutRow>('SELECT * FROM place_layout').all())
      this.#layout.set(r.place_id, { x: r.x, y: r.y, floors: r.floors });
  }

  layout(id: string): PlaceLayout | undefined {
    return this.#layout.get(id);
  }

  /** Merge a layout change into the place's layout; `null` clears a value (back to the automatic layout). */
  setLayout(id: string, patch: Partial<PlaceLayout>): PlaceLayout {
    if (!this.#byId.has(id)) throw new GridHubError('NOT_FOUND', `no place ${id}`);
    const old = this.#layout.get(id) ?? { x: null, y: null, floors: null };
    const next: PlaceLayout = {
      x: patch.x === undefined ? old.x : patch.x,
      y: patch.y === undefined ? old.y : patch.y,
      floors: patch.floors === undefined ? old.floors : patch.floors,
    };
    this.#db
      .prepare(
        `INSERT INTO place_layout (place_id, x, y, floors) VALUES (?, ?, ?, ?)
         ON CONFLICT(place_id) DO UPDATE SET x = excluded.x, y = excluded.y, floors = excluded.floors`,
      )
      .run(id, next.x, next.y, next.floors);
    this.#layout.set(id, next);
    return next;
  }

  #cache(row: PlaceRow): PlaceNode {
    const node: PlaceNode = {
      id: row.id,
      level: row.level,
      name: row.name,
      parentId: row.parent_id,
      path: JSON.parse(row.path) as PlacePath,
    };
    this.#byId.set(node.id, node);
    return node;
  }

  create(input: { id: string; level: PlaceLevel; name: string; parentId: string | null }): PlaceNode {
    if (this.#byId.has(input.id))
      throw new GridHubError('CONFLICT', `place ${input.id} exists`, { field: 'id' });
    const parent = input.parentId ? this.get(input.parentId) : undefined;
    if (input.parentId && !parent) {
      throw new GridHubError('REQUEST_INVALID', `parent place ${input.parentId} does not exist`, {
        field: 'parentId',
      });
    }
    const expectedParentLevel = PLACE_LEVELS[levelIndex(input.level) - 1];
    if (parent ? parent.level !== expectedParentLevel : input.level !== 'street') {
      throw new GridHubError(
        'REQUEST_INVALID',
        `a ${input.level} must sit under a ${expectedParentLevel ?? 'nothing (it is the root level)'}`,
        { field: 'parentId' },
      );
    }
    const path: PlacePath = { ...(parent?.path ?? {}), [input.level]: input.id };
    const row: PlaceRow = {
      id: input.id,
      level: input.level,
      name: input.name,
      parent_id: input.parentId,
      path: JSON.stringify(path),
    };
    this.#db
      .prepare(
        'INSERT INTO places (id, level, name, parent_id, path) VALUES (@id, @level, @name, @parent_id, @path)',
      )
      .run(row);
    return this.#cache(row);
  }

  get(id: string): PlaceNode | undefined {
    return this.#byId.get(id);
  }

  path(id: string): PlacePath {
    return this.#byId.get(id)?.path ?? {};
  }

  name(id: string): string {
    return this.#byId.get(id)?.name ?? id;
  }

  /** Names from the street down to this place, e.g. 「青龙街道 › 幸福社区 › 第一网格 › …」. */
  names(id: string): string[] {
    const path = this.path(id);
    return PLACE_LEVELS.flatMap((level) => {
      const pid = path[level];
      return pid ? [this.name(pid)] : [];
    });
  }

  all(): PlaceNode[] {
    return [...this.#byId.values()];
  }

  /** The tree, or the subtrees rooted at `roots`. */
  tree(roots?: readonly string[]): PlaceTreeNode[] {
    const children = new Map<string | null, PlaceNode[]>();
    for (const p of this.#byId.values()) {
      const list = children.get(p.parentId) ?? [];
      list.push(p);
      children.set(p.parentId, list);
    }
    const build = (p: PlaceNode): PlaceTreeNode => {
      const layout = this.#layout.get(p.id);
      return {
        ...p,
        children: (children.get(p.id) ?? []).sort((a, b) => a.id.localeCompare(b.id)).map(build),
        ...(layout ? { layout } : {}),
      };
    };
    const tops = roots ? roots.flatMap((id) => this.#byId.get(id) ?? []) : (children.get(null) ?? []);
    return tops.map(build);
  }

  /** Ids of `id` and all places beneath it. */
  subtree(id: string): string[] {
    const node = this.#byId.get(id);
    if (!node) return [];
    return [...this.#byId.values()].filter((p) => p.path[node.level] === id).map((p) => p.id);
  }
}
