import { addIdColumn, type Migration } from '../storage/migrations.ts';

/**
 * The channels' own tables, migrated as module `channels`, for SQLite and PostgreSQL: Web Push subscriptions and
 * the VAPID key pair. They were created by the alerts module's second migration before the channels owned them;
 * `IF NOT EXISTS` keeps databases made then as they are. Append, never edit.
 */
export const CHANNELS_MIGRATIONS: readonly Migration[] = [
  {
    description: 'Web Push subscriptions and the VAPID keys',
    statements: (db, dialect) => [
      addIdColumn(db.schema.createTable('push_subscriptions').ifNotExists(), dialect)
        .addColumn('person_id', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('endpoint', 'text', (c) => c.notNull().unique())
        .addColumn('p256dh', 'text', (c) => c.notNull())
        .addColumn('auth', 'text', (c) => c.notNull())
        .addColumn('user_agent', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_ok_at', 'bigint'),
      db.schema
        .createIndex('push_subscriptions_person')
        .ifNotExists()
        .on('push_subscriptions')
        .column('person_id'),
      db.schema
        .createTable('alert_keys')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull()),
    ],
  },
];
