import type { Migration } from '../../src/storage/migrations.ts';

/** A module's migrations for the storage tests: a table, then a column added to it. */
export const THINGS: Migration[] = [
  {
    description: 'things',
    up: (db) =>
      db.schema
        .createTable('things')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('n', 'integer', (c) => c.notNull())
        .execute(),
  },
  {
    description: 'things get an instant',
    up: (db) => db.schema.alterTable('things').addColumn('at', 'bigint').execute(),
  },
];

export interface ThingTables {
  things: { id: string; n: number; at: number | null };
}
