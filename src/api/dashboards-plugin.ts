import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { PROJECT_ROOT } from '../runtime/project.ts';

export const DEFAULT_WEB_DIST = join(PROJECT_ROOT, 'dashboards', 'web', 'dist');

/**
 * The built dashboards at the root: the board at `/`, the worker view at `/worker/`, hashed bundles under
 * `/assets/`. Routes are registered per file (no wildcard), so unknown paths still get the API's JSON 404 and
 * nothing shadows `/api`, `/docs` or `/mqtt`. When the build is missing, `/` says how to make it.
 */
export function dashboardsPlugin(options: { root?: string } = {}): FastifyPluginAsync {
  const root = options.root ?? DEFAULT_WEB_DIST;
  const assets = join(root, 'assets') + sep;
  return async (app) => {
    if (!existsSync(join(root, 'index.html'))) {
      app.log.warn({ root }, 'dashboards are not built; run `npm run build:web`');
      app.get('/', { schema: { hide: true } }, async (_request, reply) =>
        reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .send('The dashboards are not built. Run `npm run build:web` (or `npm start`, which builds them).'),
      );
      return;
    }
    await app.register(fastifyStatic, {
      root,
      prefix: '/',
      wildcard: false,
      // `redirect` would also register an empty path for the root index; /worker is redirected below.
      redirect: false,
      serveDotFiles: false,
      globIgnore: ['**/.build-stamp'],
      schemaHide: true,
      cacheControl: false,
      setHeaders(reply, path) {
        // Bundles carry a content hash; pages, the manifest and the service worker must be revalidated.
        if (path.startsWith(assets)) {
          reply.header('cache-control', 'public, max-age=31536000, immutable');
        } else {
          reply.header('cache-control', 'no-cache');
        }
        if (path.endsWith('sw.js')) reply.header('service-worker-allowed', '/worker/');
        if (path.endsWith('.webmanifest')) reply.header('content-type', 'application/manifest+json');
      },
    });
    app.get('/worker', { schema: { hide: true } }, async (_request, reply) =>
      reply.redirect('/worker/', 301),
    );
  };
}
