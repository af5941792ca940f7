import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../src/clock/clock.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { DemoCredentials } from '../../src/domain/wire.ts';
import { createHub, type Hub } from '../../src/hub.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { apiOf } from './api.ts';

export interface TestHub {
  hub: Hub;
  dataDir: string;
  credentials: DemoCredentials | undefined;
  /** Log in through the API and return the bearer token. */
  login(username: string): Promise<string>;
  /** `fetch` against the hub's HTTP port with a bearer token. */
  api(token: string, path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/**
 * A whole hub on ephemeral ports in a temp data dir, seeded with the demo community unless `demo: false`.
 * `env` takes GRIDHUB_* settings as the process environment would.
 */
export async function startTestHub(
  options: {
    demo?: boolean;
    clock?: Clock;
    env?: Record<string, string>;
    dataDir?: string;
    log?: Logger;
  } = {},
): Promise<TestHub> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'gridhub-test-'));
  const config = loadConfig(
    {
      GRIDHUB_DATA_DIR: dataDir,
      GRIDHUB_HTTP_PORT: '0',
      GRIDHUB_MQTT_PORT: '0',
      GRIDHUB_MQTT_TLS_PORT: '0',
      GRIDHUB_LOG_LEVEL: process.env.GRIDHUB_TEST_LOG_LEVEL ?? 'silent',
      GRIDHUB_DEMO: String(options.demo ?? true),
      // the lowest cost the config allows, so seeding a dozen demo users does not take seconds per test;
      // test/hub/security.test.ts checks the default cost and the rehash
      GRIDHUB_HTTP_PASSWORD_COST: '16384',
      ...options.env,
    },
    dataDir,
  );
  const hub = await createHub({ config, clock: options.clock, ...(options.log ? { log: options.log } : {}) });
  await hub.start();
  const file = hub.demoCredentialsFile;
  const credentials = file ? (JSON.parse(readFileSync(file, 'utf8')) as DemoCredentials) : undefined;
  const api = apiOf(hub.urls.http);
  return {
    hub,
    dataDir,
    credentials,
    api,
    async login(username) {
      const user = credentials?.users.find((u) => u.username === username);
      if (!user) throw new Error(`no demo user ${username}`);
      const res = await fetch(`${hub.urls.http}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: user.password }),
      });
      if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    async close() {
      await hub.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
