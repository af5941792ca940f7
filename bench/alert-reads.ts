/**
 * The alerts read side with 100 000 alerts in the store (issue 18's target: `GET /api/alerts`, a page of 50 in a
 * manager's scope, p99 ≤ 50 ms). A whole hub (demo community, embedded stores) starts in a temp data dir; the
 * alerts go straight into its SQLite file through the store's own tables (bench/alert-seed.ts); then the demo
 * manager (scope: community C1, about half the alerts) asks over real HTTP, one request at a time:
 * the first page, pages at random depths, the board's open-alerts filter, and the KPIs (all time and 30 days).
 *
 * Run alone: `node --import tsx bench/alert-reads.ts [--quick] [--requests=N]`; `npm run bench` calls runAlertReadsBench().
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRng } from '../devices-sim/rng.ts';
import { loadConfig } from '../src/config/config.ts';
import type { DemoCredentials } from '../src/domain/wire.ts';
import { createHub } from '../src/hub.ts';
import { seedAlerts } from './alert-seed.ts';
import { latency } from './lib.ts';

const ALERTS = 100_000;
const DAY = 86_400_000;
const TARGET_P99_MS = 50;

export async function runAlertReadsBench(
  options: { quick?: boolean } = {},
): Promise<Record<string, unknown>> {
  const quick = options.quick ?? false;
  const n = quick ? { list: 200, kpis: 20, warmup: 20 } : { list: 500, kpis: 60, warmup: 50 };
  const dataDir = mkdtempSync(join(tmpdir(), 'gridhub-bench-reads-'));
  const config = loadConfig(
    {
      GRIDHUB_DATA_DIR: dataDir,
      GRIDHUB_HTTP_PORT: '0',
      GRIDHUB_MQTT_PORT: '0',
      GRIDHUB_MQTT_TLS_PORT: '0',
      GRIDHUB_LOG_LEVEL: 'silent',
      GRIDHUB_DEMO: 'true',
      // Logging in is not what is measured: the lowest password cost the config takes.
      GRIDHUB_HTTP_PASSWORD_COST: '16384',
      // One caller asks a thousand times a minute here; the per-caller limit is not what is measured.
      GRIDHUB_HTTP_RATE_LIMIT_PER_MINUTE: '0',
    },
    dataDir,
  );
  const hub = await createHub({ config });
  try {
    await hub.start();
    const now = hub.clock.now();
    const devices = hub.registry.devices.list().map((d) => ({ id: d.id, type: d.type, placeId: d.placeId }));
    const seedStart = performance.now();
    seedAlerts(hub.db, {
      count: ALERTS,
      now,
      spanMs: 180 * DAY,
      devices,
      path: (id) => hub.registry.places.path(id),
    });
    const seedMs = Math.round(performance.now() - seedStart);

    const creds = JSON.parse(readFileSync(hub.demoCredentialsFile ?? '', 'utf8')) as DemoCredentials;
    const manager = creds.users.find((u) => u.role === 'manager');
    if (!manager) throw new Error('the demo has no manager');
    const login = await fetch(`${hub.urls.http}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: manager.username, password: manager.password }),
    });
    const { token } = (await login.json()) as { token: string };
    const get = async (path: string): Promise<{ ms: number; body: { total?: number } }> => {
      const t = performance.now();
      const res = await fetch(`${hub.urls.http}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { total?: number };
      const ms = performance.now() - t;
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(body)}`);
      return { ms, body };
    };
    const measure = async (count: number, path: (i: number) => string) => {
      const samples: number[] = [];
      for (let i = 0; i < count; i++) samples.push((await get(path(i))).ms);
      return latency(samples);
    };

    const first = await get('/api/alerts?limit=50');
    const inScope = first.body.total ?? 0;
    await measure(n.warmup, () => '/api/alerts?limit=50');
    const rng = createRng(5);
    const open = 'open,dispatched,acknowledged,on_site';
    const result = {
      alerts: ALERTS,
      seedMs,
      managerScope: manager.scope,
      managerScopeTotal: inScope,
      firstPage: await measure(n.list, () => '/api/alerts?limit=50'),
      randomPage: await measure(
        n.list,
        () => `/api/alerts?limit=50&offset=${rng.int(0, Math.max(0, inScope - 50))}`,
      ),
      openAlerts: await measure(n.list, () => `/api/alerts?status=${open}&limit=50`),
      kpisAllTime: await measure(n.kpis, () => '/api/kpis'),
      kpis30Days: await measure(n.kpis, () => `/api/kpis?from=${now - 30 * DAY}&to=${now}`),
      targetP99Ms: TARGET_P99_MS,
    };
    return { ...result, firstPageMet: result.firstPage.p99Ms <= TARGET_P99_MS };
  } finally {
    await hub.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const requests = process.argv.find((a) => a.startsWith('--requests='))?.slice('--requests='.length);
  const r = await runAlertReadsBench({
    quick: process.argv.includes('--quick'),
    ...(requests ? { requests: Number(requests) } : {}),
  });
  console.log(JSON.stringify(r, null, 2));
}
