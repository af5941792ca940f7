import type { Migration } from '../../src/storage/migrations.ts';

/** A module's migrations for the storage tests: a table, then a column added to it. */
export const THINGS: Migration[] = [
  {
    description: 'things',
    statements: (db) => [
      db.schema
        .createTable('things')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('n', 'integer', (c) => c.notNull()),
    ],
  },
  {
    description: 'things get an instant',
    statements: (db) => [db.schema.alterTable('things').addColumn('at', 'bigint')],
  },
];

export interface ThingTables {
  things: { id: string; n: number; at: number | null };
}
