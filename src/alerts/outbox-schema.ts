import type { Migration } from '../storage/migrations.ts';

/**
 * Migrations of the outbox's delivery lanes, module `alerts.outbox` (the table itself is created by the `alerts`
 * migrations, which run first), for SQLite and PostgreSQL. Append, never edit.
 */
export const OUTBOX_MIGRATIONS: readonly Migration[] = [
  {
    // A row being delivered carries the hub that took it and until when; the outcome clears both, and a claim
    // whose lease ran out (its hub died) may be taken over. Rows are never held in memory only.
    description: 'claims with leases, one lane per channel and target',
    statements: (db) => [
      db.schema.alterTable('alert_outbox').addColumn('claimed_by', 'text'),
      db.schema.alterTable('alert_outbox').addColumn('lease_until', 'bigint'),
      // due rows of a lane, critical first
      db.schema
        .createIndex('alert_outbox_lane')
        .on('alert_outbox')
        .columns(['state', 'channel', 'target', 'next_at']),
      // The live stream is fed from the event bus now; its rows of earlier versions have nobody to go to.
      db
        .withTables<{ alert_outbox: { channel: string } }>()
        .deleteFrom('alert_outbox')
        .where('channel', '=', 'stream'),
    ],
  },
];
