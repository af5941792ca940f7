import type { FastifyReply, FastifyRequest } from 'fastify';
import { GridHubError } from '../domain/errors.ts';
import type { PlacePath } from '../domain/places.ts';
import type { User, UserRole } from '../domain/records.ts';

/** What a logged-in user may see: admins everything, others the subtrees under their scope roots. */
export interface Scope {
  readonly all: boolean;
  readonly roots: readonly string[];
  /** True when a place with this ancestry lies inside the user's scope. */
  canSee(path: PlacePath): boolean;
}

export function scopeFor(user: User): Scope {
  if (user.role === 'admin') return { all: true, roots: [], canSee: () => true };
  const roots = new Set(user.scope);
  return {
    all: false,
    roots: [...roots],
    canSee: (path) => Object.values(path).some((id) => id !== undefined && roots.has(id)),
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route under /api except login; routes can rely on it. */
    user: User;
    scope: Scope;
    /** Id of the bearer token (or of the token behind the stream ticket) this request came with. */
    tokenId: string;
  }
  interface FastifyContextConfig {
    /** The route is an EventSource stream: it takes `?ticket=` (POST /api/auth/stream-ticket) instead of a header. */
    streamTicket?: boolean;
  }
}

/** preHandler that answers 403 unless the user has one of `roles`. */
export function requireRole(...roles: UserRole[]) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (!roles.includes(request.user.role)) {
      throw new GridHubError('NOT_AUTHORIZED', `requires role ${roles.join(' or ')}`);
    }
  };
}
