import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DASHBOARDS } from '../../dashboards/grafana/generate.ts';
import { emittedSchema, queriesOf } from './grafana-schema.ts';

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
