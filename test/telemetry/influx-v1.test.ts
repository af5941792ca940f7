import { afterAll, beforeAll, describe } from 'vitest';
import { tempDir } from './helpers.ts';
import { influxSinkSuite } from './influx-suite.ts';
import { findInfluxd, INFLUXD_MISSING, type Influxd, startInfluxd } from './influxd.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

const binary = findInfluxd();
if (!binary) console.warn(INFLUXD_MISSING);

// Old 1.x (Debian's 1.6.7) has no /api/v2: the sink runs with GRIDHUB_INFLUX_API=v1 (`/write` + InfluxQL).
describe.skipIf(!binary)('InfluxDB 1.x via /write (api v1)', () => {
  let influxd: Influxd;
  const database = 'gridhub_test';
  beforeAll(async () => {
    influxd = await startInfluxd(binary as string, tempDir('influxd'));
    await influxd.query(`CREATE DATABASE ${database}`);
  });
  afterAll(async () => {
    await proxy?.stop();
    await influxd?.stop();
  });

  influxSinkSuite('influxd 1.x, api v1', () => ({
    influx: { url: influxd.url, api: 'v1', database },
    stop: () => influxd.stop(),
    start: () => influxd.start(),
    query: (q) => influxd.query(q, database),
  }));

  // The outage as the container suite makes it: the network path is cut while the server stays up.
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await startTcpProxy('127.0.0.1', influxd.port);
  });
  influxSinkSuite('influxd 1.x behind a cut connection, api v1', () => ({
    influx: { url: `http://127.0.0.1:${proxy.port}`, api: 'v1', database },
    stop: () => proxy.stop(),
    start: () => proxy.start(),
    query: (q) => influxd.query(q, database),
  }));
});
