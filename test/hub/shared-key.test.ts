import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../helpers/postgres.ts';

if (POSTGRES_MISSING) console.warn(POSTGRES_MISSING);

/**
 * Device secrets are stored as HMACs under the server key. Instances on one database must hash with one key, or
 * a device provisioned through one instance cannot log in through another — which is what failover asks of it.
 */
describe.skipIf(POSTGRES_MISSING !== undefined)('the server key on a shared database', () => {
  let pgc: TestPostgres;
  const hubs: TestHub[] = [];
  const dirs: string[] = [];
  beforeAll(async () => {
    pgc = await startPostgres();
  }, 60_000);
  afterEach(async () => {
    for (const h of hubs.splice(0)) await h.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  afterAll(async () => {
    await pgc?.stop();
  });

  /** CONNACK of a demo device logging in to `hub` with the secret the seeding instance issued. */
  async function deviceLogin(hub: TestHub, device: { id: string; secret: string }): Promise<'in' | string> {
    try {
      const c = await connectAsync(hub.hub.urls.mqtt, {
        clientId: device.id,
        username: device.id,
        password: device.secret,
        reconnectPeriod: 0,
        connectTimeout: 5_000,
      });
      await c.endAsync(true);
      return 'in';
    } catch (err) {
      return (err as Error).message;
    }
  }

  async function twoHubs(env: (name: string) => Record<string, string>): Promise<[TestHub, TestHub]> {
    const url = await pgc.createDatabase();
    const a = await startTestHub({
      env: { GRIDHUB_DATABASE_URL: url, GRIDHUB_INSTANCE_ID: 'hub-a', ...env('a') },
    });
    hubs.push(a);
    const b = await startTestHub({
      env: { GRIDHUB_DATABASE_URL: url, GRIDHUB_INSTANCE_ID: 'hub-b', ...env('b') },
    });
    hubs.push(b);
    return [a, b];
  }

  it('with one key file (GRIDHUB_SERVER_KEY_FILE) a device provisioned through one hub logs in through the other', async () => {
    const keys = mkdtempSync(join(tmpdir(), 'gridhub-key-'));
    dirs.push(keys);
    const [a, b] = await twoHubs(() => ({ GRIDHUB_SERVER_KEY_FILE: join(keys, 'hub.key') }));
    const device = a.credentials?.devices.find((d) => d.type === 'call_button');
    if (!device) throw new Error('no demo call button');
    expect(await deviceLogin(a, device)).toBe('in');
    expect(await deviceLogin(b, device)).toBe('in');
  });

  it('with a key per data dir the other hub refuses the device: why the setting exists', async () => {
    const [a, b] = await twoHubs(() => ({}));
    const device = a.credentials?.devices.find((d) => d.type === 'call_button');
    if (!device) throw new Error('no demo call button');
    expect(await deviceLogin(a, device)).toBe('in');
    expect(await deviceLogin(b, device)).toMatch(/Bad username or password/i);
  });
});
