import type { Point } from './types.ts';

/**
 * Read `GET /api/telemetry` answers: a list of `{ ts, value }` points, or an object carrying one under
 * `points` / `series`. Booleans chart as 0/1.
 */
export function toPoints(body: unknown): Point[] {
  const list = Array.isArray(body)
    ? body
    : ((body as { points?: unknown[]; series?: unknown[] } | null)?.points ??
      (body as { series?: unknown[] } | null)?.series ??
      []);
  return (list as Record<string, unknown>[]).map((p) => {
    const rawT = p.ts ?? p.t ?? p.time;
    const rawV = p.value ?? p.v ?? null;
    return {
      t: typeof rawT === 'string' ? Date.parse(rawT) : Number(rawT),
      v: typeof rawV === 'boolean' ? Number(rawV) : typeof rawV === 'number' ? rawV : null,
    };
  });
}
