import { randomUUID } from 'node:crypto';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyRequest,
} from 'fastify';
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
import type { LoginGate } from '../domain/ports.ts';
import type { DeviceRecord } from '../domain/records.ts';
import { authenticate, bearer } from '../http/authentication.ts';
import { sanitizeBody } from '../http/sanitize.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../registry/registry.ts';
import { tokenIdOf } from '../registry/users.ts';
import { loginRoutes, sessionRoutes } from './auth-routes.ts';
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
  /** The community's IANA time zone (alerts' `timeZone`), handed to the pages at login. */
  timeZone: string;
  /** Lifetime (and upper bound) of API tokens. */
  apiTokenTtlMs: number;
  /** The hub's one login throttle, shared with MQTT. */
  loginGate: LoginGate;
  /** http.trustProxy: proxy hops or addresses whose X-Forwarded-For is believed; '' = none. */
  trustProxy?: string;
  /** Requests per minute per caller (token, else address) under /api; 0 turns the limit off. */
  rateLimitPerMinute: number;
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
    loggerInstance: deps.log.child(
      { module: 'http' },
      { serializers: { req: requestForLog } },
    ) as unknown as FastifyBaseLogger,
    // A client's x-request-id is kept only when it looks like an id; anything else would be logged verbatim.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: 1024 * 1024,
    trustProxy: trustProxyOption(deps.trustProxy ?? ''),
    // SSE streams stay open; close them promptly on shutdown.
    forceCloseConnections: true,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  // Security headers on every answer: the pages load only their own scripts, cannot be framed, and the API's
  // answers are not sniffed into something executable.
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // React and the charts set style attributes; no script can come in through them.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'", 'ws:', 'wss:'],
        workerSrc: ["'self'"],
        manifestSrc: ["'self'"],
        fontSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    // HSTS belongs to whoever terminates TLS in front of the hub (docs/security.md).
    strictTransportSecurity: false,
  });

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
    // first, so a flood of bad tokens is limited too (its hook runs before the token check)
    if (deps.rateLimitPerMinute > 0) {
      const limit = {
        max: deps.rateLimitPerMinute,
        timeWindow: 60_000,
        // per caller: the token's id when signed in (many workers share one office NAT), else the address
        keyGenerator: (request: FastifyRequest) => {
          const token = bearer(request.headers.authorization);
          return token ? `t:${tokenIdOf(token)}` : `ip:${request.ip}`;
        },
        errorResponseBuilder: (_request: FastifyRequest, context: { max: number; after: string }) =>
          new GridHubError(
            'RATE_LIMITED',
            `more than ${context.max} requests a minute; try again in ${context.after}`,
          ),
      };
      await authed.register(fastifyRateLimit, { ...limit, global: false });
      // an instance hook (route hooks would run after the token check), added before the token check
      authed.addHook('onRequest', authed.rateLimit(limit));
    }
    await authenticate(authed, { users: deps.registry.users, clock: deps.clock });
    await authed.register(
      sessionRoutes({ users: deps.registry.users, clock: deps.clock, apiTokenTtlMs: deps.apiTokenTtlMs }),
    );
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
    // free text arrives clean of control and bidi-override characters, whichever route stores it
    api.addHook('preValidation', async (request) => {
      if (request.body !== null && typeof request.body === 'object') sanitizeBody(request.body);
    });
    await api.register(
      loginRoutes({
        users: deps.registry.users,
        clock: deps.clock,
        tokenTtlMs: deps.tokenTtlMs,
        gate: deps.loginGate,
        timeZone: deps.timeZone,
      }),
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

/** fastify's `trustProxy`: the nearest `n` hops, a list of addresses and CIDRs, or off. */
function trustProxyOption(setting: string): string | false | ((address: string, hop: number) => boolean) {
  const t = setting.trim();
  if (t === '') return false;
  if (!/^\d+$/.test(t)) return t;
  const hops = Number(t);
  return (_address, hop) => hop < hops;
}

/** What a client may send as its request id: short, no spaces or control characters. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Query parameters whose values never reach the logs. */
const SECRET_PARAMS = /([?&](?:ticket|access_token|token|password|secret)=)[^&#]*/gi;

/** pino serializer for requests: method, URL with secret parameters cut out, address. */
function requestForLog(req: {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}) {
  return {
    method: req.method,
    url: req.url?.replace(SECRET_PARAMS, '$1[redacted]'),
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
  };
}
