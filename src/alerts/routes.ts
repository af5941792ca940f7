import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StreamMessage } from '../channels/channel.ts';
import { publicDeliveryError } from '../channels/endpoints.ts';
import { alarmTitle, placePhrase } from '../channels/templates/index.ts';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import { DEPARTMENTS } from '../domain/records.ts';
import { SEVERITIES } from '../domain/severity.ts';
import { requireRole } from '../http/context.ts';
import { deliveryRoutes } from './delivery-routes.ts';
import type { Dispatcher, PlaceNames } from './dispatcher.ts';
import { idParams, instant } from './http.ts';
import { kpiRoutes } from './kpi-routes.ts';
import { peopleRoutes } from './people-routes.ts';
import { LIGHTS } from './sla.ts';
import { ALERT_STATUSES, type AlertScope, type AlertView, RESOLUTIONS, type TimelineEvent } from './types.ts';

export interface AlertsRoutesDeps {
  dispatcher: Dispatcher;
  clock: Clock;
  places: PlaceNames;
  /** Interval of SSE keep-alive comments (real time). */
  keepAliveMs?: number;
  /** The display name of a user who acted on an alert, for timelines in plain words. */
  userName?: (username: string) => string | null;
}

const csvOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(z.enum(values)))
    .optional();

const noteBody = z.object({ note: z.string().max(2000).optional() }).prefault({});
const scoreBody = z.object({
  score: z.number().int().min(1).max(5),
  comment: z.string().max(2000).optional(),
});

const ACTORS = ['admin', 'manager', 'worker'] as const;

/**
 * Alerts, KPIs, people and duty under /api. Every answer is cut to the caller's scope: a worker sees their grids,
 * a manager their subtree, a department only alerts it was whistled into; anything else is 404.
 */
