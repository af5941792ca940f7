import { z } from 'zod';

/** Field helpers that accept both config-file values and environment strings. */
export const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);
export const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);
export const num = (def: number, min = 0, max = Number.MAX_VALUE) =>
  z.coerce.number().min(min).max(max).default(def);
export const bool = (def: boolean) =>
  z
    .union([
      z.boolean(),
      z
        .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { error: 'expected true or false' })
        .transform((s) => ['true', '1', 'yes', 'on'].includes(s)),
    ])
    .default(def);
/** A duration in ms; also accepts `90s`, `15m`, `4h`, `2d`. */
export const duration = (def: number) =>
  z
    .union([
      z.number().int().min(0),
      z
        .string()
        .regex(/^\d+(ms|s|m|h|d)?$/, 'expected milliseconds or a number followed by ms, s, m, h or d')
        .transform(parseDuration),
    ])
    .default(def);

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(s: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(s);
  if (!m) throw new RangeError(`not a duration: ${s}`);
  return Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1);
}
