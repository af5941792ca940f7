import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

/**
 * Behind the load balancer of the `ha` compose profile every request comes from the proxy: unless the hub
 * believes its X-Forwarded-For, one client's failed logins would throttle everyone's.
 */
let t: TestHub;
beforeAll(async () => {
  t = await startTestHub({
    env: { GRIDHUB_HTTP_TRUST_PROXY: '1', GRIDHUB_HTTP_LOGIN_FREE_ATTEMPTS: '2' },
  });
});
afterAll(async () => {
  await t?.close();
});

function login(from: string, username: string, password: string): Promise<Response> {
  return fetch(`${t.hub.urls.http}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
    body: JSON.stringify({ username, password }),
  });
}

describe('GRIDHUB_HTTP_TRUST_PROXY', () => {
  it('counts failed logins per forwarded client address, not per proxy', async () => {
    const manager = t.credentials?.users.find((u) => u.username === 'manager')?.password as string;
    for (let i = 0; i < 3; i++)
      expect((await login('198.51.100.7', 'worker', `wrong-${i}`)).status).not.toBe(200);
    // the guesser's address is held back, even with another account's right password
    expect((await login('198.51.100.7', 'manager', manager)).status).toBe(429);
    // another client behind the same proxy is not
    expect((await login('203.0.113.9', 'manager', manager)).status).toBe(200);
  });
});
