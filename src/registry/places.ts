import { GridHubError } from '../domain/errors.ts';
import { levelIndex, PLACE_LEVELS, type PlaceLevel, type PlacePath } from '../domain/places.ts';
import type { PlaceNode } from '../domain/records.ts';
import { isUniqueViolation } from '../storage/sql-store.ts';
import type { RegistryStore } from './registry-store.ts';
import type { PlaceLayoutTable, PlaceTable } from './tables.ts';

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

/** The place tree, cached in memory: places change rarely and every reading needs its device's path. */
export class PlaceStore {
  readonly #store: RegistryStore['places'];
  readonly #byId = new Map<string, PlaceNode>();
  readonly #layout = new Map<string, PlaceLayout>();

  /** `rows` and `layouts`: everything in the store (`PlaceStore.open` reads them). */
  constructor(
    store: RegistryStore['places'],
    rows: readonly PlaceTable[],
    layouts: readonly PlaceLayoutTable[],
  ) {
    this.#store = store;
    this.#load(rows, layouts);
  }

  /** Read the tree from the store; afterwards every read is from memory. */
  static async open(store: RegistryStore['places']): Promise<PlaceStore> {
    const [rows, layouts] = await Promise.all([store.all(), store.layouts()]);
    return new PlaceStore(store, rows, layouts);
  }

  /**
   * Read the tree again: after another instance changed it (on PostgreSQL, the hook for LISTEN/NOTIFY). Places
   * are only ever added, so a node kept by a caller stays valid.
   */
  async reload(): Promise<void> {
    const [rows, layouts] = await Promise.all([this.#store.all(), this.#store.layouts()]);
    this.#load(rows, layouts);
  }

  #load(rows: readonly PlaceTable[], layouts: readonly PlaceLayoutTable[]): void {
    for (const row of rows) this.#cache(row);
    for (const r of layouts) this.#layout.set(r.place_id, { x: r.x, y: r.y, floors: r.floors });
  }

  layout(id: string): PlaceLayout | undefined {
    return this.#layout.get(id);
  }

  /** Merge a layout change into the place's layout; `null` clears a value (back to the automatic layout). */
  async setLayout(id: string, patch: Partial<PlaceLayout>): Promise<PlaceLayout> {
    if (!this.#byId.has(id)) throw new GridHubError('NOT_FOUND', `no place ${id}`);
    const old = this.#layout.get(id) ?? { x: null, y: null, floors: null };
    const next: PlaceLayout = {
      x: patch.x === undefined ? old.x : patch.x,
      y: patch.y === undefined ? old.y : patch.y,
      floors: patch.floors === undefined ? old.floors : patch.floors,
    };
    const written = this.#store.putLayout({ place_id: id, x: next.x, y: next.y, floors: next.floors });
    this.#layout.set(id, next);
    try {
      await written;
    } catch (err) {
      this.#layout.set(id, old);
      throw err;
    }
    return next;
  }

  #cache(row: PlaceTable): PlaceNode {
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

  async create(input: {
    id: string;
    level: PlaceLevel;
    name: string;
    parentId: string | null;
  }): Promise<PlaceNode> {
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
    const row: PlaceTable = {
      id: input.id,
      level: input.level,
      name: input.name,
      parent_id: input.parentId,
      path: JSON.stringify(path),
    };
    // Issued before the cache changes, cached before it is awaited: on SQLite the row is written when this
    // returns, so a synchronous caller (a fixture, a seed) may go on without awaiting; on PostgreSQL the place is
    // visible here at once and taken back if the insert fails.
    const written = this.#store.insert(row);
    const node = this.#cache(row);
    try {
      await written;
    } catch (err) {
      this.#byId.delete(row.id);
      // another request or instance created it between the check above and the insert
      if (isUniqueViolation(err))
        throw new GridHubError('CONFLICT', `place ${input.id} exists`, { field: 'id' });
      throw err;
    }
    return node;
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
