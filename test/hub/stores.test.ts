import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import { type HubStores, openHubStores, StoreOpenError } from '../../src/hub-stores.ts';
import type { Registry } from '../../src/registry/registry.ts';
import { tokenIdOf } from '../../src/registry/users.ts';
import type { StoreLocation } from '../../src/storage/open.ts';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { until } from '../storage/stores.ts';

/**
 * The hub's stores as the composition root opens them (src/hub-stores.ts): the embedded file alone, or the
 * shared PostgreSQL with this instance's lease and change feed. Two instances on one database see each other's
 * registry changes, read everything again after their feed was cut off, and never run under one name at once.
 */
const T0 = Date.parse('2026-12-01T08:00:00+08:00');
const TTL = 15_000;
const secretKey = randomBytes(32);
const silent = pino({ level: 'silent' });
const dirs: string[] = [];
const opened: HubStores[] = [];

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function open(
  location: StoreLocation,
  clock: ManualClock,
  instanceId?: string,
  key = secretKey,
): Promise<HubStores> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gridhub-stores-'));
  dirs.push(dataDir);
  return openHubStores({
    location,
    dataDir,
    instanceId,
    clock,
    log: silent,
    catalogue: createCatalogue(),
    registry: { secretKey: key },
    secretKeyFile: join(dataDir, 'hub.key'),
    rules: { now: () => clock.now() },
    leaseTtlMs: TTL,
  }).then((s) => {
    opened.push(s);
    return s;
  });
}

async function estate(r: Registry): Promise<void> {
  await r.places.create({ id: 's1', level: 'street', name: '青龙街道', parentId: null });
  await r.places.create({ id: 'c1', level: 'community', name: '幸福社区', parentId: 's1' });
  await r.places.create({ id: 'g1', level: 'grid', name: '第一网格', parentId: 'c1' });
  await r.places.create({ id: 'e1', level: 'estate', name: '阳光小区', parentId: 'g1' });
}

/** Drive the clock while `p` is pending (the name wait sleeps on it, with a store query between steps). */
async function settle<T>(p: Promise<T>, clock: ManualClock): Promise<T | Error> {
  let outcome: { value: T } | { error: Error } | undefined;
  p.then(
    (value) => {
      outcome = { value };
    },
    (error: Error) => {
      outcome = { error };
    },
  );
  for (let i = 0; i < 400 && !outcome; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    clock.advance(TTL / 20);
  }
  if (!outcome) throw new Error('still pending after 20 lease lengths of virtual time');
  return 'value' in outcome ? outcome.value : outcome.error;
}

describe('the embedded store', () => {
  it('is the SQLite file alone: no lease, no feed, journal and rule state left to their stages', async () => {
    const clock = new ManualClock(T0);
    const s = await open({ kind: 'sqlite' }, clock, 'ignored-here');
    expect(s.kind).toBe('sqlite');
    expect(s.instanceId).toBe('local');
    expect(s.lease).toBeUndefined();
    expect(s.journal).toBeUndefined();
    expect(s.ruleState).toBeUndefined();
    await estate(s.registry);
    expect(s.registry.places.get('e1')?.name).toBe('阳光小区');
  });
});

