import { sql } from 'kysely';
import { addIdColumn, type Migration } from '../storage/migrations.ts';

/**
 * Registry tables — the place tree, devices, people with their duty, API users and their tokens — written once
 * for SQLite and PostgreSQL with Kysely's schema builder. The first three versions are the SQL the SQLite-only
 * hub applied under the same numbers, so a data dir migrated by it skips them and gains only what follows.
 * Flags are INTEGER 0/1 and instants INTEGER/BIGINT epoch milliseconds on both stores: the code reads them the
 * same way whichever store it runs on.
 */
export const REGISTRY_MIGRATIONS: readonly Migration[] = [
  {
    description: 'places, devices, people and duty, users and tokens',
    statements: (db, dialect) => [
      db.schema
        .createTable('places')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('level', 'text', (c) =>
          c.notNull().check(sql`level IN ('street','community','grid','estate','building','unit')`),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('parent_id', 'text', (c) => c.references('places.id'))
        // JSON PlacePath of this node (its own id included), so lookups never walk the tree at run time.
        .addColumn('path', 'text', (c) => c.notNull()),
      db.schema.createIndex('places_parent').on('places').column('parent_id'),

      db.schema
        .createTable('devices')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('place_id', 'text', (c) => c.notNull().references('places.id'))
        .addColumn('floor', 'integer')
        .addColumn('label', 'text')
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen', 'bigint')
        .addColumn('online', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('online_changed_at', 'bigint'),
      db.schema.createIndex('devices_place').on('devices').column('place_id'),
      db.schema.createIndex('devices_type').on('devices').column('type'),

      db.schema
        .createTable('people')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        // for role 'department': which one (fire, police, sanitation, civil_affairs, medical, elevator)
        .addColumn('department', 'text')
        .addColumn('phone', 'text')
        // JSON: [{ "channel": "mqtt" | "webhook" | "sms" | ..., "target": "..." }]
        .addColumn('contacts', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('deputy_id', 'text', (c) => c.references('people.id'))
        .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1)),

      // Where a person serves: a grid for grid teams, a community or street for duty staff.
      db.schema
        .createTable('person_places')
        .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
        .addColumn('place_id', 'text', (c) => c.notNull().references('places.id'))
        .addPrimaryKeyConstraint('person_places_pkey', ['person_id', 'place_id']),
      db.schema.createIndex('person_places_place').on('person_places').column('place_id'),

      // Weekly shifts in the community's local time: weekday 0 = Sunday … 6; minutes since midnight;
      // end_minute may exceed 1440 for a night shift running past midnight.
      addIdColumn(db.schema.createTable('duty_shifts'), dialect)
        .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
        .addColumn('weekday', 'integer', (c) => c.notNull().check(sql`weekday BETWEEN 0 AND 6`))
        .addColumn('start_minute', 'integer', (c) => c.notNull().check(sql`start_minute BETWEEN 0 AND 1439`))
        .addColumn('end_minute', 'integer', (c) =>
          c.notNull().check(sql`end_minute > start_minute AND end_minute <= 2880`),
        ),
      db.schema.createIndex('duty_shifts_person').on('duty_shifts').column('person_id'),

      // Dated exceptions: on duty (on_leave = 0) or on leave (on_leave = 1) between two instants (epoch ms).
      addIdColumn(db.schema.createTable('duty_overrides'), dialect)
        .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
        .addColumn('starts_at', 'bigint', (c) => c.notNull())
        .addColumn('ends_at', 'bigint', (c) => c.notNull().check(sql`ends_at > starts_at`))
        .addColumn('on_leave', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('note', 'text'),
      db.schema.createIndex('duty_overrides_person').on('duty_overrides').column('person_id'),

      db.schema
        .createTable('users')
        .addColumn('username', 'text', (c) => c.primaryKey())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) =>
          c.notNull().check(sql`role IN ('admin','manager','worker','department','integration')`),
        )
        .addColumn('person_id', 'text', (c) => c.references('people.id'))
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('locale', 'text', (c) => c.notNull().defaultTo('zh-CN'))
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'bigint', (c) => c.notNull()),

      // Places a user may see: a manager's subtree roots, a worker's grids. Admins see everything.
      db.schema
        .createTable('user_scopes')
        .addColumn('username', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
        .addColumn('place_id', 'text', (c) => c.notNull().references('places.id'))
        .addPrimaryKeyConstraint('user_scopes_pkey', ['username', 'place_id']),

      // Bearer tokens: login sessions and long-lived API tokens (also the MQTT password of workers and
      // integrations). Only a SHA-256 of the token is stored.
      db.schema
        .createTable('api_tokens')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('session','api')`))
        .addColumn('label', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint'),
      db.schema.createIndex('api_tokens_user').on('api_tokens').column('username'),
    ],
  },
  {
    description: 'API tokens end: those issued before they had a lifetime get 90 days from now',
    statements: (db) => [
      db
        .withTables<{ api_tokens: { expires_at: number | null } }>()
        .updateTable('api_tokens')
        .set({ expires_at: Date.now() + 90 * 86_400_000 })
        .where('expires_at', 'is', null),
    ],
  },
  {
    description: 'what an integration may do beyond its place scope: JSON { maxSeverity, deviceTypes? }',
    statements: (db) => [db.schema.alterTable('users').addColumn('integration_policy', 'text')],
  },
  {
    // Older SQLite data dirs have it already: the place store created it on start before it was a migration.
    description: 'where a building stands on its estate plan, and its floors',
    statements: (db) => [
      db.schema
        .createTable('place_layout')
        .ifNotExists()
        .addColumn('place_id', 'text', (c) => c.primaryKey().references('places.id').onDelete('cascade'))
        .addColumn('x', 'double precision')
        .addColumn('y', 'double precision')
        .addColumn('floors', 'integer'),
    ],
  },
  {
    // Several instances on one database (issue #18): a device is online through the instance holding its
    // connection. At start an instance marks offline only its own devices and those of instances whose lease
    // ran out, never the devices another live instance holds (registry-store.ts, src/storage/leases.ts).
    description: 'which instance holds an online device: its connection, its presence',
    statements: (db) => [
      db.schema.alterTable('devices').addColumn('online_owner', 'text'),
      db.schema.createIndex('devices_online_owner').on('devices').column('online_owner'),
    ],
  },
  {
    // In the store, not one instance's memory: the ticket request and the stream may reach different instances.
    description: 'single-use stream tickets (EventSource cannot send a header), by SHA-256 of the ticket',
    statements: (db) => [
      db.schema
        .createTable('stream_tickets')
        .addColumn('ticket_hash', 'text', (c) => c.primaryKey())
        .addColumn('token_id', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
        .addColumn('expires_at', 'bigint', (c) => c.notNull()),
      db.schema.createIndex('stream_tickets_expiry').on('stream_tickets').column('expires_at'),
    ],
  },
];
