import type { Catalogue } from '../catalogue/catalogue.ts';
import type { FieldSpec } from '../catalogue/types.ts';
import { GridHubError } from '../domain/errors.ts';
import type { Aggregate, TelemetryPoint, TelemetryQuery } from '../domain/ports.ts';

/** Most points one query may return (raw points, or buckets): keeps a dashboard from asking for millions. */
export const MAX_POINTS = 10_000;

export interface ResolvedQuery extends TelemetryQuery {
  measurement: string;
  spec: FieldSpec;
  /** The aggregate, when bucketed or `fn` given; undefined = raw points. */
  agg: Aggregate | undefined;
}

/**
 * Check a query against the catalogue, the same way for both stores: the field must be a telemetry field of the
 * device type; mean/min/max need a numeric field; buckets are capped at MAX_POINTS.
 */
export function resolveQuery(q: TelemetryQuery, catalogue: Catalogue): ResolvedQuery {
  if (!catalogue.has(q.deviceType))
    throw new GridHubError('REQUEST_INVALID', `unknown device type ${q.deviceType}`, { field: 'device' });
  const entry = catalogue.get(q.deviceType);
  const spec = entry.telemetry[q.field];
  if (!spec)
    throw new GridHubError(
      'REQUEST_INVALID',
      `${q.field} is not a telemetry field of ${q.deviceType} (fields: ${Object.keys(entry.telemetry).join(', ')})`,
      { field: 'field' },
    );
  if (!(Number.isFinite(q.from) && Number.isFinite(q.to)) || q.to < q.from)
    throw new GridHubError('REQUEST_INVALID', 'from must not be after to', { field: 'from' });
  let agg = q.fn;
  if (q.everyMs !== undefined) {
    if (!(q.everyMs >= 1))
      throw new GridHubError('REQUEST_INVALID', 'every must be at least 1 ms', { field: 'every' });
    if ((q.to - q.from) / q.everyMs > MAX_POINTS)
      throw new GridHubError('REQUEST_INVALID', `more than ${MAX_POINTS} buckets; choose a larger every`, {
        field: 'every',
      });
    agg ??= spec.kind === 'number' ? 'mean' : 'last';
  }
  if (agg && spec.kind !== 'number' && (agg === 'mean' || agg === 'min' || agg === 'max'))
    throw new GridHubError('REQUEST_INVALID', `${agg} needs a numeric field; ${q.field} is a ${spec.kind}`, {
      field: 'fn',
    });
  return { ...q, measurement: entry.measurement, spec, agg };
}

const ident = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const literal = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * InfluxQL for a resolved query. Buckets are aligned to the epoch (InfluxQL's GROUP BY time) and empty ones are
 * left out (`fill(none)`), which is what the embedded store returns too.
 */
export function toInfluxQl(q: ResolvedQuery, rp?: string): string {
  const from = rp ? `${ident(rp)}.${ident(q.measurement)}` : ident(q.measurement);
  const select = q.agg ? `${q.agg}(${ident(q.field)})` : ident(q.field);
  let s =
    `SELECT ${select} FROM ${from} WHERE "device" = ${literal(q.deviceId)}` +
    ` AND time >= ${Math.trunc(q.from)}ms AND time <= ${Math.trunc(q.to)}ms`;
  if (q.agg && q.everyMs !== undefined) s += ` GROUP BY time(${Math.trunc(q.everyMs)}ms) fill(none)`;
  if (!q.agg) s += ` LIMIT ${MAX_POINTS}`;
  return s;
}

export function toPoints(values: unknown[][] | undefined): TelemetryPoint[] {
  if (!values) return [];
  return values.map((row) => ({
    ts: Number(row[0]),
    value: (row[1] ?? null) as TelemetryPoint['value'],
  }));
}
