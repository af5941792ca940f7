/**
 * The hub on a shared PostgreSQL for the bench's "ingest on PostgreSQL vs SQLite, same run" figure (issue #18,
 * ≥ 0.8 ×): a throw-away cluster on loopback (test/helpers/postgres.ts) with PostgreSQL's own durability
 * (fsync and synchronous commit on: a QoS 1 message is acknowledged after its journal batch is on disk), and
 * the bench devices provisioned into its registry with the same ids and secrets as on the SQLite hub, hashed
 * with the same server key (GRIDHUB_SECRET_KEY_FILE), so the same generator and credentials drive both.
 */
import { createCatalogue } from '../src/catalogue/catalogue.ts';
import { createSystemClock } from '../src/clock/clock.ts';
import type { DemoCredentials } from '../src/domain/wire.ts';
import { openRegistry } from '../src/registry/registry.ts';
import { loadServerKey } from '../src/registry/secrets.ts';
import { postgresStore } from '../src/storage/postgres.ts';
import { POSTGRES_MISSING, startPostgres } from '../test/helpers/postgres.ts';

export interface BenchPostgres {
  url: string;
  stop(): Promise<void>;
}

/** A durable cluster and an empty database, or why there is none (PostgreSQL not installed). */
export async function startBenchPostgres(): Promise<BenchPostgres | { skipped: string }> {
  if (POSTGRES_MISSING !== undefined) return { skipped: POSTGRES_MISSING };
  const cluster = await startPostgres({ durable: true });
  return { url: await cluster.createDatabase('gridhub_bench'), stop: () => cluster.stop() };
}

/** Provision `devices` (already on the SQLite hub) into the PostgreSQL registry the hub seeded. */
export async function provisionOnPostgres(
  url: string,
  keyFile: string,
  devices: DemoCredentials['devices'],
): Promise<void> {
  const store = postgresStore(url, { maxConnections: 4 });
  try {
    const registry = await openRegistry(store, createCatalogue(), createSystemClock(), {
      secretKey: loadServerKey(keyFile),
    });
    const now = Date.now();
    for (let i = 0; i < devices.length; i += 200) {
      await Promise.all(
        devices
          .slice(i, i + 200)
          .map((d) =>
            registry.devices.provision(
              { id: d.id, type: d.type, placeId: d.placeId, floor: d.floor, secret: d.secret },
              now,
            ),
          ),
      );
    }
  } finally {
    await store.close();
  }
}
