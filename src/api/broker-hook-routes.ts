import { createHash, timingSafeEqual } from 'node:crypto';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GridHubError } from '../domain/errors.ts';

/** What the hooks need of ingest's answers (src/ingest/broker-hooks.ts fits); wired in src/hub.ts. */
export interface BrokerHookAnswers {
  authenticate(login: {
    clientId: string;
    username: string;
    password: string;
    peerhost: string;
  }): Promise<{ result: 'allow' | 'deny'; is_superuser: boolean; expire_at?: number }>;
  authorize(access: { clientId: string; username: string; topic: string; action: 'publish' | 'subscribe' }): {
    result: 'allow' | 'deny';
  };
}

export interface BrokerHookRoutesDeps {
  /** `mqtt.hookSecret`; unset, no route is registered and the paths answer 404. */
  secret: string | undefined;
  answers: BrokerHookAnswers;
  /** Requests a minute one address may make without the right secret (http.rateLimitPerMinute); 0 = no limit. */
  rateLimitPerMinute: number;
}

/** Paths EMQX is configured with (deploy/emqx/emqx.conf); tests check the two agree. */
export const BROKER_HOOK_PATHS = { authn: '/broker/authn', authz: '/broker/authz' } as const;

// EMQX fills each `${placeholder}` of the body template, as a string ("" when it has no value)
const field = (max: number) => z.string().max(max).default('');
const authnBody = z.object({
  clientid: field(256),
  username: field(256),
  password: field(4096),
  peerhost: field(64),
});
const authzBody = z.object({
  clientid: field(256),
  username: field(256),
  topic: z.string().max(65_535),
  action: z.enum(['publish', 'subscribe']),
});
const loginAnswer = z.object({
  result: z.enum(['allow', 'deny']),
  is_superuser: z.boolean(),
  expire_at: z.number().int().optional(),
});
const accessAnswer = z.object({ result: z.enum(['allow', 'deny']) });

/**
 * EMQX 5's HTTP authentication and HTTP authorization call these, with the shared secret as a bearer token.
 * They are for the broker only: a missing secret is 401, a wrong one 403 (both counted by the rate limit per
 * address, like the rest of the API), and nothing of the body is logged — it carries device secrets and tokens.
 * Calls with the right secret are not rate-limited: the broker asks once per login and per topic it has not
 * cached, for every device, from one address; logins are throttled per device by the login gate instead.
 */
export function brokerHookRoutes(deps: BrokerHookRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    const secret = deps.secret;
    if (secret === undefined) return;
    const expected = digest(secret);
    const fromBroker = (request: FastifyRequest): 'ok' | 'missing' | 'wrong' => {
      const header = request.headers.authorization;
      if (typeof header !== 'string' || !header.startsWith('Bearer ')) return 'missing';
      return timingSafeEqual(digest(header.slice(7)), expected) ? 'ok' : 'wrong';
    };
    if (deps.rateLimitPerMinute > 0) {
      const limit = {
        max: deps.rateLimitPerMinute,
        timeWindow: 60_000,
        keyGenerator: (request: FastifyRequest) => `broker-hook:${request.ip}`,
        allowList: (request: FastifyRequest) => fromBroker(request) === 'ok',
        errorResponseBuilder: (_request: FastifyRequest, context: { max: number; after: string }) =>
          new GridHubError(
            'RATE_LIMITED',
            `more than ${context.max} requests a minute; try again in ${context.after}`,
          ),
      };
      await app.register(fastifyRateLimit, { ...limit, global: false });
      app.addHook('onRequest', app.rateLimit(limit));
    }
    // before the body is parsed: nobody without the secret gets as far as validation
    app.addHook('onRequest', async (request) => {
      const seen = fromBroker(request);
      if (seen === 'missing')
        throw new GridHubError(
          'UNAUTHENTICATED',
          'the broker hooks need the shared secret as a bearer token',
        );
      if (seen === 'wrong') {
        request.log.warn({ remoteAddress: request.ip }, 'broker hook called with a wrong secret');
        throw new GridHubError('NOT_AUTHORIZED', 'wrong broker hook secret');
      }
    });
    const typed = app.withTypeProvider<ZodTypeProvider>();
    const hidden = { hide: true, tags: ['system'], security: [] };
    typed.post(
      BROKER_HOOK_PATHS.authn,
      { schema: { ...hidden, body: authnBody, response: { 200: loginAnswer } } },
      async (request) => {
        const b = request.body;
        return deps.answers.authenticate({
          clientId: b.clientid,
          username: b.username,
          password: b.password,
          peerhost: b.peerhost || request.ip,
        });
      },
    );
    typed.post(
      BROKER_HOOK_PATHS.authz,
      { schema: { ...hidden, body: authzBody, response: { 200: accessAnswer } } },
      async (request) => {
        const b = request.body;
        return deps.answers.authorize({
          clientId: b.clientid,
          username: b.username,
          topic: b.topic,
          action: b.action,
        });
      },
    );
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
