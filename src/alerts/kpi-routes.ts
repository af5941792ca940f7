import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Dispatcher } from './dispatcher.ts';
import { instant } from './http.ts';
import { exportFileName, kpiCsv, kpiXlsx } from './kpi-export.ts';
import type { AlertScope } from './types.ts';

const kpiQuery = { from: instant, to: instant, place: z.string().optional() };

/**
 * KPIs of the caller's scope (`GET /api/kpis`: figures per grid, daily trend, definitions) and their export for
 * grid assessment (`GET /api/kpis/export?format=csv|xlsx`).
 */
export function kpiRoutes(deps: {
  dispatcher: Dispatcher;
  /** The caller's scope, applied in the KPI queries. */
  scopeOf: (request: FastifyRequest) => AlertScope;
}): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['alerts'];
    app.get(
      '/kpis',
      {
        schema: {
          tags,
          summary:
            'Closure rate, on-time rates, mean times, satisfaction, in-grid resolution, 15-minute response circle; per grid, per day, with definitions',
          querystring: z.object(kpiQuery),
        },
      },
      async (request) => await deps.dispatcher.kpis(request.query, deps.scopeOf(request)),
    );
    app.get(
      '/kpis/export',
      {
        schema: {
          tags,
          summary: 'The KPIs per grid as a spreadsheet (CSV or Excel), with their definitions',
          querystring: z.object({
            ...kpiQuery,
            format: z.enum(['csv', 'xlsx']).default('xlsx'),
            lang: z.enum(['zh-CN', 'en']).default('zh-CN'),
          }),
        },
      },
      async (request, reply) => {
        const { format, lang, ...filter } = request.query;
        const report = await deps.dispatcher.kpis(filter, deps.scopeOf(request));
        const name = exportFileName(report, format);
        reply.header('content-disposition', `attachment; filename="${name}"`);
        if (format === 'csv') {
          reply.type('text/csv; charset=utf-8');
          return kpiCsv(report, lang);
        }
        reply.type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
        return kpiXlsx(report, lang);
      },
    );
  };
}
