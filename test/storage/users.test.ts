import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import { openRegistry, type Registry } from '../../src/registry/registry.ts';
import type { RegistryTables } from '../../src/registry/tables.ts';
import { tokenIdOf } from '../../src/registry/users.ts';
import { type ChangeFeed, postgresChangeFeed } from '../../src/storage/changes.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { code, describeStores, until } from './stores.ts';

/**
 * Users and tokens, the same tests on SQLite and on PostgreSQL. Tokens are checked in the store on every use, so
 * a token revoked (or an account disabled) by one instance is refused by every other at once; on PostgreSQL the
 * ChangeFeed also tells the others, so they close the streams and MQTT sessions the token opened.
 */
const T0 = Date.parse('2026-12-01T08:00:00+08:00');
const DAY = 86_400_000;
const secretKey = randomBytes(32);
// scrypt N=2^14: these tests are about the store, not the KDF's cost
const passwordCost = 16_384;

const open = (store: SqlStore, changes?: ChangeFeed): Promise<Registry> =>
  openRegistry(store, createCatalogue(), new ManualClock(T0), {
    secretKey,
    passwordCost,
    ...(changes ? { changes } : {}),
  });

async function places(r: Registry): Promise<void> {
  await r.places.create({ id: 's1', level: 'street', name: '青龙街道', parentId: null });
  await r.places.create({ id: 'c1', level: 'community', name: '幸福社区', parentId: 's1' });
  await r.places.create({ id: 'c2', level: 'community', name: '和平社区', parentId: 's1' });
  await r.people.create({ id: 'w1', name: '王芳', role: 'grid_worker', placeIds: ['c1'] });
}

