import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DASHBOARDS } from '../../dashboards/grafana/generate.ts';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import type { FieldSpec } from '../../src/catalogue/types.ts';
import type { PlacePath } from '../../src/domain/places.ts';
import type { FieldValue } from '../../src/domain/reading.ts';
import { alertChangeToLine, readingToLine } from '../../src/telemetry/line-protocol.ts';

interface Schema {
  tags: Set<string>;
  fields: Set<string>;
}

/** Measurement → tag keys and field keys, read from lines the hub's own writers produce. */
function emittedSchema(): Map<string, Schema> {
  const catalogue = createCatalogue();
  const place: PlacePath = {
    street: 'S1',
    community: 'C1',
    grid: 'G1',
    estate: 'E1',
    building: 'E1-B1',
    unit: 'U1',
  };
  const sample = (spec: FieldSpec): FieldValue =>
    spec.kind === 'number' ? (spec.min ?? 0) + 1 : spec.kind === 'boolean' ? true : 'x';
  const base = { placeId: 'E1-B1', place, floor: 3, ts: 1, receivedAt: 1, qos: 1 as const };
  const lines: string[] = [];
  for (const entry of catalogue.all()) {
    const device = { deviceId: `d-${entry.id}`, deviceType: entry.id };
    const values = Object.fromEntries(Object.entries(entry.telemetry).map(([k, s]) => [k, sample(s)]));
    lines.push(readingToLine({ ...base, ...device, kind: 'telemetry', values }, catalogue) ?? '');
    for (const [event, spec] of Object.entries(entry.events)) {
      const data = Object.fromEntries(Object.entries(spec.data).map(([k, s]) => [k, sample(s)]));
      lines.push(readingToLine({ ...base, ...device, kind: 'event', event, data }, catalogue) ?? '');
    }
    lines.push(
      readingToLine({ ...base, ...device, kind: 'status', status: 'offline', source: 'will' }, catalogue) ??
        '',
    );
  }
  lines.push(
    alertChangeToLine({
      alertId: 'a1',
      ruleId: 'r1',
      deviceId: 'd1',
      deviceType: 'smoke',
      place,
      severity: 'critical',
      category: 'fire',
      change: 'opened',
      status: 'open',
      at: 1,
      ageSeconds: 0,
    }),
  );
  const schema = new Map<string, Schema>();
  for (const line of lines.filter(Boolean)) {
    // Sample values carry no spaces, commas or equals signs, so a plain split reads the line protocol.
    const [head = '', fieldSet = ''] = line.split(' ');
    const [measurement = '', ...tagPairs] = head.split(',');
    const s = schema.get(measurement) ?? { tags: new Set<string>(), fields: new Set<string>() };
    for (const p of tagPairs) s.tags.add(p.split('=')[0] ?? '');
    for (const p of fieldSet.split(',')) s.fields.add(p.split('=')[0] ?? '');
    schema.set(measurement, s);
  }
  return schema;
}

interface Query {
  where: string;
  text: string;
}

function queriesOf(dashboard: {
  panels: { title: string; targets?: { query: string }[] }[];
  templating: { list: { name: string; query: string }[] };
}): Query[] {
  return [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, text: t.query }))),
    ...dashboard.templating.list.map((v) => ({ where: `variable ${v.name}`, text: v.query })),
  ];
}

const schema = emittedSchema();
const files = Object.keys(DASHBOARDS) as (keyof typeof DASHBOARDS)[];
const load = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../dashboards/grafana/dashboards/${name}`, import.meta.url), 'utf8'));

describe('Grafana dashboards', () => {
  it('the writers emit the measurements the dashboards rely on', () => {
    for (const m of ['alerts', 'events', 'status', 'smoke', 'bin']) expect(schema.has(m), m).toBe(true);
    expect([...(schema.get('alerts')?.fields ?? [])]).toContain('age_s');
  });

  it.each(files)('%s is what the generator writes (re-run dashboards/grafana/generate.ts)', (name) => {
    expect(load(name)).toEqual(DASHBOARDS[name]());
  });

  it.each(files)('every query in %s names an emitted measurement, field and tag', (name) => {
    const queries = queriesOf(load(name));
    expect(queries.length).toBeGreaterThan(3);
    for (const q of queries) {
      const from = /FROM "([^"]+)"/.exec(q.text)?.[1];
      expect(from, `${q.where}: ${q.text}`).toBeDefined();
      const s = schema.get(from as string);
      expect(s, `${q.where}: measurement ${from} is never written`).toBeDefined();
      if (!s) continue;
      // Aggregated arguments must be fields; GROUP BY and SHOW TAG VALUES keys must be tags.
      for (const m of q.text.matchAll(/\b(?:mean|count|sum|min|max|last|percentile)\("([^"]+)"/g)) {
        expect(s.fields.has(m[1] as string), `${q.where}: ${from} has no field ${m[1]}`).toBe(true);
      }
      const groupBy = /GROUP BY (.*?)(?: fill\(|$)/.exec(q.text)?.[1] ?? '';
      for (const m of groupBy.matchAll(/"([^"]+)"/g)) {
        expect(s.tags.has(m[1] as string), `${q.where}: ${from} has no tag ${m[1]}`).toBe(true);
      }
      const key = /WITH KEY = "([^"]+)"/.exec(q.text)?.[1];
      if (key) expect(s.tags.has(key), `${q.where}: ${from} has no tag ${key}`).toBe(true);
      // Every other quoted identifier is the measurement, a tag or a field of it.
      for (const m of q.text.matchAll(/"([^"]+)"/g)) {
        const id = m[1] as string;
        expect(
          id === from || s.tags.has(id) || s.fields.has(id),
          `${q.where}: ${id} is neither a tag nor a field of ${from}`,
        ).toBe(true);
      }
    }
  });

  it('a query naming an unknown field fails the check', () => {
    const s = schema.get('smoke');
    expect(s?.fields.has('smokee')).toBe(false);
    expect(s?.fields.has('smoke')).toBe(true);
  });
});
