import { join } from 'node:path';
import { createCatalogue } from '../src/catalogue/catalogue.ts';
import { createSystemClock } from '../src/clock/clock.ts';
import type { DemoCredentials } from '../src/domain/wire.ts';
import { createRegistry } from '../src/registry/registry.ts';
import { loadServerKey, newSecret } from '../src/registry/secrets.ts';
import { openDatabase } from '../src/storage/sqlite.ts';

/** Bench devices are bins. */
export const BENCH_TYPE = 'bin' as const;

/** The bench's own devices, provisioned straight into the stopped hub's registry (the demo has ~200 devices). */
export async function provisionBenchDevices(
  dataDir: string,
  n: number,
  /** Their ids are `{prefix}-000001`… */
  prefix = 'bench',
): Promise<DemoCredentials['devices']> {
  const db = openDatabase(join(dataDir, 'gridhub.db'));
  try {
    // The hub's own key: device secrets are stored as keyed hashes (hub.key in the data dir).
    const registry = createRegistry(db, createCatalogue(), createSystemClock(), {
      secretKey: loadServerKey(join(dataDir, 'hub.key')),
    });
    const placeId = 'E1-B1-U1';
    const out: DemoCredentials['devices'] = [];
    const now = Date.now();
    for (let i = 0; i < n; i += 200) {
      const batch = Array.from({ length: Math.min(200, n - i) }, (_, k) => {
        const id = `${prefix}-${String(i + k + 1).padStart(6, '0')}`;
        const secret = newSecret();
        out.push({ id, type: BENCH_TYPE, placeId, placeName: 'bench', floor: null, secret });
        return registry.devices.provision({ id, type: BENCH_TYPE, placeId, floor: null, secret }, now);
      });
      await Promise.all(batch);
    }
    return out;
  } finally {
    db.close();
  }
}