export function alertsRoutes(deps: AlertsRoutesDeps): FastifyPluginAsync {
  const { dispatcher, places } = deps;
  const people = dispatcher.people;

  function departmentOf(request: FastifyRequest): string | null {
    if (request.user.role !== 'department' || !request.user.personId) return null;
    return people.get(request.user.personId)?.department ?? null;
  }

  function visibleTo(request: FastifyRequest): (a: Pick<AlertView, 'place' | 'whistles'>) => boolean {
    if (request.user.role === 'department') {
      const dept = departmentOf(request);
      return (a) => dept !== null && a.whistles.some((w) => w.department === dept);
    }
    return (a) => request.scope.canSee(a.place);
  }

  /** The caller's scope as the list and KPI queries apply it: the same rule as `visibleTo`, in SQL. */
  function scopeOf(request: FastifyRequest): AlertScope {
    if (request.user.role === 'department') return { kind: 'department', department: departmentOf(request) };
    if (request.scope.all) return { kind: 'all' };
    return { kind: 'places', roots: request.scope.roots };
  }

  async function visibleAlert(request: FastifyRequest, id: string): Promise<AlertView> {
    const a = await dispatcher.get(id);
    if (!a || !visibleTo(request)(a)) throw new GridHubError('NOT_FOUND', `no alert ${id}`);
    return a;
  }

  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const actor = { preHandler: requireRole(...ACTORS) };
    const tags = ['alerts'];

    app.get(
      '/alerts',
      {
        schema: {
          tags,
          summary: 'Alerts in your scope, newest first',
          querystring: z.object({
            status: csvOf(ALERT_STATUSES),
            severity: csvOf(SEVERITIES),
            category: z.string().optional(),
            place: z.string().optional(),
            light: z.enum(LIGHTS).optional(),
            from: instant,
            to: instant,
            limit: z.coerce.number().int().min(1).max(500).default(50),
            offset: z.coerce.number().int().min(0).default(0),
          }),
        },
      },
      async (request) => {
        const q = request.query;
        const result = await dispatcher.list(q, scopeOf(request));
        return { total: result.total, limit: q.limit, offset: q.offset, items: result.items };
      },
    );

    app.get(
      '/alerts/stream',
      {
        // EventSource cannot send a header: it authenticates with ?ticket= (POST /api/auth/stream-ticket)
        config: { streamTicket: true },
        schema: {
          tags,
          summary: 'Live alert changes (Server-Sent Events); ?ticket= from POST /api/auth/stream-ticket',
          querystring: z.object({ ticket: z.string().max(100).optional() }),
        },
      },
      (request, reply) => {
        const visible = visibleTo(request);
        reply.hijack();
        // A bounded buffer per connection: a dashboard that falls behind is cut off and reconnects (stream.ts).
        dispatcher.stream.serve(request.raw, reply.raw, {
          visible: (msg: StreamMessage) =>
            visible({
              place: msg.place,
              whistles: msg.departments.map((department) => ({ department })),
            } as Pick<AlertView, 'place' | 'whistles'>),
          keepAliveMs: deps.keepAliveMs ?? 25_000,
          now: () => deps.clock.now(),
        });
      },
    );

    app.get(
      '/alerts/:id',
      { schema: { tags, summary: 'One alert with its timeline, incident and SLA lights', params: idParams } },
      async (request) => {
        const alert = await visibleAlert(request, request.params.id);
        const incident = alert.incidentId ? await dispatcher.incident(alert.incidentId) : undefined;
        const visible = visibleTo(request);
        return {
          alert,
          // People by name: an actor is a user name, a person id, `system`, `rule:…` or `channel:…`.
          timeline: timelineFor(request, await dispatcher.timeline(alert.id)).map((e) => ({
            ...e,
            actorName: deps.userName?.(e.actor) ?? people.get(e.actor)?.name ?? null,
            // Deliveries name the person reached, not their id.
            ...(typeof e.data.target === 'string' && people.get(e.data.target)
              ? { targetName: people.get(e.data.target)?.name ?? null }
              : {}),
          })),
          incident: incident
            ? {
                ...incident,
                // Other alerts of the incident only when the caller may see them.
                alertIds: await visibleIds(incident.alertIds, visible),
              }
            : null,
        };
      },
    );

    const who = (request: FastifyRequest) => request.user.username;

    async function visibleIds(ids: readonly string[], visible: (a: AlertView) => boolean): Promise<string[]> {
      const out: string[] = [];
      for (const id of ids) {
        const other = await dispatcher.get(id);
        if (other !== undefined && visible(other)) out.push(id);
      }
      return out;
    }

    app.post(
      '/alerts/:id/acknowledge',
      { ...actor, schema: { tags, params: idParams, body: noteBody } },
      async (request) => {
        await visibleAlert(request, request.params.id);
        return { alert: await dispatcher.acknowledge(request.params.id, who(request)) };
      },
    );

    app.post(
      '/alerts/:id/arrive',
      { ...actor, schema: { tags, params: idParams, body: noteBody } },
      async (request) => {
        await visibleAlert(request, request.params.id);
        return { alert: await dispatcher.arrive(request.params.id, who(request)) };
      },
    );

    app.post(
      '/alerts/:id/resolve',
      {
        ...actor,
        schema: {
          tags,
          summary: 'Resolve with a note; answers the resident’s one-time rating link',
          params: idParams,
          body: z.object({
            note: z.string().min(1).max(2000),
            resolution: z.enum(RESOLUTIONS).default('handled'),
          }),
        },
      },
      async (request) => {
        await visibleAlert(request, request.params.id);
        const { alert, ratingToken } = await dispatcher.resolve(
          request.params.id,
          who(request),
          request.body,
        );
        return { alert, ratingToken, ratingPath: `/api/public/rate/${ratingToken}` };
      },
    );

    app.post(
      '/alerts/:id/rate',
      { ...actor, schema: { tags, params: idParams, body: scoreBody } },
      async (request) => {
        await visibleAlert(request, request.params.id);
        return { alert: await dispatcher.rate(request.params.id, who(request), request.body) };
      },
    );

    app.post(
      '/alerts/:id/close',
      { ...actor, schema: { tags, params: idParams, body: noteBody } },
      async (request) => {
        await visibleAlert(request, request.params.id);
        return { alert: await dispatcher.close(request.params.id, who(request), request.body.note) };
      },
    );

    app.post(
      '/alerts/:id/false-alarm',
      {
        ...actor,
        schema: {
          tags,
          summary:
            'Mark a false alarm or a device fault: resolves, suppresses repeats, opens a maintenance task',
          params: idParams,
          body: z.object({
            kind: z.enum(['false_alarm', 'device_fault']).default('false_alarm'),
            reason: z.string().min(1).max(500),
            note: z.string().max(2000).optional(),
          }),
        },
      },
      async (request) => {
        await visibleAlert(request, request.params.id);
        return { alert: await dispatcher.markFalse(request.params.id, who(request), request.body) };
      },
    );

    app.post(
      '/alerts/:id/whistle',
      {
        ...actor,
        schema: {
          tags,
          summary: 'Whistle a department in (吹哨)',
          params: idParams,
          body: z.object({ department: z.enum(DEPARTMENTS), note: z.string().max(2000).optional() }),
        },
      },
      async (request) => {
        await visibleAlert(request, request.params.id);
        return { alert: await dispatcher.whistle(request.params.id, who(request), request.body) };
      },
    );

    app.post(
      '/alerts/:id/report-in',
      {
        preHandler: requireRole('department', 'admin', 'manager'),
        schema: {
          tags,
          summary: 'A whistled department reports in (报到)',
          params: idParams,
          body: z
            .object({ department: z.enum(DEPARTMENTS).optional(), note: z.string().max(2000).optional() })
            .prefault({}),
        },
      },
      async (request) => {
        await visibleAlert(request, request.params.id);
        // A department reports for itself; a manager may record it on the department's behalf.
        const department = departmentOf(request) ?? request.body.department;
        if (!department) {
          throw new GridHubError('REQUEST_INVALID', 'say which department reports in', {
            field: 'department',
          });
        }
        return {
          alert: await dispatcher.reportIn(request.params.id, who(request), department, request.body.note),
        };
      },
    );

    await kpiRoutes({ dispatcher, scopeOf })(fastify, {});
    await peopleRoutes({ people, places, clock: deps.clock, outbound: dispatcher.outbound })(fastify, {});
    await deliveryRoutes({ dispatcher, places })(fastify, {});
  };
}

