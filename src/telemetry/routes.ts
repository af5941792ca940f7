import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import { AGGREGATES, type TelemetryReader } from '../domain/ports.ts';
import type { DeviceRecord } from '../domain/records.ts';
import { parseDuration } from '../settings/fields.ts';

export interface TelemetryRoutesDeps {
  reader: TelemetryReader;
  devices: { get(id: string): DeviceRecord | undefined };
  /** Default `to` (now); the system time when absent. */
  clock?: Pick<Clock, 'now'>;
}

const DEFAULT_SPAN_MS = 3_600_000;

const querySchema = z.object({
  device: z.string().min(1).max(128),
  field: z.string().min(1).max(64),
  from: z.string().optional().describe('ISO 8601 or epoch milliseconds; default: `to` minus one hour'),
  to: z.string().optional().describe('ISO 8601 or epoch milliseconds; default: now'),
  every: z
    .string()
    .regex(/^\d+(ms|s|m|h|d)?$/, 'expected a duration such as 30s, 5m or 1h')
    .optional()
    .describe('bucket width, e.g. 5m; omitted = raw points'),
  fn: z
    .enum(AGGREGATES)
    .optional()
    .describe('aggregate per bucket (default mean, or last for non-numeric fields)'),
});

const pointSchema = z.object({
  ts: z.number(),
  value: z.union([z.number(), z.boolean(), z.string(), z.null()]),
});

function parseTime(raw: string, field: 'from' | 'to'): number {
  const t = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(t))
    throw new GridHubError('REQUEST_INVALID', `${field} must be ISO 8601 or epoch milliseconds`, { field });
  return t;
}

/**
 * `GET /telemetry?device=&field=&from=&to=&every=&fn=`: a device's telemetry field over time, raw or bucketed.
 * A device outside the caller's scope is 404, exactly like one that does not exist.
 */
export function telemetryRoutes(deps: TelemetryRoutesDeps): FastifyPluginAsync {
  return async (fastify) => {
    fastify.withTypeProvider<ZodTypeProvider>().get(
      '/telemetry',
      {
        schema: {
          summary: "A device's telemetry field over time",
          tags: ['telemetry'],
          querystring: querySchema,
          response: {
            200: z.object({
              device: z.string(),
              field: z.string(),
              from: z.number(),
              to: z.number(),
              everyMs: z.number().optional(),
              fn: z.enum(AGGREGATES).optional(),
              points: z.array(pointSchema),
            }),
          },
        },
      },
      async (request) => {
        const q = request.query;
        const device = deps.devices.get(q.device);
        if (!device || !request.scope.canSee(device.place))
          throw new GridHubError('NOT_FOUND', `no device ${q.device}`, { field: 'device' });
        const to = q.to !== undefined ? parseTime(q.to, 'to') : (deps.clock?.now() ?? Date.now());
        const from = q.from !== undefined ? parseTime(q.from, 'from') : to - DEFAULT_SPAN_MS;
        const everyMs = q.every !== undefined ? parseDuration(q.every) : undefined;
        const points = await deps.reader.query({
          deviceId: device.id,
          deviceType: device.type,
          field: q.field,
          from,
          to,
          ...(everyMs !== undefined ? { everyMs } : {}),
          ...(q.fn ? { fn: q.fn } : {}),
        });
        return {
          device: device.id,
          field: q.field,
          from,
          to,
          ...(everyMs !== undefined ? { everyMs } : {}),
          ...(q.fn ? { fn: q.fn } : {}),
          points,
        };
      },
    );
  };
}
