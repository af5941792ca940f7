import { describe, expect, it } from 'vitest';
import { REGISTRY_MIGRATIONS } from '../registry/schema.ts';
import { migrateModuleSync } from '../storage/migrations.ts';
import { openDatabase } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import { createChannelTargetStore } from './channel-targets.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';

describe('channel targets follow their edits', () => {
  const db = openDatabase(':memory:');
  migrateModuleSync(sqliteStore(db), 'registry', REGISTRY_MIGRATIONS);
  migrateModuleSync(sqliteStore(db), 'alerts', ALERTS_MIGRATIONS);

  it('channel targets added and removed are matched from the next alarm on', async () => {
    const store = createChannelTargetStore(db);
    expect(store.match({ grid: 'g7' }, ['grid_worker'])).toEqual([]);
    const t = await store.add({
      placeId: 'g7',
      role: null,
      channel: 'wecom',
      target: 'g7-robot',
      label: null,
    });
    expect(store.match({ grid: 'g7' }, ['grid_worker']).map((x) => x.target)).toEqual(['g7-robot']);
    // A caller changing what it got does not change the store's copy.
    (await store.list()).pop();
    expect(await store.list()).toHaveLength(1);
    expect(await store.remove(t.id)).toBe(true);
    expect(store.match({ grid: 'g7' }, ['grid_worker'])).toEqual([]);
  });
});
