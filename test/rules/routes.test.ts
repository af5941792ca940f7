import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installErrorHandler } from '../../src/api/errors.ts';
import type { User, UserRole } from '../../src/domain/records.ts';
import { scopeFor } from '../../src/http/context.ts';
import { rulesRoutes } from '../../src/rules/routes.ts';
import { createHarness, type Harness, MIN, telemetry } from './helpers.ts';

let h: Harness;
let app: FastifyInstance;

beforeEach(async () => {
  h = createHarness();
  app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  const authenticated: FastifyPluginAsync = async (authed) => {
    authed.decorateRequest('user', null as never);
    authed.decorateRequest('scope', null as never);
    // Stands in for the app's token check: the test names the role in a header.
    authed.addHook('onRequest', async (request) => {
      const role = String(request.headers['x-test-role']) as UserRole;
      const user: User = {
        username: role,
        role,
        personId: null,
        displayName: role,
        locale: 'en',
        enabled: true,
        scope: role === 'admin' ? [] : ['g1'],
      };
      request.user = user;
      request.scope = scopeFor(user);
    });
    await authed.register(rulesRoutes({ engine: h.engine }));
  };
  await app.register(authenticated, { prefix: '/api' });
  await app.ready();
});

afterEach(async () => {
  await app.close();
  await h.engine.close();
  h.db.close();
});

const as = (role: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object) =>
  app.inject({
    method,
    url: `/api${url}`,
    headers: { 'x-test-role': role },
    ...(payload ? { payload } : {}),
  });

const hotBin = {
  name: 'Hot bin',
  match: { deviceTypes: ['bin'] },
  condition: { field: 'temperature', gte: 40 },
  raise: { severity: 'major', category: 'bin_fire', title: 'Hot bin {{temperature}} °C' },
};

describe('rules routes', () => {
  it('lists the rules in force and shows one as written', async () => {
    const list = await as('worker', 'GET', '/rules');
    expect(list.statusCode).toBe(200);
    expect(list.json().map((r: { id: string }) => r.id)).toContain('bin-full');
    const one = await as('worker', 'GET', '/rules/bin-full');
    expect(one.json()).toMatchObject({
      id: 'bin-full',
      origin: 'pack',
      file: 'bin-full.yaml',
      rule: { for: '10m' },
    });
    expect((await as('worker', 'GET', '/rules/nope')).json()).toMatchObject({
      error: { code: 'RULE_NOT_FOUND' },
    });
  });

  it('PUT is admin-only, applies at once and refuses an invalid rule naming the field', async () => {
    expect((await as('manager', 'PUT', '/rules/bin-hot', hotBin)).statusCode).toBe(403);
    const ok = await as('admin', 'PUT', '/rules/bin-hot', hotBin);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ id: 'bin-hot', origin: 'user', file: 'bin-hot.yaml', version: 1 });
    expect(h.send(telemetry('b', 'bin', { temperature: 45 }))).toMatchObject([
      { ruleId: 'bin-hot', title: 'Hot bin 45 °C' },
    ]);

    const bad = await as('admin', 'PUT', '/rules/bin-hot', {
      ...hotBin,
      condition: { field: 'fill', gte: 'full' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      error: {
        code: 'RULE_INVALID',
        field: 'condition.gte',
        message: 'rule bin-hot: condition.gte: expected a number',
      },
    });
    expect(h.engine.get('bin-hot')?.rule.condition).toEqual({ field: 'temperature', gte: 40 });
    const mismatch = await as('admin', 'PUT', '/rules/bin-hot', { ...hotBin, id: 'other' });
    expect(mismatch.json()).toMatchObject({ error: { code: 'RULE_INVALID', field: 'id' } });
  });

  it('DELETE is admin-only and takes the rule out of force', async () => {
    expect((await as('worker', 'DELETE', '/rules/tamper')).statusCode).toBe(403);
    expect((await as('admin', 'DELETE', '/rules/tamper')).statusCode).toBe(204);
    expect((await as('admin', 'GET', '/rules/tamper')).json()).toMatchObject({
      enabled: false,
      origin: 'user',
    });
    expect((await as('admin', 'DELETE', '/rules/nope')).statusCode).toBe(404);
  });

  it('POST /rules/test runs the rule in virtual time over relative and absolute times', async () => {
    const t0 = Date.UTC(2026, 2, 1, 0, 0, 0);
    const res = await as('manager', 'POST', '/rules/test', {
      rule: { ...hotBin, id: 'bin-hot', for: '2m', clear: { when: { field: 'temperature', lt: 30 } } },
      start: new Date(t0).toISOString(),
      readings: [
        { after: 0, values: { temperature: 50 } },
        { after: '1m', values: { temperature: 55 } },
        { at: t0 + 5 * MIN, values: { temperature: 20 } },
      ],
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().results).toMatchObject([
      { kind: 'raise', offsetMs: 2 * MIN, at: t0 + 2 * MIN, title: 'Hot bin 55 °C', deviceId: 'test-device' },
      { kind: 'clear', offsetMs: 5 * MIN },
    ]);
    expect(h.results).toEqual([]);
    const invalid = await as('admin', 'POST', '/rules/test', {
      rule: { ...hotBin, id: 'x', for: 'soon' },
      readings: [],
    });
    expect(invalid.json()).toMatchObject({ error: { code: 'RULE_INVALID', field: 'for' } });
    expect((await as('worker', 'POST', '/rules/test', { rule: hotBin, readings: [] })).statusCode).toBe(403);
  });
});
