import { afterAll, beforeAll, describe } from 'vitest';
import { influxSinkSuite } from './influx-suite.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

/**
 * The same suite against InfluxDB 2.7 (v2 write API, InfluxQL through /query with token auth) in a container.
 * Skipped with a message where no container runtime answers (testcontainers fails fast then).
 */
const IMAGE = 'influxdb:2.7';
const TOKEN = 'gridhub-test-token';

type Started = { getHost(): string; getMappedPort(p: number): number; stop(): Promise<unknown> };

async function containerRuntime(): Promise<string | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

const noRuntime = await containerRuntime();
if (noRuntime)
  console.warn(
    `InfluxDB 2.7 container tests skipped: no container runtime (${noRuntime.split('\n')[0]}). ` +
      'Start Docker or Podman (or set DOCKER_HOST) to run them.',
  );

describe.skipIf(noRuntime !== undefined)(`InfluxDB 2.x in a container (${IMAGE}, api v2)`, () => {
  let container: Started;
  let proxy: TcpProxy;
  let base: string;

  beforeAll(async () => {
    const { GenericContainer, Wait } = await import('testcontainers');
    container = await new GenericContainer(IMAGE)
      .withEnvironment({
        DOCKER_INFLUXDB_INIT_MODE: 'setup',
        DOCKER_INFLUXDB_INIT_USERNAME: 'gridhub',
        DOCKER_INFLUXDB_INIT_PASSWORD: 'gridhub-password',
        DOCKER_INFLUXDB_INIT_ORG: 'gridhub',
        DOCKER_INFLUXDB_INIT_BUCKET: 'gridhub',
        DOCKER_INFLUXDB_INIT_ADMIN_TOKEN: TOKEN,
      })
      .withExposedPorts(8086)
      .withWaitStrategy(Wait.forHttp('/health', 8086).forStatusCode(200))
      .start();
    proxy = await startTcpProxy(container.getHost(), container.getMappedPort(8086));
    base = `http://127.0.0.1:${proxy.port}`;
    // The setup mode restarts influxd once; wait until the bucket takes writes.
    const until = Date.now() + 60_000;
    for (;;) {
      const r = await fetch(`${base}/api/v2/write?org=gridhub&bucket=gridhub&precision=ms`, {
        method: 'POST',
        headers: { authorization: `Token ${TOKEN}` },
        body: 'ready v=1 1',
      }).catch(() => undefined);
      if (r?.status === 204) break;
      if (Date.now() > until) throw new Error(`InfluxDB 2.7 not ready: ${r?.status}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  }, 180_000);

  afterAll(async () => {
    await proxy?.stop();
    await container?.stop();
  });

  influxSinkSuite(IMAGE, () => ({
    influx: { url: base, api: 'v2', org: 'gridhub', bucket: 'gridhub', token: TOKEN },
    stop: () => proxy.stop(),
    start: () => proxy.start(),
    async query(q) {
      const params = new URLSearchParams({ db: 'gridhub', q, epoch: 'ms' });
      const r = await fetch(`${base}/query?${params}`, { headers: { authorization: `Token ${TOKEN}` } });
      const body = (await r.json()) as {
        error?: string;
        results?: { error?: string; series?: { columns: string[]; values: unknown[][] }[] }[];
      };
      const err = body.error ?? body.results?.[0]?.error;
      if (err) throw new Error(`${q}: ${err}`);
      return body.results?.[0]?.series ?? [];
    },
  }));
});
