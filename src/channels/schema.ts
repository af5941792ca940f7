/**
 * The channels' own tables, migrated as module `channels`: Web Push subscriptions and the VAPID key pair. They
 * were created by the alerts module's second migration before the channels owned them; `IF NOT EXISTS` keeps
 * databases made then as they are. Append, never edit.
 */
export const CHANNELS_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE IF NOT EXISTS push_subscriptions (
    id INTEGER PRIMARY KEY,
    person_id TEXT NOT NULL,
    username TEXT NOT NULL,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    user_agent TEXT,
    created_at INTEGER NOT NULL,
    last_ok_at INTEGER
  );
  CREATE INDEX IF NOT EXISTS push_subscriptions_person ON push_subscriptions(person_id);

  CREATE TABLE IF NOT EXISTS alert_keys (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
];
