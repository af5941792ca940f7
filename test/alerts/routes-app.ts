import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { AlertsConfig } from '../../src/alerts/config.ts';
import { alertsPublicRoutes, alertsRoutes } from '../../src/alerts/routes.ts';
import { installErrorHandler } from '../../src/api/errors.ts';
import type { User } from '../../src/domain/records.ts';
import { scopeFor } from '../../src/http/context.ts';
import { createHarness, type Harness, seedCommunity } from './fixtures.ts';

/** The users of the route tests, named in the `x-test-user` header. */
export const TEST_USERS: Record<string, Omit<User, 'displayName' | 'locale' | 'enabled'>> = {
  admin: { username: 'admin', role: 'admin', personId: null, scope: [] },
  w1: { username: 'w1', role: 'worker', personId: 'w1', scope: ['g1'] },
  w2: { username: 'w2', role: 'worker', personId: 'w2', scope: ['g2'] },
  mgr: { username: 'mgr', role: 'manager', personId: null, scope: ['c1'] },
  fire: { username: 'fire', role: 'department', personId: 'f1', scope: [] },
};

/**
 * A dispatcher over the seeded test community and a fastify app with the alerts routes under /api. A header
 * stands in for the app's token check (the full-stack tests in test/hub use real logins).
 */
export async function buildRoutesApp(
  options: { keepAliveMs?: number; config?: Partial<AlertsConfig>; verbose?: (sql: string) => void } = {},
): Promise<{
  h: Harness;
  app: FastifyInstance;
}> {
  const h = createHarness({
    ...(options.config ? { config: options.config } : {}),
    ...(options.verbose ? { verbose: options.verbose } : {}),
  });
  seedCommunity(h.registry);
  await h.dispatcher.start();
  const app = Fastify({ forceCloseConnections: true });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  const places = {
    path: (id: string) => h.registry.places.path(id),
    name: (id: string) => h.registry.places.name(id),
  };
  const authenticated: FastifyPluginAsync = async (authed) => {
    authed.decorateRequest('user', null as never);
    authed.decorateRequest('scope', null as never);
    authed.addHook('onRequest', async (request) => {
      const u = TEST_USERS[String(request.headers['x-test-user'])];
      if (!u) throw new Error('unknown test user');
      request.user = { ...u, displayName: u.username, locale: 'zh-CN', enabled: true };
      request.scope = scopeFor(request.user);
    });
    await authed.register(
      alertsRoutes({ dispatcher: h.dispatcher, clock: h.clock, places, keepAliveMs: options.keepAliveMs }),
    );
  };
  const api: FastifyPluginAsync = async (scope) => {
    await scope.register(alertsPublicRoutes({ dispatcher: h.dispatcher }));
    await scope.register(authenticated);
  };
  await app.register(api, { prefix: '/api' });
  await app.ready();
  return { h, app };
}
