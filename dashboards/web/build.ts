/**
 * Build the dashboards when their sources are newer than the last build (or with `--force`):
 *   node --import tsx dashboards/web/build.ts [--force]
 * Without `--force` a failure (e.g. no dev dependencies installed) is reported and exits 0, so a `prestart` hook
 * never keeps the hub from starting.
 * `npm start` and the browser tests run it first, so a fresh checkout serves a current board without a manual
 * step; the Docker image builds once at image build time.
 */
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_ROOT = fileURLToPath(new URL('.', import.meta.url));
export const WEB_DIST = join(WEB_ROOT, 'dist');
const STAMP = join(WEB_DIST, '.build-stamp');
const INPUTS = ['src', 'public', 'worker', 'index.html', 'vite.config.ts'];
/** Hub sources the pages import (labels, KPI definitions, types): a change there rebuilds too. */
const SHARED = [
  '../../src/catalogue',
  '../../src/rules/categories.ts',
  '../../src/alerts/kpi-definitions.ts',
];

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

export function webBuildIsStale(): boolean {
  if (!existsSync(STAMP)) return true;
  const built = statSync(STAMP).mtimeMs;
  return [...INPUTS, ...SHARED].some(
    (p) => existsSync(join(WEB_ROOT, p)) && newestMtime(join(WEB_ROOT, p)) > built,
  );
}

export async function buildWeb(options: { force?: boolean } = {}): Promise<boolean> {
  if (!options.force && !webBuildIsStale()) return false;
  // vite is a dev dependency: imported only when a build is due, so a production install can still start.
  const { build } = await import('vite');
  await build({ configFile: join(WEB_ROOT, 'vite.config.ts'), logLevel: 'warn' });
  writeFileSync(STAMP, new Date().toISOString());
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const force = process.argv.includes('--force');
  try {
    const built = await buildWeb({ force });
    console.log(built ? `dashboards built into ${WEB_DIST}` : 'dashboards are up to date');
  } catch (err) {
    console.error('dashboard build failed:', err);
    // Before `npm start` a failed build must not keep the hub down: it serves a page saying how to build.
    process.exit(force ? 1 : 0);
  }
}
