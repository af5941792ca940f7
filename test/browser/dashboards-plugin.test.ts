import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { dashboardsPlugin } from '../../src/api/dashboards-plugin.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function site(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'gridhub-web-'));
  dirs.push(root);
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), body);
  }
  return root;
}

async function appFor(root: string) {
  const app = Fastify();
  await app.register(dashboardsPlugin({ root }));
  app.get('/api/ping', async () => ({ ok: true }));
  return app;
}

describe('dashboards plugin', () => {
  it('serves the board, the worker view and hashed bundles with the right caching', async () => {
    const app = await appFor(
      site({
        'index.html': '<title>board</title>',
        'worker/index.html': '<title>worker</title>',
        'worker/sw.js': 'self;',
        'worker/manifest.webmanifest': '{}',
        'assets/board-abc123.js': 'export {}',
        '.build-stamp': 'x',
      }),
    );
    const board = await app.inject('/');
    expect(board.statusCode).toBe(200);
    expect(board.body).toContain('board');
    expect(board.headers['cache-control']).toBe('no-cache');
    expect((await app.inject('/worker/')).body).toContain('worker');
    const redirect = await app.inject('/worker');
    expect(redirect.statusCode).toBe(301);
    expect(redirect.headers.location).toBe('/worker/');
    const bundle = await app.inject('/assets/board-abc123.js');
    expect(bundle.headers['cache-control']).toContain('immutable');
    const sw = await app.inject('/worker/sw.js');
    expect(sw.headers['service-worker-allowed']).toBe('/worker/');
    expect((await app.inject('/worker/manifest.webmanifest')).headers['content-type']).toContain(
      'application/manifest+json',
    );
    expect((await app.inject('/.build-stamp')).statusCode).toBe(404);
    // Per-file routes: the API and unknown paths are untouched.
    expect((await app.inject('/api/ping')).json()).toEqual({ ok: true });
    expect((await app.inject('/nope')).statusCode).toBe(404);
    await app.close();
  });

  it('says how to build when the dashboards are not built', async () => {
    const app = await appFor(site({}));
    const res = await app.inject('/');
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npm run build:web');
    await app.close();
  });
});
