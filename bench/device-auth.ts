/**
 * What a device CONNECT costs in credential checks: `DeviceStore.verifySecret` (the keyed hash the hub stores
 * since #19) over a registry of 10 000 devices, against one check of the scrypt hash it replaced. Decides
 * whether a cache of verified credentials is worth having (it is not while a check costs microseconds).
 *
 *   node --import tsx bench/device-auth.ts
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createCatalogue } from '../src/catalogue/catalogue.ts';
import { ManualClock } from '../src/clock/clock.ts';
import { createRegistry } from '../src/registry/registry.ts';
import { hashSecret, newSecret, verifySecret } from '../src/registry/secrets.ts';
import { openDatabase } from '../src/storage/sqlite.ts';

export interface DeviceAuthBenchResult {
  devices: number;
  checks: number;
  /** Per CONNECT, the awaited call as the broker's authenticate hook makes it. */
  keyedUsPerCheck: number;
  /** One check of a legacy scrypt hash at the cost older hubs stored (what every CONNECT paid before). */
  scryptMsPerCheck: number;
  scryptCost: number;
}

export async function runDeviceAuthBench(options: { quick?: boolean } = {}): Promise<DeviceAuthBenchResult> {
  const devices = options.quick ? 2_000 : 10_000;
  const checks = options.quick ? 20_000 : 100_000;
  const db = openDatabase(':memory:');
  try {
    const registry = createRegistry(db, createCatalogue(), new ManualClock(0), {
      secretKey: randomBytes(32),
    });
    await registry.places.create({ id: 's1', level: 'street', name: '街道', parentId: null });
    const secrets: string[] = [];
    for (let i = 0; i < devices; i++) {
      const secret = newSecret();
      secrets.push(secret);
      await registry.devices.provision(
        { id: `bench-${i}`, type: 'bin', placeId: 's1', floor: null, secret },
        0,
      );
    }
    const run = async (n: number) => {
      let ok = 0;
      for (let i = 0; i < n; i++) {
        if (await registry.devices.verifySecret(`bench-${i % devices}`, secrets[i % devices] as string)) ok++;
      }
      if (ok !== n) throw new Error(`only ${ok} of ${n} checks passed`);
    };
    await run(Math.min(checks, 5_000));
    const t = performance.now();
    await run(checks);
    const keyedUsPerCheck = Math.round(((performance.now() - t) * 1000 * 100) / checks) / 100;
    // The cost device-secret hashes had before the keyed hash (KDF_COST.deviceSecret = 2^11, r = 8).
    const scryptCost = 2_048;
    const legacy = await hashSecret('a-device-secret', scryptCost);
    const s = performance.now();
    await verifySecret('a-device-secret', legacy);
    const scryptMsPerCheck = Math.round((performance.now() - s) * 100) / 100;
    return { devices, checks, keyedUsPerCheck, scryptMsPerCheck, scryptCost };
  } finally {
    db.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(
    `${JSON.stringify(await runDeviceAuthBench({ quick: process.argv.includes('--quick') }), null, 2)}\n`,
  );
}