describeStores('registry: users and tokens', ({ dialect, fresh }) => {
  it('creates, updates and disables users; the next instance reads them, and passwords, as written', async () => {
    const sut = await fresh();
    const a = await open(sut.store);
    await places(a);
    const zhao = await a.users.create(
      { username: 'zhao', password: 'correct horse battery', role: 'manager', scope: ['c2', 'c1'] },
      T0,
    );
    expect(zhao).toMatchObject({ username: 'zhao', role: 'manager', locale: 'zh-CN', enabled: true });
    expect(zhao.scope).toEqual(['c1', 'c2']);
    await a.users.create(
      { username: 'phone-w1', password: null, role: 'worker', personId: 'w1', locale: 'en' },
      T0,
    );
    expect(await code(a.users.create({ username: 'zhao', password: null, role: 'worker' }, T0))).toBe(
      'CONFLICT',
    );
    expect(await code(a.users.create({ username: 'X', password: null, role: 'worker' }, T0))).toBe(
      'REQUEST_INVALID',
    );
    expect(a.users.localeOfPerson('w1')).toBe('en');

    const updated = await a.users.update('zhao', { displayName: '赵主任', scope: ['c2'], locale: 'en' });
    expect(updated).toMatchObject({ displayName: '赵主任', scope: ['c2'], locale: 'en' });
    expect(await code(a.users.update('nobody', { locale: 'en' }))).toBe('NOT_FOUND');
    await a.users.setIntegrationPolicy('zhao', { maxSeverity: 'minor' });

    const b = await open(sut.reopen());
    expect(b.users.list().map((u) => u.username)).toEqual(['phone-w1', 'zhao']);
    expect(b.users.get('zhao')).toEqual({
      username: 'zhao',
      role: 'manager',
      personId: null,
      displayName: '赵主任',
      locale: 'en',
      enabled: true,
      scope: ['c2'],
    });
    expect(b.users.integrationPolicy('zhao')).toEqual({ maxSeverity: 'minor' });
    expect(b.users.integrationPolicy('phone-w1')).toEqual({ maxSeverity: 'major' });
    expect(b.users.localeOfPerson('w1')).toBe('en');
    expect((await b.users.verifyPassword('zhao', 'correct horse battery'))?.username).toBe('zhao');
    expect(await b.users.verifyPassword('zhao', 'wrong horse battery')).toBeUndefined();
    // a token-only account has no password that works
    expect(await b.users.verifyPassword('phone-w1', 'none$')).toBeUndefined();

    await b.users.update('zhao', { enabled: false });
    expect(await a.users.verifyPassword('zhao', 'correct horse battery')).toBeUndefined();
    expect((await open(sut.reopen())).users.get('zhao')?.enabled).toBe(false);
  });

  it('issues, verifies, lists and revokes tokens; an expired token is refused and not listed', async () => {
    const sut = await fresh();
    const a = await open(sut.store);
    await places(a);
    await a.users.create({ username: 'zhao', password: null, role: 'manager', scope: ['c1'] }, T0);
    await a.users.create({ username: 'li', password: null, role: 'manager', scope: ['c2'] }, T0);
    const session = await a.users.issueToken('zhao', 'session', T0, DAY);
    const api = await a.users.issueToken('zhao', 'api', T0 + 1, 30 * DAY, 'Node-RED');
    const other = await a.users.issueToken('li', 'api', T0 + 2, DAY);

    expect((await a.users.authenticateBearer(session, T0 + DAY - 1))?.username).toBe('zhao');
    expect(await a.users.authenticateBearer(session, T0 + DAY)).toBeUndefined(); // expiry honoured
    expect(await a.users.authenticateBearer('not-a-token', T0)).toBeUndefined();
    expect(await a.users.authenticateToken('zhao', api)).toMatchObject({
      user: { username: 'zhao' },
      tokenId: tokenIdOf(api),
      expiresAt: T0 + 1 + 30 * DAY,
    });
    expect(await a.users.authenticateToken('li', api)).toBeUndefined(); // someone else's token

    expect((await a.users.listTokens('zhao', T0 + 10)).map((t) => [t.id, t.kind, t.label])).toEqual([
      [tokenIdOf(api), 'api', 'Node-RED'],
      [tokenIdOf(session), 'session', null],
    ]);
    expect((await a.users.listTokens(undefined, T0 + 2 * DAY)).map((t) => t.id)).toEqual([tokenIdOf(api)]);

    // revoked by id: only the owner's (or an admin's, username undefined)
    expect(await a.users.revokeTokenById(tokenIdOf(other), 'zhao')).toBe(false);
    expect(await a.users.revokeTokenById('short', undefined)).toBe(false);
    expect(await a.users.revokeTokenById(tokenIdOf(other), 'li')).toBe(true);
    expect(await a.users.authenticateBearer(other, T0)).toBeUndefined();
    await a.users.revokeToken(session);
    expect(await a.users.authenticateBearer(session, T0)).toBeUndefined();

    // a stream ticket works once, and only while its token lives
    const { ticket } = await a.users.issueStreamTicket(api, T0);
    expect((await a.users.redeemStreamTicket(ticket, T0 + 1))?.tokenId).toBe(tokenIdOf(api));
    expect(await a.users.redeemStreamTicket(ticket, T0 + 2)).toBeUndefined();
    const again = await a.users.issueStreamTicket(api, T0);
    await a.users.revokeToken(api);
    expect(await a.users.redeemStreamTicket(again.ticket, T0 + 1)).toBeUndefined();
    expect(await code(a.users.issueStreamTicket(api, T0))).toBe('UNAUTHENTICATED');

    const b = await open(sut.reopen());
    expect(await b.users.listTokens(undefined, T0)).toEqual([]);
  });

  it('a stream ticket issued by one instance is redeemed by another, once, and not after its 30 s', async () => {
    const sut = await fresh();
    const a = await open(sut.store);
    await places(a);
    await a.users.create({ username: 'zhao', password: null, role: 'manager', scope: ['c1'] }, T0);
    const token = await a.users.issueToken('zhao', 'session', T0, DAY);
    const b = await open(sut.reopen());
    const first = await a.users.issueStreamTicket(token, T0);
    expect(first.expiresAt).toBe(T0 + 30_000);
    expect(await b.users.redeemStreamTicket(first.ticket, T0 + 29_999)).toMatchObject({
      user: { username: 'zhao' },
      tokenId: tokenIdOf(token),
    });
    expect(await a.users.redeemStreamTicket(first.ticket, T0 + 29_999)).toBeUndefined();
    const late = await a.users.issueStreamTicket(token, T0);
    expect(await b.users.redeemStreamTicket(late.ticket, T0 + 30_000)).toBeUndefined();
    // one never redeemed is gone from the store once it has run out and the next is issued
    await a.users.issueStreamTicket(token, T0);
    await b.users.issueStreamTicket(token, T0 + 60_000);
    const left = await sut.store.all(
      sut.store.builder<RegistryTables>().selectFrom('stream_tickets').select('expires_at'),
    );
    expect(left.map((r) => Number(r.expires_at))).toEqual([T0 + 90_000]);
  });

  it('a token revoked, or an account disabled, on instance B is refused by instance A at once', async () => {
    const sut = await fresh();
    const feeds =
      dialect === 'postgres' ? [0, 1].map(() => postgresChangeFeed(sut.store, sut.url as string)) : [];
    try {
      await Promise.all(feeds.map((f) => f.ready()));
      const a = await open(sut.store, feeds[0]);
      await places(a);
      await a.users.create({ username: 'zhao', password: null, role: 'manager', scope: ['c1'] }, T0);
      await a.users.create({ username: 'phone-w1', password: null, role: 'worker', personId: 'w1' }, T0);
      const b = await open(sut.reopen(), feeds[1]);
      const closedOnA: string[] = [];
      a.users.onRevoked((ids) => closedOnA.push(...ids));

      const token = await a.users.issueToken('zhao', 'api', T0, DAY);
      const phone = await a.users.issueToken('phone-w1', 'api', T0, DAY);
      expect((await a.users.authenticateBearer(token, T0))?.username).toBe('zhao');
      expect((await b.users.authenticateBearer(token, T0))?.username).toBe('zhao');

      await b.users.revokeToken(token);
      // no wait: A asks the store on every use
      expect(await a.users.authenticateBearer(token, T0)).toBeUndefined();
      expect(await a.users.authenticateToken('zhao', token)).toBeUndefined();

      await b.users.update('phone-w1', { enabled: false });
      expect(await a.users.authenticateToken('phone-w1', phone)).toBeUndefined();
      expect(await a.users.authenticateBearer(phone, T0)).toBeUndefined();

      if (dialect === 'postgres') {
        // A hears both, and closes what the token and the account had open here
        await until(() => closedOnA.includes(tokenIdOf(token)) && closedOnA.includes(tokenIdOf(phone)));
        await until(() => a.users.get('phone-w1')?.enabled === false);
        // enabled again on B: A lets the phone in, memory read again if it has not heard yet
        await b.users.update('phone-w1', { enabled: true });
        expect((await a.users.authenticateToken('phone-w1', phone))?.user.enabled).toBe(true);
      }
    } finally {
      await Promise.all(feeds.map((f) => f.close()));
    }
  });
});
