import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARDS } from '../../dashboards/grafana/generate.ts';
import { findInfluxd, INFLUXD_MISSING, type Influxd, startInfluxd } from '../telemetry/influxd.ts';
import { queriesOf, writerLines } from './grafana-schema.ts';

const binary = findInfluxd();
if (!binary) console.warn(`[test/browser/grafana-influx] ${INFLUXD_MISSING}`);

/** What Grafana substitutes before it sends a query: the dashboard range, the interval and "All" variables. */
function asGrafanaSends(query: string): string {
  return query
    .replaceAll('$timeFilter', 'time > now() - 1h')
    .replaceAll('$__interval', '1m')
    .replaceAll('$community', '(C1)')
    .replaceAll('$grid', '(G1)');
}

describe.skipIf(!binary)('Grafana queries against a real InfluxDB (InfluxQL)', () => {
  let influx: Influxd;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridhub-grafana-influx-'));
    influx = await startInfluxd(binary as string, dir);
    await influx.query('CREATE DATABASE gridhub');
    const res = await fetch(`${influx.url}/write?db=gridhub&precision=n`, {
      method: 'POST',
      body: writerLines(Date.now() - 60_000).join('\n'),
    });
    expect(res.status).toBe(204);
  }, 30_000);

  afterAll(async () => {
    await influx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(Object.keys(DASHBOARDS))(
    'every query of %s runs and finds the data the hub writes',
    async (name) => {
      const dashboard = JSON.parse(
        readFileSync(new URL(`../../dashboards/grafana/dashboards/${name}`, import.meta.url), 'utf8'),
      );
      for (const q of queriesOf(dashboard)) {
        const series = await influx.query(asGrafanaSends(q.text), 'gridhub');
        const values = series.flatMap((s) => s.values);
        expect(values.length, `${q.where}: no rows for ${q.text}`).toBeGreaterThan(0);
      }
    },
  );
});
