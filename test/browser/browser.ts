import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium, or the one named by GRIDHUB_TEST_CHROMIUM; undefined when there is none. */
export function findChromium(): string | undefined {
  const candidates = [process.env.GRIDHUB_TEST_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
}

/**
 * Build the dashboards if their sources changed since the last build. In a child process: the build has its own
 * Vite config and must not share the test runner's module graph. The hub globs the built files when it starts,
 * so this runs before `startTestHub`.
 */
export function ensureWebBuilt(): void {
  const script = fileURLToPath(new URL('../../dashboards/web/build.ts', import.meta.url));
  const res = spawnSync(process.execPath, ['--import', 'tsx', script], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const built = existsSync(fileURLToPath(new URL('../../dashboards/web/dist/index.html', import.meta.url)));
  if (res.status !== 0 || !built) throw new Error(`dashboard build failed: ${res.stderr || res.stdout}`);
}
