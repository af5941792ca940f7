import { statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

/** Everything the hub logs, as text, to look for secrets in. */
const logLines: string[] = [];
const capture = new Writable({
  write(chunk: Buffer, _enc, done) {
    logLines.push(chunk.toString('utf8'));
    done();
  },
});

let t: TestHub;
let admin: string;
let worker: string;
beforeAll(async () => {
  t = await startTestHub({ log: createLogger('info', {}, capture) });
  admin = await t.login('admin');
  worker = await t.login('worker');
});
afterAll(async () => {
  await t.close();
});

const inject = (opts: InjectOptions) => t.hub.app.inject(opts);

/** Open the SSE stream (raw HTTP) and resolve once the headers arrived. */
function openStream(path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, t.hub.urls.http), resolve);
    req.on('error', reject);
    req.end();
  });
}

describe('tokens never travel in URLs or logs (finding 3)', () => {
  it('?access_token= is refused on every route, the token-minting one included', async () => {
    for (const url of ['/api/me', '/api/auth/tokens', '/api/alerts/stream']) {
      const method: 'GET' | 'POST' = url === '/api/auth/tokens' ? 'POST' : 'GET';
      const res = await inject({
        method,
        url: `${url}?access_token=${admin}`,
        payload: method === 'POST' ? {} : undefined,
      });
      expect(res.statusCode, url).toBe(401);
    }
  });

  it('the stream takes a single-use ticket, only the stream route takes it, and the log shows neither', async () => {
    const issued = await inject({
      method: 'POST',
      url: '/api/auth/stream-ticket',
      headers: { authorization: `Bearer ${worker}` },
    });
    expect(issued.statusCode).toBe(201);
    const { ticket } = issued.json() as { ticket: string };
    expect((await inject({ method: 'GET', url: `/api/me?ticket=${ticket}` })).statusCode).toBe(401);
    const stream = await openStream(`/api/alerts/stream?ticket=${ticket}`);
    expect(stream.statusCode).toBe(200);
    stream.destroy();
    const again = await openStream(`/api/alerts/stream?ticket=${ticket}`);
    expect(again.statusCode).toBe(401);
    again.resume();
    const log = logLines.join('');
    expect(log).toContain('/api/alerts/stream?ticket=[redacted]');
    expect(log).not.toContain(ticket);
    expect(log).not.toContain(admin);
    expect(log).not.toContain(worker);
  });
});

describe('revocation reaches open channels; tokens end (finding 4)', () => {
  it('logging out closes the SSE stream opened with that session', async () => {
    const token = await t.login('manager');
    const { ticket } = (
      await inject({
        method: 'POST',
        url: '/api/auth/stream-ticket',
        headers: { authorization: `Bearer ${token}` },
      })
    ).json() as { ticket: string };
    const stream = await openStream(`/api/alerts/stream?ticket=${ticket}`);
    expect(stream.statusCode).toBe(200);
    stream.resume();
    const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    const out = await inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(out.statusCode).toBe(204);
    await closed;
  });

  it('an API token expires, is listed without its secret, and revoking it ends its MQTT session', async () => {
    const auth = { authorization: `Bearer ${worker}` };
    const made = await inject({
      method: 'POST',
      url: '/api/auth/tokens',
      headers: auth,
      payload: { label: 'phone' },
    });
    expect(made.statusCode).toBe(201);
    const { token, id, expiresAt } = made.json() as { token: string; id: string; expiresAt: number };
    expect(expiresAt).toBeLessThanOrEqual(t.hub.clock.now() + 90 * 86_400_000);
    const listed = (await inject({ method: 'GET', url: '/api/auth/tokens', headers: auth })).json() as {
      items: { id: string; label: string | null }[];
    };
    expect(listed.items.find((i) => i.id === id)?.label).toBe('phone');
    expect(JSON.stringify(listed)).not.toContain(token);
    // another user cannot revoke it; its owner can
    const other = await t.login('worker2');
    expect(
      (
        await inject({
          method: 'DELETE',
          url: `/api/auth/tokens/${id}`,
          headers: { authorization: `Bearer ${other}` },
        })
      ).statusCode,
    ).toBe(404);

    const phone = await connectAsync(t.hub.urls.mqtt, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      username: 'worker',
      password: token,
    });
    const closed = new Promise<void>((resolve) => phone.once('close', () => resolve()));
    expect(
      (await inject({ method: 'DELETE', url: `/api/auth/tokens/${id}`, headers: auth })).statusCode,
    ).toBe(204);
    await closed;
    phone.end(true);
    // admins see everyone's tokens
    const all = (
      await inject({
        method: 'GET',
        url: '/api/auth/tokens?all=true',
        headers: { authorization: `Bearer ${admin}` },
      })
    ).json() as { items: { username: string }[] };
    expect(new Set(all.items.map((i) => i.username)).size).toBeGreaterThan(1);
    expect(
      (await inject({ method: 'GET', url: '/api/auth/tokens?all=true', headers: auth })).statusCode,
    ).toBe(403);
  });
});