/** Unauthenticated routes under /api: the resident's one-time rating link made at resolve. */
export function alertsPublicRoutes(deps: { dispatcher: Dispatcher }): FastifyPluginAsync {
  return async (fastify) => {
    fastify.withTypeProvider<ZodTypeProvider>().get(
      '/public/rate/:token',
      {
        schema: {
          tags: ['alerts'],
          security: [],
          summary: 'What the rating page shows: whether the link can still be used, and what it is about',
          params: z.object({ token: z.string().min(10).max(100) }),
        },
      },
      async (request) => {
        const info = await deps.dispatcher.ratingLink(request.params.token);
        if (info.state === 'unknown') throw new GridHubError('NOT_FOUND', 'this rating link is unknown');
        const a = info.about;
        // The place and the kind of call in plain words, both languages; nothing else of the alert.
        return {
          state: info.state,
          expiresAt: info.expiresAt ?? null,
          about: a
            ? {
                event: { 'zh-CN': alarmTitle(a, 'zh-CN'), en: alarmTitle(a, 'en') },
                place: { 'zh-CN': placePhrase(a, 'zh-CN', true), en: placePhrase(a, 'en', true) },
                resolvedAt: a.resolvedAt,
              }
            : null,
        };
      },
    );
    fastify.withTypeProvider<ZodTypeProvider>().post(
      '/public/rate/:token',
      {
        schema: {
          tags: ['alerts'],
          security: [],
          summary: 'The resident rates the handling of an alert (1–5) through the link given at resolve',
          params: z.object({ token: z.string().min(10).max(100) }),
          body: scoreBody,
        },
      },
      async (request) => {
        const alert = await deps.dispatcher.rateByToken(request.params.token, request.body);
        // The resident sees only that the rating was taken, not the alert.
        return { ok: true, alertId: alert.id, rating: alert.rating };
      },
    );
  };
}

/** A receiver's answer text (in failed-delivery events) is for admins only; others see the kind of failure. */
function timelineFor(request: FastifyRequest, events: TimelineEvent[]): TimelineEvent[] {
  if (request.user.role === 'admin') return events;
  return events.map((e) =>
    typeof e.data.error === 'string'
      ? { ...e, data: { ...e.data, error: publicDeliveryError(e.data.error) } }
      : e,
  );
}
