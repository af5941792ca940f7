import { describe, expect, it } from 'vitest';
import { createCatalogue } from './catalogue.ts';
import { DEVICE_TYPE_IDS } from './types.ts';

const catalogue = createCatalogue();

describe('catalogue invariants (every entry)', () => {
  it('has exactly one entry per declared device type', () => {
    expect(
      catalogue
        .all()
        .map((e) => e.id)
        .sort(),
    ).toEqual([...DEVICE_TYPE_IDS].sort());
  });

  for (const entry of catalogue.all()) {
    describe(entry.id, () => {
      it('has names in both languages, a heartbeat and a measurement', () => {
        expect(entry.name.en.length).toBeGreaterThan(0);
        expect(entry.name['zh-CN']).toMatch(/[\u4e00-\u9fff]/);
        expect(entry.heartbeatMs).toBeGreaterThanOrEqual(60_000);
        expect(entry.measurement).toMatch(/^[a-z_]+$/);
      });

      it('labels every field and event in both languages (summaries and charts are rendered from them)', () => {
        const specs = [
          ...Object.entries(entry.telemetry),
          ...Object.entries(entry.events).flatMap(([ev, e]) => [
            [ev, e] as const,
            ...Object.entries(e.data).map(([n, f]) => [`${ev}.${n}`, f] as const),
          ]),
        ];
        for (const [name, spec] of specs) {
          expect(spec.label?.en, `${entry.id}.${name}`).toMatch(/^[A-Z]/);
          expect(spec.label?.['zh-CN'], `${entry.id}.${name}`).toMatch(/[\u4e00-\u9fff]/);
        }
      });

      it('gives every numeric field a range and a description', () => {
        for (const [name, spec] of Object.entries(entry.telemetry)) {
          expect(spec.description, name).not.toBe('');
          if (spec.kind === 'number') {
            expect(spec.min, `${entry.id}.${name}.min`).toBeDefined();
            expect(spec.max, `${entry.id}.${name}.max`).toBeDefined();
            expect(spec.min as number).toBeLessThan(spec.max as number);
          }
        }
      });

      it('never reuses a reserved payload key as a field name', () => {
        for (const name of Object.keys(entry.telemetry)) expect(['ts', 'event', 'data']).not.toContain(name);
      });

      it('accepts a payload at each field bound and rejects one just outside', () => {
        for (const [name, spec] of Object.entries(entry.telemetry)) {
          if (spec.kind !== 'number') continue;
          expect(entry.telemetrySchema.safeParse({ [name]: spec.min }).success, `${name}=min`).toBe(true);
          expect(entry.telemetrySchema.safeParse({ [name]: spec.max }).success, `${name}=max`).toBe(true);
          expect(
            entry.telemetrySchema.safeParse({ [name]: (spec.max as number) + 1 }).success,
            `${name}>max`,
          ).toBe(false);
        }
      });

      it('rejects unknown fields and empty telemetry', () => {
        expect(entry.telemetrySchema.safeParse({ bogus: 1 }).success).toBe(false);
        expect(entry.telemetrySchema.safeParse({}).success).toBe(false);
      });

      it('compiles a schema for every event', () => {
        expect(Object.keys(entry.eventSchemas).sort()).toEqual(Object.keys(entry.events).sort());
      });
    });
  }

  it('matches the design table for ranges that rules depend on', () => {
    expect(catalogue.get('smoke').telemetry.smoke).toMatchObject({ min: 0, max: 2, unit: 'dB/m' });
    expect(catalogue.get('bin').telemetry.fill).toMatchObject({ min: 0, max: 100, unit: '%' });
    expect(catalogue.get('smoke').heartbeatMs).toBe(4 * 3_600_000);
    expect(catalogue.get('bin').heartbeatMs).toBe(15 * 60_000);
    expect(catalogue.get('call_button').safety).toBe(true);
    expect(catalogue.get('bin').safety).toBe(false);
  });

  it('names the offending field and why', () => {
    const r = catalogue.get('smoke').telemetrySchema.safeParse({ smoke: 'high' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['smoke']);
    expect(r.error?.issues[0]?.message).toBe('expected a number');
    const e = catalogue.get('throw_camera').eventSchemas.throw_detected?.safeParse({ confidence: 1.5 });
    expect(e?.error?.issues[0]?.path).toEqual(['confidence']);
    expect(e?.error?.issues[0]?.message).toContain('≤ 1');
  });
});
