import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { User } from '../domain/records.ts';
import { tokenIdOf, type UserStore } from '../registry/users.ts';
import { scopeFor } from './context.ts';

/** The token of an `Authorization: Bearer …` header. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return m?.[1];
}

/**
 * The auth hook of every route registered in `scope`: a bearer token (or, on a route made for EventSource, a
 * single-use stream ticket) sets `request.user`, `request.scope` and `request.tokenId`, or the request is
 * answered 401. Long-lived answers (the alert stream) are closed when the token behind them is revoked or its
 * user logs out.
 */
export async function authenticate(
  scope: FastifyInstance,
  deps: { users: UserStore; clock: Clock },
): Promise<void> {
  const { users, clock } = deps;
  const openStreams = new Map<string, Set<IncomingMessage>>();
  const unsubscribe = users.onRevoked((ids) => {
    for (const id of ids) {
      for (const raw of openStreams.get(id) ?? []) raw.socket?.destroy();
      openStreams.delete(id);
    }
  });
  scope.addHook('onClose', async () => unsubscribe());

  scope.decorateRequest('user', null as never);
  scope.decorateRequest('scope', null as never);
  scope.decorateRequest('tokenId', '');
  scope.addHook('onRequest', async (request) => {
    const token = bearer(request.headers.authorization);
    const now = clock.now();
    if (!token) {
      // Only a route made for EventSource (which cannot send headers) takes a single-use ticket in its URL.
      const ticket = (request.query as Record<string, unknown> | undefined)?.ticket;
      if (request.routeOptions.config.streamTicket === true && typeof ticket === 'string') {
        const redeemed = await users.redeemStreamTicket(ticket, now);
        if (!redeemed) throw new GridHubError('UNAUTHENTICATED', 'stream ticket is unknown, used or expired');
        setUser(request, redeemed.user, redeemed.tokenId);
        return;
      }
      throw new GridHubError('UNAUTHENTICATED', 'send Authorization: Bearer <token> (POST /api/auth/login)');
    }
    const user = await users.authenticateBearer(token, now);
    if (!user) throw new GridHubError('UNAUTHENTICATED', 'token is unknown or expired; log in again');
    setUser(request, user, tokenIdOf(token));
  });
  scope.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.streamTicket !== true) return;
    const set = openStreams.get(request.tokenId) ?? new Set<IncomingMessage>();
    set.add(request.raw);
    openStreams.set(request.tokenId, set);
    request.raw.once('close', () => {
      set.delete(request.raw);
      if (set.size === 0 && openStreams.get(request.tokenId) === set) openStreams.delete(request.tokenId);
    });
  });
}

function setUser(request: FastifyRequest, user: User, tokenId: string): void {
  request.user = user;
  request.scope = scopeFor(user);
  request.tokenId = tokenId;
  request.log = request.log.child({ user: user.username });
}
