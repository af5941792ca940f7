import { describe, expect, it } from 'vitest';
import { createCatalogue } from '../catalogue/catalogue.ts';
import { ManualClock } from '../clock/clock.ts';
import { openDatabase } from '../storage/sqlite.ts';
import { createRegistry } from './registry.ts';
import { hashSecret, PASSWORD_COST } from './secrets.ts';

const key = Buffer.alloc(32, 3);

function registry(db = openDatabase(':memory:'), passwordCost?: number) {
  const clock = new ManualClock();
  const r = createRegistry(db, createCatalogue(), clock, {
    secretKey: key,
    ...(passwordCost ? { passwordCost } : {}),
  });
  return { db, clock, r };
}

describe('stored credentials (findings 10 and issue 19)', () => {
  it('a password stored at an old cost is re-hashed at OWASP’s N=2^17 on the next login', async () => {
    const { db, clock, r } = registry(undefined, 16_384);
    await r.users.create({ username: 'li', password: 'correct horse', role: 'worker' }, clock.now());
    expect(await r.users.passwordCostOf('li')).toBe(16_384);
    // the same database opened by a hub at today's default cost
    const { r: upgraded } = registry(db);
    expect(await upgraded.users.verifyPassword('li', 'wrong password')).toBeUndefined();
    expect(await upgraded.users.passwordCostOf('li')).toBe(16_384);
    expect((await upgraded.users.verifyPassword('li', 'correct horse'))?.username).toBe('li');
    expect(await upgraded.users.passwordCostOf('li')).toBe(PASSWORD_COST);
    expect(PASSWORD_COST).toBe(2 ** 17);
    expect((await upgraded.users.verifyPassword('li', 'correct horse'))?.username).toBe('li');
  }, 30_000);

  it('device secrets are a keyed hash; an old scrypt hash is verified once and then replaced', async () => {
    const { db, clock, r } = registry();
    places(r);
    const { secret } = await r.devices.provision(
      { id: 'smoke-1', type: 'smoke', placeId: 'b1' },
      clock.now(),
    );
    const stored = () =>
      (db.prepare('SELECT secret_hash FROM devices WHERE id = ?').get('smoke-1') as { secret_hash: string })
        .secret_hash;
    expect(stored()).toMatch(/^hmac-sha256\$/);
    expect(await r.devices.verifySecret('smoke-1', secret)).toBe(true);
    expect(await r.devices.verifySecret('smoke-1', `${secret}x`)).toBe(false);
    // a hash written by an older hub (scrypt N=2048)
    db.prepare('UPDATE devices SET secret_hash = ? WHERE id = ?').run(
      await hashSecret(secret, 2_048),
      'smoke-1',
    );
    const { r: reopened } = registry(db);
    expect(await reopened.devices.verifySecret('smoke-1', 'wrong')).toBe(false);
    expect(stored()).toMatch(/^scrypt\$/);
    expect(await reopened.devices.verifySecret('smoke-1', secret)).toBe(true);
    expect(stored()).toMatch(/^hmac-sha256\$/);
    expect(await reopened.devices.verifySecret('smoke-1', secret)).toBe(true);
    // the key is what makes the hash: another hub's key does not verify it
    const other = createRegistry(db, createCatalogue(), new ManualClock(), {
      secretKey: Buffer.alloc(32, 9),
    });
    expect(await other.devices.verifySecret('smoke-1', secret)).toBe(false);
  });
});

function places(r: ReturnType<typeof registry>['r']): void {
  // not awaited: on SQLite a registry write is done when the call returns (src/storage/README.md)
  void r.places.create({ id: 's1', level: 'street', name: 'S', parentId: null });
  void r.places.create({ id: 'c1', level: 'community', name: 'C', parentId: 's1' });
  void r.places.create({ id: 'g1', level: 'grid', name: 'G', parentId: 'c1' });
  void r.places.create({ id: 'e1', level: 'estate', name: 'E', parentId: 'g1' });
  void r.places.create({ id: 'b1', level: 'building', name: 'B', parentId: 'e1' });
}
