import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { UserStore } from '../registry/users.ts';

const userView = z.object({
  username: z.string(),
  role: z.string(),
  displayName: z.string(),
  personId: z.string().nullable(),
  locale: z.string(),
  scope: z.array(z.string()),
});

/** Failed logins per source address, to slow down password guessing. */
class LoginThrottle {
  readonly #failures = new Map<string, { count: number; until: number }>();
  constructor(readonly clock: Clock) {}
  delayMs(ip: string): number {
    const f = this.#failures.get(ip);
    return f && f.until > this.clock.now() ? f.until - this.clock.now() : 0;
  }
  fail(ip: string): void {
    const f = this.#failures.get(ip) ?? { count: 0, until: 0 };
    f.count++;
    // Free tries, then an exponential lock-out capped at 5 minutes.
    f.until = f.count > 5 ? this.clock.now() + Math.min(300_000, 1000 * 2 ** (f.count - 5)) : 0;
    this.#failures.set(ip, f);
    if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value as string);
  }
  succeed(ip: string): void {
    this.#failures.delete(ip);
  }
}

/** Public: `POST /api/auth/login`. */
export function loginRoutes(deps: {
  users: UserStore;
  clock: Clock;
  tokenTtlMs: number;
}): FastifyPluginAsync {
  return async (app) => {
    const throttle = new LoginThrottle(deps.clock);
    app.withTypeProvider<ZodTypeProvider>().post(
      '/auth/login',
      {
        schema: {
          tags: ['auth'],
          summary: 'Log in with user name and password; returns a bearer token',
          body: z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) }),
          response: { 200: z.object({ token: z.string(), expiresAt: z.string(), user: userView }) },
        },
      },
      async (request) => {
        const wait = throttle.delayMs(request.ip);
        if (wait > 0) {
          throw new GridHubError(
            'BAD_CREDENTIALS',
            `too many failed logins; try again in ${Math.ceil(wait / 1000)} s`,
          );
        }
        const user = await deps.users.verifyPassword(request.body.username, request.body.password);
        if (!user) {
          throttle.fail(request.ip);
          request.log.warn({ username: request.body.username, ip: request.ip }, 'login failed');
          throw new GridHubError('BAD_CREDENTIALS');
        }
        throttle.succeed(request.ip);
        const now = deps.clock.now();
        const token = deps.users.issueToken(user.username, 'session', now, deps.tokenTtlMs);
        return { token, expiresAt: new Date(now + deps.tokenTtlMs).toISOString(), user };
      },
    );
  };
}

/** Authenticated: who am I, log out, API tokens (for MQTT logins of workers and integrations). */
export function sessionRoutes(deps: { users: UserStore; clock: Clock }): FastifyPluginAsync {
  return async (app) => {
    const typed = app.withTypeProvider<ZodTypeProvider>();
    typed.get(
      '/me',
      { schema: { tags: ['auth'], response: { 200: userView } } },
      async (request) => request.user,
    );
    typed.post('/auth/logout', { schema: { tags: ['auth'] } }, async (request, reply) => {
      const token = bearer(request.headers.authorization);
      if (token) deps.users.revokeToken(token);
      return reply.code(204).send();
    });
    typed.post(
      '/auth/tokens',
      {
        schema: {
          tags: ['auth'],
          summary: 'Issue a long-lived API token (use it as the MQTT password with your user name)',
          body: z.object({ label: z.string().max(100).optional() }),
          response: { 201: z.object({ token: z.string(), username: z.string() }) },
        },
      },
      async (request, reply) => {
        const token = deps.users.issueToken(
          request.user.username,
          'api',
          deps.clock.now(),
          undefined,
          request.body.label,
        );
        return reply.code(201).send({ token, username: request.user.username });
      },
    );
  };
}

export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return m?.[1];
}