describe.skipIf(POSTGRES_MISSING !== undefined)('the shared PostgreSQL store', () => {
  let pgc: TestPostgres;
  beforeAll(async () => {
    pgc = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await pgc?.stop();
  });
  const shared = async (): Promise<{ kind: 'postgres'; url: string }> => ({
    kind: 'postgres',
    url: await pgc.createDatabase(),
  });

  it('two instances see each other’s registry changes, and read everything again once their feed is back', async () => {
    const location = await shared();
    const clock = new ManualClock(T0);
    const a = await open(location, clock, 'hub-a');
    const b = await open(location, clock, 'hub-b');
    expect([a.kind, a.instanceId, b.instanceId]).toEqual(['postgres', 'hub-a', 'hub-b']);
    expect(a.journal && a.ruleState && a.lease).toBeTruthy();

    await estate(a.registry);
    await a.registry.devices.provision({ id: 'smoke-1', type: 'smoke', placeId: 'e1' }, T0);
    await a.registry.users.create(
      { username: 'wang.wei', password: null, role: 'worker', scope: ['g1'] },
      T0,
    );
    const token = await a.registry.users.issueToken('wang.wei', 'api', T0, 86_400_000, '手机');
    await until(
      () => b.registry.devices.get('smoke-1') !== undefined && b.registry.users.get('wang.wei') !== undefined,
    );
    expect(b.registry.devices.get('smoke-1')?.place.estate).toBe('e1');
    const revoked: string[][] = [];
    b.registry.users.onRevoked((ids) => revoked.push([...ids]));

    // Cut hub-b's listening connection. What hub-a changes in the second before it listens again is never
    // notified to it: only the reload after the reconnect brings it.
    const admin = new pg.Client({ connectionString: location.url });
    await admin.connect();
    try {
      const killed = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gridhub-changes hub-b'",
      );
      expect(killed.rowCount).toBe(1);
    } finally {
      await admin.end();
    }
    await a.registry.devices.provision({ id: 'bin-1', type: 'bin', placeId: 'e1' }, T0);
    await a.registry.places.create({ id: 'e2', level: 'estate', name: '幸福家园', parentId: 'g1' });
    await a.registry.users.update('wang.wei', { enabled: false });
    await until(() => b.registry.devices.get('bin-1') !== undefined && revoked.length > 0);
    expect(b.registry.places.get('e2')?.name).toBe('幸福家园');
    // the account disabled meanwhile: known disabled here, and what its token opened here is closed
    expect(b.registry.users.get('wang.wei')?.enabled).toBe(false);
    // (told once or twice: the notice may also come through if the feed listens again before the change)
    expect([...new Set(revoked.flat())]).toEqual([tokenIdOf(token)]);
  });

  it('a name whose lease is live waits it out: taken after a crash, refused while another process renews it', async () => {
    const location = await shared();
    const clock = new ManualClock(T0);
    // hub-a "crashed": its lease was written at start and is never renewed
    await open(location, clock, 'hub-a');
    const restarted = await settle(open(location, clock, 'hub-a'), clock);
    expect(restarted).not.toBeInstanceOf(Error);
    expect(clock.now()).toBeGreaterThanOrEqual(T0 + TTL);

    // hub-b runs and renews; a second process configured as hub-b is refused with a message naming the setting
    const b = await open(location, clock, 'hub-b');
    b.lease?.start();
    const twin = await settle(open(location, clock, 'hub-b'), clock);
    expect(twin).toBeInstanceOf(StoreOpenError);
    expect((twin as Error).message).toContain('GRIDHUB_INSTANCE_ID=hub-b');

    // once hub-b stops cleanly its lease is given up: the name is free at once, without waiting
    await b.close();
    const before = clock.now();
    const again = await open(location, clock, 'hub-b');
    expect(again.instanceId).toBe('hub-b');
    expect(clock.now()).toBe(before);
  });

  it('refuses an instance whose server key is not the one the database’s device secrets are hashed with', async () => {
    const location = await shared();
    const clock = new ManualClock(T0);
    const a = await open(location, clock, 'hub-a');
    await estate(a.registry);
    const { secret } = await a.registry.devices.provision(
      { id: 'btn-1', type: 'call_button', placeId: 'e1' },
      clock.now(),
    );
    // an instance with the same key (the shared secret file) checks the device's secret as hub-a does
    const b = await open(location, clock, 'hub-b');
    expect(await b.registry.devices.verifySecret('btn-1', secret)).toBe(true);
    expect(await b.registry.devices.verifySecret('btn-1', `${secret}x`)).toBe(false);
    // one started with a key of its own would refuse every device provisioned elsewhere: it does not start
    const stranger = await open(location, clock, 'hub-c', randomBytes(32)).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(stranger).toBeInstanceOf(StoreOpenError);
    expect(stranger?.message).toContain('GRIDHUB_SECRET_KEY_FILE');
  });

  it('without a configured name each start takes a fresh one', async () => {
    const location = await shared();
    const clock = new ManualClock(T0);
    const one = await open(location, clock);
    const two = await open(location, clock);
    expect(one.instanceId).not.toBe(two.instanceId);
    expect(one.instanceId).toMatch(/^[\w.-]+-[0-9a-f]{8}$/);
  });

  it('an unreachable database stops the start with the URL, its password hidden', async () => {
    const clock = new ManualClock(T0);
    const err = await open(
      { kind: 'postgres', url: 'postgres://gridhub:s3cret@127.0.0.1:1/gridhub' },
      clock,
    ).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(StoreOpenError);
    expect(err?.message).toContain('unreachable');
    expect(err?.message).not.toContain('s3cret');
  });
});
