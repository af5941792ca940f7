import { createHmac } from 'node:crypto';
import { type Migration, migrateModule } from '../storage/migrations.ts';
import type { SqlStore } from '../storage/sql-store.ts';

/**
 * Instances sharing one database must hash device secrets with one server key (secrets.ts): a device provisioned
 * through one instance must be able to connect to any. The database keeps a fingerprint of the key the first
 * instance started with (an HMAC of a fixed label: it tells nothing about the key or any secret), and each
 * instance compares its own at start: one with another key would refuse every device the others provisioned,
 * so it refuses to start instead, naming the setting.
 */
interface KeyTables {
  hub_server_key: { purpose: string; fingerprint: string };
}

const KEY_MIGRATIONS: readonly Migration[] = [
  {
    description: 'fingerprint of the server key device secrets are hashed with',
    statements: (db) => [
      db.schema
        .createTable('hub_server_key')
        .addColumn('purpose', 'text', (c) => c.primaryKey())
        .addColumn('fingerprint', 'text', (c) => c.notNull()),
    ],
  },
];

export function keyFingerprint(key: Buffer): string {
  return createHmac('sha256', key)
    .update('gridhub server key fingerprint v1')
    .digest('base64url')
    .slice(0, 22);
}

/** Record the key's fingerprint if the database has none, else check it; throws when they differ. */
export async function checkServerKey(store: SqlStore, key: Buffer, keyFile: string): Promise<void> {
  await migrateModule(store, 'registry.key', KEY_MIGRATIONS);
  const db = store.builder<KeyTables>();
  const fingerprint = keyFingerprint(key);
  await store.write(
    db
      .insertInto('hub_server_key')
      .values({ purpose: 'device-secrets', fingerprint })
      .onConflict((oc) => oc.column('purpose').doNothing()),
  );
  const row = await store.first(
    db.selectFrom('hub_server_key').select('fingerprint').where('purpose', '=', 'device-secrets'),
  );
  if (row?.fingerprint !== fingerprint)
    throw new Error(
      `the server key in ${keyFile} is not the one the other instances on this database hash device secrets with: give every instance the same key file (GRIDHUB_SECRET_KEY_FILE)`,
    );
}
