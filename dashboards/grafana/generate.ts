/**
 * Writes the provisioned Grafana dashboards from the catalogue and the default SLA, so a new device type or a
 * changed allowance shows up in Grafana by re-running:
 *   node --import tsx dashboards/grafana/generate.ts
 * The JSON files are committed (docker-compose mounts them); a test checks they match this output and that every
 * query names a measurement, field and tag the hub writes.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SLA } from '../../src/alerts/config.ts';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';

export const DATASOURCE = { type: 'influxdb', uid: 'gridhub-influxdb' } as const;
const PLACE_FILTER = `"community" =~ /^$community$/ AND "grid" =~ /^$grid$/`;

interface Target {
  refId: string;
  query: string;
  alias?: string;
}

let nextId = 1;

function panel(
  title: string,
  targets: Target[],
  grid: { x: number; y: number; w: number; h: number },
  options: { type?: string; unit?: string; stack?: boolean; description?: string; decimals?: number } = {},
) {
  const type = options.type ?? 'timeseries';
  return {
    id: nextId++,
    type,
    title,
    ...(options.description ? { description: options.description } : {}),
    datasource: DATASOURCE,
    gridPos: grid,
    targets: targets.map((t) => ({
      datasource: DATASOURCE,
      refId: t.refId,
      rawQuery: true,
      resultFormat: type === 'table' ? 'table' : 'time_series',
      query: t.query,
      ...(t.alias ? { alias: t.alias } : {}),
    })),
    fieldConfig: {
      defaults: {
        ...(options.unit ? { unit: options.unit } : {}),
        ...(options.decimals !== undefined ? { decimals: options.decimals } : {}),
        ...(type === 'timeseries'
          ? {
              custom: {
                drawStyle: options.stack ? 'bars' : 'line',
                stacking: { mode: options.stack ? 'normal' : 'none' },
                fillOpacity: options.stack ? 80 : 10,
                spanNulls: false,
              },
            }
          : {}),
      },
      overrides: [],
    },
    options:
      type === 'stat'
        ? {
            reduceOptions: { calcs: ['sum'], fields: '', values: false },
            colorMode: 'value',
            textMode: 'auto',
          }
        : { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
  };
}

function row(title: string, y: number) {
  return {
    id: nextId++,
    type: 'row',
    title,
    collapsed: false,
    gridPos: { x: 0, y, w: 24, h: 1 },
    panels: [],
  };
}

function placeVariables(from: string) {
  const variable = (name: string, label: string, query: string) => ({
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    query,
    definition: query,
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
  });
  return {
    list: [
      variable('community', 'Community 社区', `SHOW TAG VALUES FROM "${from}" WITH KEY = "community"`),
      variable(
        'grid',
        'Grid 网格',
        `SHOW TAG VALUES FROM "${from}" WITH KEY = "grid" WHERE "community" =~ /^$community$/`,
      ),
    ],
  };
}

function dashboard(uid: string, title: string, panels: unknown[], variablesFrom: string) {
  return {
    uid,
    title,
    tags: ['gridhub'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: '30s',
    time: { from: 'now-24h', to: 'now' },
    templating: placeVariables(variablesFrom),
    annotations: { list: [] },
    panels,
  };
}

export function telemetryDashboard() {
  nextId = 1;
  const catalogue = createCatalogue();
  const panels: unknown[] = [];
  let y = 0;
  panels.push(row('Devices and events 设备与事件', y++));
  panels.push(
    panel(
      'Devices going offline, by type',
      [
        {
          refId: 'A',
          query: `SELECT count("online") FROM "status" WHERE $timeFilter AND "online" = false AND ${PLACE_FILTER} GROUP BY time($__interval), "type" fill(0)`,
          alias: '$tag_type',
        },
      ],
      { x: 0, y, w: 12, h: 8 },
      { stack: true },
    ),
    panel(
      'Device events, by event',
      [
        {
          refId: 'A',
          query: `SELECT sum("count") FROM "events" WHERE $timeFilter AND ${PLACE_FILTER} GROUP BY time($__interval), "event" fill(0)`,
          alias: '$tag_event',
        },
      ],
      { x: 12, y, w: 12, h: 8 },
      { stack: true },
    ),
  );
  y += 8;
  for (const entry of catalogue.all()) {
    const numeric = Object.entries(entry.telemetry).filter(([, f]) => f.kind === 'number');
    if (!numeric.length) continue;
    panels.push(row(`${entry.name.en} ${entry.name['zh-CN']}`, y++));
    const w = numeric.length === 1 ? 24 : numeric.length === 2 ? 12 : 8;
    numeric.forEach(([field, spec], i) => {
      const unit =
        'unit' in spec && spec.unit === '%'
          ? 'percent'
          : 'unit' in spec && spec.unit === '°C'
            ? 'celsius'
            : undefined;
      panels.push(
        panel(
          `${entry.name.en}: ${field}${'unit' in spec && spec.unit ? ` (${spec.unit})` : ''}, mean per estate`,
          [
            {
              refId: 'A',
              query: `SELECT mean("${field}") FROM "${entry.measurement}" WHERE $timeFilter AND ${PLACE_FILTER} GROUP BY time($__interval), "estate" fill(none)`,
              alias: '$tag_estate',
            },
          ],
          { x: (i % 3) * w, y, w, h: 8 },
          { ...(unit ? { unit } : {}), description: spec.description },
        ),
      );
    });
    y += 8;
  }
  return dashboard('gridhub-telemetry', 'GridHub — Telemetry 监测数据', panels, 'status');
}

const CLOCKS = [
  { change: 'acknowledged', key: 'acknowledgeMs', label: 'acknowledge 接警' },
  { change: 'on_site', key: 'arriveMs', label: 'on site 到场' },
  { change: 'resolved', key: 'resolveMs', label: 'resolve 处置' },
] as const;

export function alertsDashboard() {
  nextId = 1;
  const panels: unknown[] = [];
  let y = 0;
  const countBy = (change: string, by: string) =>
    `SELECT count("age_s") FROM "alerts" WHERE $timeFilter AND "change" = '${change}' AND ${PLACE_FILTER} GROUP BY time($__interval), "${by}" fill(0)`;
  panels.push(row('Alert volumes 告警量', y++));
  panels.push(
    panel(
      'Alerts opened, by severity',
      [{ refId: 'A', query: countBy('opened', 'severity'), alias: '$tag_severity' }],
      { x: 0, y, w: 8, h: 8 },
      { stack: true },
    ),
    panel(
      'Alerts opened, by category',
      [{ refId: 'A', query: countBy('opened', 'category'), alias: '$tag_category' }],
      { x: 8, y, w: 8, h: 8 },
      { stack: true },
    ),
    panel(
      'Escalations, by severity',
      [{ refId: 'A', query: countBy('escalated', 'severity'), alias: '$tag_severity' }],
      { x: 16, y, w: 8, h: 8 },
      { stack: true },
    ),
  );
  y += 8;
  panels.push(
    panel(
      'Alerts opened (period)',
      [
        {
          refId: 'A',
          query: `SELECT count("age_s") FROM "alerts" WHERE $timeFilter AND "change" = 'opened' AND ${PLACE_FILTER}`,
        },
      ],
      { x: 0, y, w: 6, h: 5 },
      { type: 'stat' },
    ),
    panel(
      'Resolved (period)',
      [
        {
          refId: 'A',
          query: `SELECT count("age_s") FROM "alerts" WHERE $timeFilter AND "change" = 'resolved' AND ${PLACE_FILTER}`,
        },
      ],
      { x: 6, y, w: 6, h: 5 },
      { type: 'stat' },
    ),
    panel(
      'Closed (period)',
      [
        {
          refId: 'A',
          query: `SELECT count("age_s") FROM "alerts" WHERE $timeFilter AND "change" = 'closed' AND ${PLACE_FILTER}`,
        },
      ],
      { x: 12, y, w: 6, h: 5 },
      { type: 'stat' },
    ),
    panel(
      'Escalated (period)',
      [
        {
          refId: 'A',
          query: `SELECT count("age_s") FROM "alerts" WHERE $timeFilter AND "change" = 'escalated' AND ${PLACE_FILTER}`,
        },
      ],
      { x: 18, y, w: 6, h: 5 },
      { type: 'stat' },
    ),
  );
  y += 5;
  panels.push(row('SLA performance 时限达标 (default allowances; age_s = seconds from open)', y++));
  for (const clock of CLOCKS) {
    panels.push(
      panel(
        `Mean time to ${clock.label}, by severity`,
        [
          {
            refId: 'A',
            query: `SELECT mean("age_s") FROM "alerts" WHERE $timeFilter AND "change" = '${clock.change}' AND ${PLACE_FILTER} GROUP BY time($__interval), "severity" fill(none)`,
            alias: 'mean $tag_severity',
          },
          {
            refId: 'B',
            query: `SELECT percentile("age_s", 90) FROM "alerts" WHERE $timeFilter AND "change" = '${clock.change}' AND ${PLACE_FILTER} GROUP BY time($__interval), "severity" fill(none)`,
            alias: 'p90 $tag_severity',
          },
        ],
        { x: 0, y, w: 12, h: 8 },
        { unit: 's' },
      ),
    );
    const targets: Target[] = [];
    for (const [severity, sla] of Object.entries(DEFAULT_SLA)) {
      const ms = sla[clock.key];
      if (ms === null) continue;
      const limit = Math.round(ms / 1000);
      const base = `FROM "alerts" WHERE $timeFilter AND "change" = '${clock.change}' AND "severity" = '${severity}' AND ${PLACE_FILTER}`;
      targets.push(
        {
          refId: `${severity}_in`,
          query: `SELECT count("age_s") ${base} AND "age_s" <= ${limit} GROUP BY time($__interval) fill(0)`,
          alias: `${severity} in time`,
        },
        {
          refId: `${severity}_late`,
          query: `SELECT count("age_s") ${base} AND "age_s" > ${limit} GROUP BY time($__interval) fill(0)`,
          alias: `${severity} late`,
        },
      );
    }
    panels.push(
      panel(
        `${clock.label}: in time vs late, by severity`,
        targets,
        { x: 12, y, w: 12, h: 8 },
        { stack: true },
      ),
    );
    y += 8;
  }
  return dashboard('gridhub-alerts', 'GridHub — Alerts and SLA 告警与时限', panels, 'alerts');
}

export const DASHBOARDS = {
  'telemetry.json': telemetryDashboard,
  'alerts.json': alertsDashboard,
} as const;

export function render(name: keyof typeof DASHBOARDS): string {
  return `${JSON.stringify(DASHBOARDS[name](), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const name of Object.keys(DASHBOARDS) as (keyof typeof DASHBOARDS)[]) {
    const file = fileURLToPath(new URL(`./dashboards/${name}`, import.meta.url));
    writeFileSync(file, render(name));
    console.log(`wrote ${file}`);
  }
}