describe('the login throttle counts before verifying (finding 5)', () => {
  it('200 parallel guesses from one address: at most the free ones are checked, the right password among them is refused 429', async () => {
    const password = t.credentials?.users.find((u) => u.username === 'fire')?.password as string;
    const guesses = Array.from({ length: 200 }, (_, i) =>
      inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: '203.0.113.7',
        payload: { username: 'fire', password: i === 199 ? password : `guess-${i}` },
      }),
    );
    const answers = await Promise.all(guesses);
    const codes = answers.map((a) => a.statusCode);
    expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(10);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(190);
    expect(codes[199]).toBe(429);
    expect(Number(answers[199]?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // somebody else, from elsewhere, logs in meanwhile
    const li = t.credentials?.users.find((u) => u.username === 'worker2')?.password as string;
    const ok = await inject({
      method: 'POST',
      url: '/api/auth/login',
      remoteAddress: '198.51.100.20',
      payload: { username: 'worker2', password: li },
    });
    expect(ok.statusCode).toBe(200);
  });
});

describe('HTTP hygiene (finding 10)', () => {
  it('pages and API answers carry security headers', async () => {
    for (const url of ['/', '/api/me']) {
      const res = await inject({ method: 'GET', url, headers: { authorization: `Bearer ${admin}` } });
      expect(res.headers['content-security-policy'], url).toContain("frame-ancestors 'none'");
      expect(res.headers['content-security-policy'], url).toContain("script-src 'self'");
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
      expect(res.headers['referrer-policy'], url).toBe('no-referrer');
    }
  });

  it('a client request id is kept only when it looks like one', async () => {
    const good = await inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'board-42.a' } });
    expect(good.headers['x-request-id']).toBe('board-42.a');
    const long = 'x'.repeat(8000);
    const bad = await inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': long } });
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(logLines.join('')).not.toContain(long);
  });

  it('free text is stored without control and bidi-override characters', async () => {
    const res = await inject({
      method: 'POST',
      url: '/api/people',
      headers: { authorization: `Bearer ${admin}` },
      payload: { id: 'p-bidi', name: '李\u202egnp.exe\u0007\uffff 四', role: 'volunteer', placeIds: ['G1'] },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().person.name).toBe('李gnp.exe 四');
  });

  it('the API answers 429 with Retry-After over http.rateLimitPerMinute', async () => {
    const small = await startTestHub({ demo: false, env: { GRIDHUB_HTTP_RATE_LIMIT_PER_MINUTE: '5' } });
    try {
      const codes: number[] = [];
      let last: LightMyRequestResponse | undefined;
      for (let i = 0; i < 6; i++) {
        last = await small.hub.app.inject({
          method: 'GET',
          url: '/api/me',
          headers: { authorization: 'Bearer nope' },
        });
        codes.push(last.statusCode);
      }
      expect(codes.slice(0, 5).every((c) => c === 401)).toBe(true);
      expect(codes[5]).toBe(429);
      expect(last?.headers['retry-after']).toBeDefined();
    } finally {
      await small.close();
    }
  });
});

describe('data at rest (finding 9)', () => {
  it('the data dir is 0700 and the databases, their WAL files and the server key 0600', () => {
    expect(statSync(t.dataDir).mode & 0o777).toBe(0o700);
    for (const f of ['gridhub.db', 'gridhub.db-wal', 'telemetry.db', 'telemetry.db-wal', 'hub.key']) {
      expect(statSync(join(t.dataDir, f)).mode & 0o777, f).toBe(0o600);
    }
  });
});

describe('Node-RED gets an integration scoped to its flow, which ends (finding 11)', () => {
  it('a severity cap, device types, an expiry; no minting of tokens, no sandbox', async () => {
    const issued = await inject({
      method: 'POST',
      url: '/api/integrations/credentials',
      headers: { authorization: `Bearer ${admin}` },
      payload: {
        username: 'flow-ebike',
        scope: ['S1'],
        maxSeverity: 'minor',
        deviceTypes: ['ebike_elevator'],
      },
    });
    expect(issued.statusCode).toBe(201);
    const auth = { authorization: `Bearer ${(issued.json() as { token: string }).token}` };
    const mine = (await inject({ method: 'GET', url: '/api/auth/tokens', headers: auth })).json() as {
      items: { expiresAt: number | null }[];
    };
    expect(mine.items[0]?.expiresAt).toBeLessThanOrEqual(t.hub.clock.now() + 30 * 86_400_000);
    expect(
      (await inject({ method: 'POST', url: '/api/auth/tokens', headers: auth, payload: {} })).statusCode,
    ).toBe(403);
    const sandbox = await inject({
      method: 'POST',
      url: '/api/rules/test',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ rule: {}, readings: [] }),
    });
    expect(sandbox.statusCode).toBe(403);
    const devices = t.credentials?.devices ?? [];
    const ebike = devices.find((d) => d.type === 'ebike_elevator')?.id as string;
    const smoke = devices.find((d) => d.type === 'smoke')?.id as string;
    const raise = (deviceId: string, severity: string) =>
      inject({
        method: 'POST',
        url: '/api/integrations/alerts',
        headers: auth,
        payload: { flow: 'ebike', deviceId, severity, title: 'test' },
      });
    expect((await raise(ebike, 'critical')).statusCode).toBe(403);
    expect((await raise(smoke, 'minor')).statusCode).toBe(404);
    expect((await raise(ebike, 'minor')).statusCode).toBe(200);
  });
});
