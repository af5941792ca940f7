import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { LoginGate } from '../domain/ports.ts';
import { bearer } from '../http/authentication.ts';
import { tokenIdOf, type UserStore } from '../registry/users.ts';

const userView = z.object({
  username: z.string(),
  role: z.string(),
  displayName: z.string(),
  personId: z.string().nullable(),
  locale: z.string(),
  scope: z.array(z.string()),
});

const tokenView = z.object({
  id: z.string(),
  username: z.string(),
  kind: z.enum(['session', 'api']),
  label: z.string().nullable(),
  createdAt: z.number(),
  expiresAt: z.number().nullable(),
});

const DAY_MS = 86_400_000;

/** 429 with Retry-After in whole seconds (RFC 9110 §10.2.3). */
export function rateLimited(reply: FastifyReply, retryAfterMs: number, message: string): GridHubError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  reply.header('retry-after', String(seconds));
  return new GridHubError('RATE_LIMITED', `${message}; try again in ${seconds} s`);
}

/** Public: `POST /api/auth/login`. */
export function loginRoutes(deps: {
  users: UserStore;
  clock: Clock;
  tokenTtlMs: number;
  gate: LoginGate;
  /** The community's IANA zone: the pages show every time in it, whatever the browser's zone. */
  timeZone: string;
}): FastifyPluginAsync {
  return async (app) => {
    app.withTypeProvider<ZodTypeProvider>().post(
      '/auth/login',
      {
        schema: {
          tags: ['auth'],
          summary: 'Log in with user name and password; returns a bearer token',
          body: z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) }),
          response: {
            200: z.object({ token: z.string(), expiresAt: z.string(), user: userView, timeZone: z.string() }),
          },
        },
      },
      async (request, reply) => {
        const { username, password } = request.body;
        // Counted before the password is checked, so parallel guesses cannot all slip through.
        const attempt = deps.gate.admit(request.ip, username.toLowerCase());
        if (!attempt.ok) {
          request.log.warn({ username, ip: request.ip, reason: attempt.reason }, 'login throttled');
          throw rateLimited(
            reply,
            attempt.retryAfterMs,
            attempt.reason === 'busy' ? 'too many logins being checked' : 'too many failed logins',
          );
        }
        const user = await attempt.verify(() => deps.users.verifyPassword(username, password));
        attempt.settle(user !== undefined);
        if (!user) {
          request.log.warn({ username, ip: request.ip }, 'login failed');
          throw new GridHubError('BAD_CREDENTIALS');
        }
        const now = deps.clock.now();
        const token = await deps.users.issueToken(user.username, 'session', now, deps.tokenTtlMs);
        return {
          token,
          expiresAt: new Date(now + deps.tokenTtlMs).toISOString(),
          user,
          timeZone: deps.timeZone,
        };
      },
    );
  };
}

/**
 * Authenticated: who am I, log out, API tokens (for MQTT logins of workers and integrations) listed and revoked
 * by their owner and by admins, and the single-use ticket for the alert stream.
 */
export function sessionRoutes(deps: {
  users: UserStore;
  clock: Clock;
  /** Lifetime of a new API token when the request does not ask for less. */
  apiTokenTtlMs: number;
}): FastifyPluginAsync {
  return async (app) => {
    const typed = app.withTypeProvider<ZodTypeProvider>();
    typed.get(
      '/me',
      { schema: { tags: ['auth'], response: { 200: userView } } },
      async (request) => request.user,
    );
    typed.post('/auth/logout', { schema: { tags: ['auth'] } }, async (request, reply) => {
      const token = bearer(request.headers.authorization);
      // revocation closes the streams and MQTT sessions this token opened
      if (token) await deps.users.revokeToken(token);
      return reply.code(204).send();
    });
    typed.post(
      '/auth/tokens',
      {
        schema: {
          tags: ['auth'],
          summary: 'Issue an API token (use it as the MQTT password with your user name); it expires',
          body: z.object({
            label: z.string().max(100).optional(),
            /** Days until it expires; at most the configured API token lifetime. */
            expiresInDays: z.number().int().min(1).max(365).optional(),
          }),
          response: {
            201: z.object({ token: z.string(), id: z.string(), username: z.string(), expiresAt: z.number() }),
          },
        },
      },
      async (request, reply) => {
        // an integration's token does not mint more tokens: an admin issues them (POST /integrations/credentials)
        if (request.user.role === 'integration') {
          throw new GridHubError('NOT_AUTHORIZED', 'integrations get their tokens from an admin');
        }
        const now = deps.clock.now();
        const ttl = Math.min(
          deps.apiTokenTtlMs,
          (request.body.expiresInDays ?? Number.POSITIVE_INFINITY) * DAY_MS,
        );
        const token = await deps.users.issueToken(request.user.username, 'api', now, ttl, request.body.label);
        request.log.info({ by: request.user.username }, 'api token issued');
        return reply
          .code(201)
          .send({ token, id: tokenIdOf(token), username: request.user.username, expiresAt: now + ttl });
      },
    );
    typed.get(
      '/auth/tokens',
      {
        schema: {
          tags: ['auth'],
          summary:
            'Your live tokens (admins: everyone’s with ?all=true); the tokens themselves are never shown',
          querystring: z.object({ all: z.enum(['true', 'false']).optional() }),
          response: { 200: z.object({ items: z.array(tokenView) }) },
        },
      },
      async (request) => {
        const all = request.query.all === 'true';
        if (all && request.user.role !== 'admin')
          throw new GridHubError('NOT_AUTHORIZED', 'requires role admin');
        return {
          items: await deps.users.listTokens(all ? undefined : request.user.username, deps.clock.now()),
        };
      },
    );
    typed.delete(
      '/auth/tokens/:id',
      {
        schema: {
          tags: ['auth'],
          summary: 'Revoke a token: its SSE streams and MQTT sessions are closed at once',
          params: z.object({ id: z.string().min(1).max(64) }),
        },
      },
      async (request, reply) => {
        const owner = request.user.role === 'admin' ? undefined : request.user.username;
        if (!(await deps.users.revokeTokenById(request.params.id, owner))) {
          throw new GridHubError('NOT_FOUND', 'no such token of yours');
        }
        request.log.info({ by: request.user.username, tokenId: request.params.id }, 'token revoked');
        return reply.code(204).send();
      },
    );
    typed.post(
      '/auth/stream-ticket',
      {
        schema: {
          tags: ['auth'],
          summary:
            'A single-use ticket (30 s) for GET /api/alerts/stream?ticket=…: EventSource cannot send a header',
          response: { 201: z.object({ ticket: z.string(), expiresAt: z.number() }) },
        },
      },
      async (request, reply) => {
        const token = bearer(request.headers.authorization);
        if (!token) throw new GridHubError('UNAUTHENTICATED', 'a stream ticket is issued for a bearer token');
        return reply.code(201).send(await deps.users.issueStreamTicket(token, deps.clock.now()));
      },
    );
  };
}
