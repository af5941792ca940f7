import { z } from 'zod';
import { GridHubError } from '../domain/errors.ts';
import type { TestReading } from './sandbox-run.ts';

const scalar = z.union([z.number(), z.boolean(), z.string()]);
const instant = z.union([z.number(), z.string()]);
const durationLike = z.union([
  z.number().int().min(0),
  z.string().regex(/^\d+(ms|s|m|h|d)?$/, 'expected milliseconds or e.g. 90s, 10m, 4h'),
]);

/** One sample reading of POST /api/rules/test. */
export const testReadingSchema = z.strictObject({
  at: instant.optional(),
  after: durationLike.optional(),
  deviceId: z.string().min(1).max(64).optional(),
  deviceType: z.string().max(64).optional(),
  placeId: z.string().max(128).optional(),
  place: z.record(z.string(), z.string().max(128)).optional(),
  floor: z.number().int().nullable().optional(),
  kind: z.enum(['telemetry', 'event', 'status']).optional(),
  values: z.record(z.string(), scalar).optional(),
  event: z.string().max(64).optional(),
  data: z.record(z.string(), scalar).optional(),
  status: z.enum(['online', 'offline']).optional(),
});

/** Check the sample readings (on the sandbox worker); the error names the first bad field. */
export function parseTestReadings(readings: readonly unknown[]): TestReading[] {
  const r = z.array(testReadingSchema).safeParse(readings);
  if (r.success) return r.data as TestReading[];
  const issue = r.error.issues[0];
  const field = `readings${(issue?.path ?? []).map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`;
  throw new GridHubError('REQUEST_INVALID', `${field}: ${issue?.message ?? 'invalid'}`, { field });
}
