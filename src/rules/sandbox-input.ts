import { z } from 'zod';
import { GridHubError } from '../domain/errors.ts';
import { parseDuration } from '../settings/fields.ts';
import type { TestOptions, TestReading } from './sandbox-run.ts';

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

/** The body of POST /api/rules/test (checked on the sandbox worker; the route documents it). */
export const sandboxBodySchema = z.strictObject({
  rule: z.record(z.string(), z.unknown()),
  readings: z.array(testReadingSchema).max(10_000),
  start: instant.optional(),
  /** Keep the virtual clock running this long after the last reading (default: the rule's longest duration). */
  advanceAfter: durationLike.optional(),
});

export interface SandboxInput {
  rule: unknown;
  readings: TestReading[];
  options: TestOptions;
}

/** Parse and check the request body (on the sandbox worker); the error names the first bad field. */
export function parseSandboxBody(text: string): SandboxInput {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new GridHubError('REQUEST_INVALID', 'body is not valid JSON');
  }
  const r = sandboxBodySchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = (issue?.path ?? [])
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('');
    const field = `body${path}`;
    throw new GridHubError('REQUEST_INVALID', `${field}: ${issue?.message ?? 'invalid'}`, { field });
  }
  const { rule, readings, start, advanceAfter } = r.data;
  return {
    rule,
    readings: readings as TestReading[],
    options: {
      ...(start !== undefined ? { start } : {}),
      ...(advanceAfter !== undefined
        ? { advanceAfterMs: typeof advanceAfter === 'number' ? advanceAfter : parseDuration(advanceAfter) }
        : {}),
    },
  };
}
