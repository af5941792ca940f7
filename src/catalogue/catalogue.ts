import { z } from 'zod';
import { CATALOGUE_ENTRIES } from './entries.ts';
import type { CatalogueEntry, CompiledEntry, DeviceTypeId, FieldSpec } from './types.ts';
import { DEVICE_TYPE_IDS } from './types.ts';

type Value = number | boolean | string;

function fieldSchema(spec: FieldSpec): z.ZodType<Value> {
  switch (spec.kind) {
    case 'number': {
      const unit = spec.unit ? ` ${spec.unit}` : '';
      const what = spec.integer ? 'an integer' : 'a number';
      let s = z.number({ error: (iss) => (iss.input === undefined ? 'required' : `expected ${what}`) });
      // Each check names what is expected: a device maker reading "expected a number" for 12.5 is misled.
      if (spec.integer) s = s.int({ error: (iss) => `expected an integer, got ${String(iss.input)}` });
      if (spec.min !== undefined) s = s.min(spec.min, `must be ≥ ${spec.min}${unit}`);
      if (spec.max !== undefined) s = s.max(spec.max, `must be ≤ ${spec.max}${unit}`);
      return s;
    }
    case 'boolean':
      return z.boolean({ error: (iss) => (iss.input === undefined ? 'required' : 'expected true or false') });
    case 'string':
      return z
        .string({ error: (iss) => (iss.input === undefined ? 'required' : 'expected a string') })
        .max(spec.maxLength, {
          error: (iss) =>
            `too long: at most ${spec.maxLength} characters, got ${typeof iss.input === 'string' ? iss.input.length : '?'}`,
        });
  }
}

function objectSchema(fields: Record<string, FieldSpec>, atLeastOne: boolean) {
  const shape: Record<string, z.ZodType<Value | undefined>> = {};
  for (const [name, spec] of Object.entries(fields)) {
    shape[name] = spec.required ? fieldSchema(spec) : fieldSchema(spec).optional();
  }
  const obj = z.strictObject(shape);
  const refined = atLeastOne
    ? obj.refine((v) => Object.keys(v).length > 0, { message: 'no telemetry field given' })
    : obj;
  return refined as unknown as z.ZodType<Record<string, Value>>;
}

export function compileEntry(entry: CatalogueEntry): CompiledEntry {
  return {
    ...entry,
    telemetrySchema: objectSchema(entry.telemetry, true),
    eventSchemas: Object.fromEntries(
      Object.entries(entry.events).map(([name, spec]) => [name, objectSchema(spec.data, false)]),
    ),
  };
}

export interface Catalogue {
  get(type: DeviceTypeId): CompiledEntry;
  has(type: string): type is DeviceTypeId;
  all(): readonly CompiledEntry[];
}

export function createCatalogue(entries: readonly CatalogueEntry[] = CATALOGUE_ENTRIES): Catalogue {
  const byId = new Map<string, CompiledEntry>(entries.map((e) => [e.id, compileEntry(e)]));
  return {
    get(type) {
      const e = byId.get(type);
      if (!e) throw new Error(`unknown device type ${type}`);
      return e;
    },
    has(type): type is DeviceTypeId {
      return byId.has(type);
    },
    all: () => [...byId.values()],
  };
}

export type { CatalogueEntry, CompiledEntry, DeviceTypeId, FieldSpec };
export { DEVICE_TYPE_IDS };
