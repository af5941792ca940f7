import type { z } from 'zod';

export const DEVICE_TYPE_IDS = ['smoke', 'throw_camera', 'ebike_elevator', 'bin', 'call_button'] as const;
export type DeviceTypeId = (typeof DEVICE_TYPE_IDS)[number];

/** A name shown to people, in both languages of the hub. */
export interface Label {
  en: string;
  'zh-CN': string;
}

/** One telemetry field or event-data field: its name, kind, unit and allowed range. */
export type FieldSpec = { label?: Label } & (
  | {
      kind: 'number';
      unit?: string;
      min?: number;
      max?: number;
      integer?: boolean;
      description: string;
      required?: boolean;
    }
  | { kind: 'boolean'; description: string; required?: boolean }
  | { kind: 'string'; maxLength: number; description: string; required?: boolean }
);

export interface EventSpec {
  description: string;
  label?: Label;
  data: Record<string, FieldSpec>;
}

/** A device type as data: adding a type is adding an entry, not editing code paths. */
export interface CatalogueEntry {
  id: DeviceTypeId;
  name: { en: string; 'zh-CN': string };
  telemetry: Record<string, FieldSpec>;
  events: Record<string, EventSpec>;
  heartbeatMs: number;
  /** Life-safety devices: their going offline is a major alert, not a minor one. */
  safety: boolean;
  /** InfluxDB measurement for telemetry (events go to `events`). */
  measurement: string;
}

/** Zod schemas derived from an entry, compiled once at start-up. */
export interface CompiledEntry extends CatalogueEntry {
  telemetrySchema: z.ZodType<Record<string, number | boolean | string>>;
  eventSchemas: Record<string, z.ZodType<Record<string, number | boolean | string>>>;
}
