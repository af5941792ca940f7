import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Registry as MetricsRegistry } from 'prom-client';
import { z } from 'zod';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { DeviceRecord } from '../domain/records.ts';
import { scopeFor } from '../http/context.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../registry/registry.ts';
import { bearer, loginRoutes, sessionRoutes } from './auth-routes.ts';
import { installErrorHandler } from './errors.ts';
import { registryRoutes } from './registry-routes.ts';

export interface ReadinessCheck {
  name: string;
  check: () => boolean | string;
}

export interface AppDeps {
  log: Logger;
  clock: Clock;
  registry: Registry;
  catalogue: Catalogue;
  metrics: MetricsRegistry;
  tokenTtlMs: number;
  version: string;
  /** Each returns true when ready, or a string saying what is not. */
  readiness: ReadinessCheck[];
  /** Area routes under /api, behind authentication (request.user and request.scope are set). */
  routes: FastifyPluginAsync[];
  /** Area routes under /api without authentication (e.g. the resident's one-time rating link). */
  publicRoutes?: FastifyPluginAsync[];
  /** Called after a device is provisioned through the API (so rules start timing its absence). */
  onDeviceProvisioned?: (device: DeviceRecord) => void;
  /** Plugins at the root (MQTT over WebSocket, the dashboards). */
  rootPlugins?: FastifyPluginAsync[];
}

/**
 * Build the HTTP app without listening, so tests can `inject` into it. The hub's composition root registers
 * every area's routes through `deps`.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log.child({ module: 'http' }) as FastifyBaseLogger,
    requestIdHeader: 'x-request-id',
    bodyLimit: 1024 * 1024,
    // SSE streams stay open; close them promptly on shutdown.
    forceCloseConnections: true,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'GridHub API',
        description: 'Smart-community telemetry hub: places, devices, rules, alerts, telemetry, KPIs.',
        version: deps.version,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get('/healthz', { schema: { tags: ['system'], security: [] } }, async () => ({ status: 'ok' }));
  typed.get('/readyz', { schema: { tags: ['system'], security: [] } }, async (_request, reply) => {
    const checks = Object.fromEntries(deps.readiness.map((c) => [c.name, c.check()]));
    const ready = Object.values(checks).every((v) => v === true);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
  typed.get('/metrics', { schema: { tags: ['system'], security: [] } }, async (_request, reply) => {
    reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.metrics();
  });

  for (const plugin of deps.rootPlugins ?? []) await app.register(plugin);

  const authenticated: FastifyPluginAsync = async (authed) => {
    authed.decorateRequest('user', null as never);
    authed.decorateRequest('scope', null as never);
    authed.addHook('onRequest', async (request) => {
      // EventSource cannot send headers, so the stream may carry the token as ?access_token=.
      const query = request.query as Record<string, unknown> | undefined;
      const token =
        bearer(request.headers.authorization) ??
        (typeof query?.access_token === 'string' ? query.access_token : undefined);
      if (!token)
        throw new GridHubError(
          'UNAUTHENTICATED',
          'send Authorization: Bearer <token> (POST /api/auth/login)',
        );
      const user = deps.registry.users.authenticateBearer(token, deps.clock.now());
      if (!user) throw new GridHubError('UNAUTHENTICATED', 'token is unknown or expired; log in again');
      request.user = user;
      request.scope = scopeFor(user);
      request.log = request.log.child({ user: user.username });
    });
    await authed.register(sessionRoutes({ users: deps.registry.users, clock: deps.clock }));
    await authed.register(
      registryRoutes({
        registry: deps.registry,
        catalogue: deps.catalogue,
        clock: deps.clock,
        onProvisioned: deps.onDeviceProvisioned,
      }),
    );
    for (const plugin of deps.routes) await authed.register(plugin);
  };
  const api: FastifyPluginAsync = async (api) => {
    await api.register(
      loginRoutes({ users: deps.registry.users, clock: deps.clock, tokenTtlMs: deps.tokenTtlMs }),
    );
    api.withTypeProvider<ZodTypeProvider>().get(
      '/clock',
      {
        schema: {
          tags: ['system'],
          security: [],
          summary: "The hub's clock (virtual when GRIDHUB_CLOCK_SPEED ≠ 1), for simulators",
          response: { 200: z.object({ now: z.number(), iso: z.string(), speed: z.number() }) },
        },
      },
      async () => {
        const now = deps.clock.now();
        return { now, iso: new Date(now).toISOString(), speed: deps.clock.speed };
      },
    );
    for (const plugin of deps.publicRoutes ?? []) await api.register(plugin);

    await api.register(authenticated);
  };
  await app.register(api, { prefix: '/api' });
  return app;
}
