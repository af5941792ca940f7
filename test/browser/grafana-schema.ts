import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import type { FieldSpec } from '../../src/catalogue/types.ts';
import type { PlacePath } from '../../src/domain/places.ts';
import type { FieldValue } from '../../src/domain/reading.ts';
import type { Severity } from '../../src/domain/severity.ts';
import { alertChangeToLine, readingToLine } from '../../src/telemetry/line-protocol.ts';

export interface Schema {
  tags: Set<string>;
  fields: Set<string>;
}

const PLACE: PlacePath = {
  street: 'S1',
  community: 'C1',
  grid: 'G1',
  estate: 'E1',
  building: 'E1-B1',
  unit: 'U1',
};

/**
 * Line protocol as the hub's own writers produce it: every catalogue type's telemetry (all fields), each of its
 * events, a status change, and alert changes of every severity, in time and late.
 */
export function writerLines(at = 1): string[] {
  const catalogue = createCatalogue();
  const sample = (spec: FieldSpec): FieldValue =>
    spec.kind === 'number' ? (spec.min ?? 0) + 1 : spec.kind === 'boolean' ? true : 'x';
  const base = { placeId: 'E1-B1', place: PLACE, floor: 3, ts: at, receivedAt: at, qos: 1 as const };
  const lines: (string | undefined)[] = [];
  for (const entry of catalogue.all()) {
    const device = { deviceId: `d-${entry.id}`, deviceType: entry.id };
    const values = Object.fromEntries(Object.entries(entry.telemetry).map(([k, s]) => [k, sample(s)]));
    lines.push(readingToLine({ ...base, ...device, kind: 'telemetry', values }, catalogue));
    for (const [event, spec] of Object.entries(entry.events)) {
      const data = Object.fromEntries(Object.entries(spec.data).map(([k, s]) => [k, sample(s)]));
      lines.push(readingToLine({ ...base, ...device, kind: 'event', event, data }, catalogue));
    }
    lines.push(
      readingToLine({ ...base, ...device, kind: 'status', status: 'offline', source: 'will' }, catalogue),
    );
  }
  let n = 0;
  for (const severity of ['critical', 'major', 'minor'] as Severity[]) {
    for (const change of ['opened', 'acknowledged', 'on_site', 'resolved', 'closed', 'escalated']) {
      for (const ageSeconds of [10, 1_000_000]) {
        lines.push(
          alertChangeToLine({
            alertId: `a${n++}`,
            ruleId: 'r1',
            deviceId: 'd-smoke',
            deviceType: 'smoke',
            place: PLACE,
            severity,
            category: 'fire',
            change,
            status: 'open',
            at: at + n,
            ageSeconds,
          }),
        );
      }
    }
  }
  return lines.filter((l): l is string => !!l);
}

/** Measurement → tag keys and field keys, read from the writers' lines. */
export function emittedSchema(): Map<string, Schema> {
  const schema = new Map<string, Schema>();
  for (const line of writerLines()) {
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

export interface Query {
  where: string;
  text: string;
}

/** Every InfluxQL text of a dashboard: panel targets and template variables. */
export function queriesOf(dashboard: {
  panels: { title: string; targets?: { query: string }[] }[];
  templating: { list: { name: string; query: string }[] };
}): Query[] {
  return [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, text: t.query }))),
    ...dashboard.templating.list.map((v) => ({ where: `variable ${v.name}`, text: v.query })),
  ];
}
