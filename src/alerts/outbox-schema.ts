import { type Migration, stateIndex } from '../storage/migrations.ts';

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
  {
    // The outbox's indexes of (state, …) moved every delivered row's entry out of the pending part, inserting in
    // the middle of the index (SQLite then rewrites several pages a row); they now hold pending rows only — what
    // a claim, a lane or a wake-up reads, each naming the state as a literal. The recipient index went with
    // them: every read by channel and target is of pending rows, which the lane index serves.
    description: 'due and lane indexes of pending rows only',
    statements: (db) => [
      db.schema.dropIndex('alert_outbox_due'),
      db.schema.dropIndex('alert_outbox_lane'),
      db.schema.dropIndex('alert_outbox_recipient'),
      stateIndex(db, 'alert_outbox_due', 'alert_outbox', ['next_at'], 'pending'),
      stateIndex(db, 'alert_outbox_lane', 'alert_outbox', ['channel', 'target', 'next_at'], 'pending'),
    ],
  },
];
