import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { publicDeliveryError } from '../channels/endpoints.ts';
import { GridHubError } from '../domain/errors.ts';
import { PERSON_ROLES } from '../domain/records.ts';
import { requireRole } from '../http/context.ts';
import type { Dispatcher, PlaceNames } from './dispatcher.ts';
import { idParams, knownPlace } from './http.ts';
import { maskResident } from './privacy.ts';
import type { AlertView, MaintenanceTask } from './types.ts';

const b64url = z.string().regex(/^[A-Za-z0-9_-]+={0,2}$/, 'expected URL-safe base64');
const subscriptionBody = z.object({
  endpoint: z.url({ protocol: /^https$/ }).max(2000),
  keys: z.object({ p256dh: b64url.min(80).max(100), auth: b64url.min(16).max(40) }),
});

const residentBody = z.object({
  name: z.string().min(1).max(100),
  phone: z.string().max(40).nullable().default(null),
  familyName: z.string().max(100).nullable().default(null),
  familyPhone: z.string().max(40).nullable().default(null),
  healthNotes: z.string().max(2000).nullable().default(null),
  deviceId: z.string().min(1).max(200).nullable().default(null),
  placeId: z.string().min(1).max(200).nullable().default(null),
});

const hhmmOf = (minute: number) =>
  `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

const hhmm = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM')
  .transform((s) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3)));

const numericId = z.object({ id: z.coerce.number().int().positive() });

/**
 * Delivery and privacy routes under /api: Web Push subscriptions of the worker view, residents (admin), the
 * audited unmasked read of an alert's resident, the audit log, maintenance tasks, quiet hours and channel targets.
 */
export function deliveryRoutes(deps: { dispatcher: Dispatcher; places: PlaceNames }): FastifyPluginAsync {
  const { dispatcher: d, places } = deps;

  // Cut by place scope alone, not by whistles as the alert routes do for departments.
  // A department sees only alerts it was whistled into, as on the alert routes; others by place scope.
  async function alertInScope(request: FastifyRequest, id: string): Promise<AlertView> {
    const alert = await d.get(id);
    let visible = alert !== undefined && request.scope.canSee(alert.place);
    if (alert && request.user.role === 'department') {
      const dept = request.user.personId ? d.people.get(request.user.personId)?.department : undefined;
      visible = dept !== undefined && dept !== null && alert.whistles.some((w) => w.department === dept);
    }
    if (!alert || !visible) throw new GridHubError('NOT_FOUND', `no alert ${id}`);
    return alert;
  }

  /** A person is in scope when one of their places is. */
  const personInScope = (request: FastifyRequest, personId: string): boolean => {
    const p = d.people.get(personId);
    return (
      p !== undefined && (request.scope.all || p.placeIds.some((id) => request.scope.canSee(places.path(id))))
    );
  };

  /** Quiet hours are seen and changed within scope: a place's by its place, a person's by the person's places. */
  const quietInScope = (request: FastifyRequest, q: { personId: string | null; placeId: string | null }) => {
    if (request.scope.all) return true;
    if (q.placeId) return request.scope.canSee(places.path(q.placeId));
    if (q.personId === null) return false;
    // a worker or a department sees their own; a manager those of the people in their scope
    if (q.personId === request.user.personId) return true;
    return request.user.role === 'manager' && personInScope(request, q.personId);
  };

  const taskInScope = (request: FastifyRequest, t: MaintenanceTask) =>
    t.place ? request.scope.canSee(t.place) : request.scope.all;

  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const admin = { preHandler: requireRole('admin') };
    const managers = { preHandler: requireRole('admin', 'manager') };

    // ---- Web Push --------------------------------------------------------------------------------------------
    const pushTags = ['push'];
    app.get(
      '/push/vapid-public-key',
      { schema: { tags: pushTags, summary: 'The applicationServerKey for PushManager.subscribe' } },
      async () => ({ publicKey: d.pushStore.vapidKeys().publicKey }),
    );

    const personOf = (request: FastifyRequest): string => {
      const id = request.user.personId;
      if (!id) {
        throw new GridHubError(
          'REQUEST_INVALID',
          'push subscriptions belong to a person; this user has none',
        );
      }
      return id;
    };

    app.post(
      '/push/subscriptions',
      {
        schema: {
          tags: pushTags,
          summary: 'Register this device for push alarms (the browser’s PushSubscription.toJSON())',
          body: subscriptionBody,
        },
      },
      async (request, reply) => {
        const problem = d.outbound.pushEndpointProblem(request.body.endpoint);
        if (problem) throw new GridHubError('REQUEST_INVALID', `endpoint: ${problem}`, { field: 'endpoint' });
        const sub = await d.pushStore.subscribe({
          ...request.body,
          personId: personOf(request),
          username: request.user.username,
          userAgent: request.headers['user-agent']?.slice(0, 300) ?? null,
        });
        return reply
          .code(201)
          .send({ subscription: { id: sub.id, endpoint: sub.endpoint, createdAt: sub.createdAt } });
      },
    );

    app.get('/push/subscriptions', { schema: { tags: pushTags } }, async (request) => ({
      items: (await d.pushStore.list(personOf(request))).map((s) => ({
        id: s.id,
        endpoint: s.endpoint,
        userAgent: s.userAgent,
        createdAt: s.createdAt,
        lastOkAt: s.lastOkAt,
      })),
    }));

    app.delete(
      '/push/subscriptions',
      { schema: { tags: pushTags, body: z.object({ endpoint: z.string().min(1).max(2000) }) } },
      async (request) => {
        if (!(await d.pushStore.unsubscribe(request.body.endpoint, personOf(request)))) {
          throw new GridHubError('NOT_FOUND', 'no such subscription of yours');
        }
        return { ok: true };
      },
    );

    // ---- residents and privacy -------------------------------------------------------------------------------
    const privacyTags = ['privacy'];
    app.get(
      '/residents',
      { ...admin, schema: { tags: privacyTags, summary: 'Residents, masked' } },
      async () => ({
        items: (await d.residents.list()).map((r) => ({
          ...maskResident(r),
          deviceId: r.deviceId,
          placeId: r.placeId,
        })),
      }),
    );

    app.put(
      '/residents/:id',
      {
        ...admin,
        schema: {
          tags: privacyTags,
          summary: 'Create or replace a resident (linked to a call-button device)',
          params: z.object({ id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/) }),
          body: residentBody,
        },
      },
      async (request) => {
        if (request.body.placeId && !knownPlace(places, request.body.placeId)) {
          throw new GridHubError('REQUEST_INVALID', `place ${request.body.placeId} does not exist`, {
            field: 'placeId',
          });
        }
        const r = await d.residents.put({ id: request.params.id, ...request.body });
        await d.audit.record({
          username: request.user.username,
          action: 'resident.write',
          subject: `resident:${r.id}`,
          alertId: null,
          detail: { deviceId: r.deviceId },
        });
        return { resident: { ...maskResident(r), deviceId: r.deviceId, placeId: r.placeId } };
      },
    );

    app.get(
      '/alerts/:id/resident',
      {
        schema: {
          tags: privacyTags,
          summary:
            'The resident behind the alert: unmasked for those acting on it (notified, or who acted), each read audited; masked for others',
          params: idParams,
        },
      },
      async (request) => {
        const alert = await alertInScope(request, request.params.id);
        const resident = await d.residents.forDevice(alert.deviceId);
        if (!resident) throw new GridHubError('NOT_FOUND', 'no resident is linked to this device');
        const actors = await d.actors(alert.id);
        const open = !['resolved', 'closed'].includes(alert.status);
        const acting =
          open &&
          ((request.user.personId !== null && actors.personIds.has(request.user.personId)) ||
            actors.usernames.has(request.user.username));
        if (!acting) return { resident: maskResident(resident), masked: true };
        await d.audit.record({
          username: request.user.username,
          action: 'resident.read',
          subject: `resident:${resident.id}`,
          alertId: alert.id,
          detail: { fields: ['name', 'phone', 'familyName', 'familyPhone', 'healthNotes'] },
        });
        const { updatedAt: _u, ...plain } = resident;
        return { resident: { ...plain, masked: false }, masked: false };
      },
    );

    app.get(
      '/audit',
      {
        ...admin,
        schema: {
          tags: privacyTags,
          summary: 'Audit log of personal-data reads and writes, newest first',
          querystring: z.object({
            from: z.coerce.number().int().optional(),
            to: z.coerce.number().int().optional(),
            username: z.string().optional(),
            limit: z.coerce.number().int().min(1).max(1000).default(100),
          }),
        },
      },
      async (request) => ({ items: await d.audit.list(request.query) }),
    );

    // ---- maintenance -----------------------------------------------------------------------------------------
    const mTags = ['maintenance'];
    app.get(
      '/maintenance',
      {
        schema: {
          tags: mTags,
          summary: 'Maintenance tasks opened by false-alarm / device-fault marks, in your scope',
          querystring: z.object({ state: z.enum(['open', 'closed', 'all']).default('open') }),
        },
      },
      async (request) => {
        const state = request.query.state;
        const items = (await d.maintenance.list(state === 'all' ? {} : { open: state === 'open' })).filter(
          (t) => taskInScope(request, t),
        );
        return { items };
      },
    );

    app.post(
      '/maintenance/:id/close',
      {
        preHandler: requireRole('admin', 'manager', 'worker'),
        schema: {
          tags: mTags,
          summary: 'Close a task (device fixed): its suppression ends',
          params: numericId,
          body: z.object({ note: z.string().max(2000).optional() }).prefault({}),
        },
      },
      async (request) => {
        const t = await d.maintenance.get(request.params.id);
        if (!t || !taskInScope(request, t)) {
          throw new GridHubError('NOT_FOUND', `no maintenance task ${request.params.id}`);
        }
        return { task: await d.maintenance.close(t.id, request.user.username, request.body.note) };
      },
    );

    // ---- quiet hours and channel targets ---------------------------------------------------------------------
    const cTags = ['channels'];
    app.get('/quiet-hours', { schema: { tags: cTags } }, async (request) => ({
      items: (await d.quietHours.list())
        .filter((q) => quietInScope(request, q))
        .map((q) => ({
          ...q,
          start: hhmmOf(q.startMinute),
          end: hhmmOf(q.endMinute),
        })),
    }));
    app.post(
      '/quiet-hours',
      {
        ...managers,
        schema: {
          tags: cTags,
          summary: 'Quiet hours (local time) of a person or a place: minor alerts wait for their end',
          body: z
            .object({
              personId: z.string().min(1).optional(),
              placeId: z.string().min(1).optional(),
              start: hhmm,
              end: hhmm,
            })
            .refine((b) => (b.personId === undefined) !== (b.placeId === undefined), {
              message: 'give exactly one of personId and placeId',
            }),
        },
      },
      async (request, reply) => {
        const b = request.body;
        if (b.placeId && !request.scope.canSee(places.path(b.placeId))) {
          throw new GridHubError('NOT_FOUND', `no place ${b.placeId}`, { field: 'placeId' });
        }
        if (b.personId && !personInScope(request, b.personId)) {
          throw new GridHubError('NOT_FOUND', `no person ${b.personId}`, { field: 'personId' });
        }
        const q = await d.quietHours.add({
          personId: b.personId ?? null,
          placeId: b.placeId ?? null,
          startMinute: b.start,
          endMinute: b.end,
        });
        return reply.code(201).send({ quietHours: q });
      },
    );
    app.delete(
      '/quiet-hours/:id',
      { ...managers, schema: { tags: cTags, params: numericId } },
      async (request) => {
        const q = (await d.quietHours.list()).find((x) => x.id === request.params.id);
        if (!q || !quietInScope(request, q) || !(await d.quietHours.remove(q.id)))
          throw new GridHubError('NOT_FOUND', 'no such quiet hours');
        return { ok: true };
      },
    );

    app.get('/channel-targets', { ...admin, schema: { tags: cTags } }, async () => ({
      items: await d.channelTargets.list(),
    }));
    app.post(
      '/channel-targets',
      {
        ...admin,
        schema: {
          tags: cTags,
          summary: 'A target per place (e.g. a grid’s group robot) and/or per role',
          body: z.object({
            placeId: z.string().min(1).nullable().default(null),
            role: z.enum(PERSON_ROLES).nullable().default(null),
            channel: z.enum(['webhook', 'wecom', 'dingtalk', 'feishu', 'sms', 'voice', 'webpush', 'mqtt']),
            target: z.string().min(1).max(2000),
            label: z.string().max(200).nullable().default(null),
          }),
        },
      },
      async (request, reply) => {
        const b = request.body;
        if (b.placeId && !knownPlace(places, b.placeId)) {
          throw new GridHubError('REQUEST_INVALID', `place ${b.placeId} does not exist`, {
            field: 'placeId',
          });
        }
        // Refused now rather than failing at the first alarm: a channel this hub has, an endpoint an admin
        // named in the config (never a URL: nothing leaves for an address nobody approved), a phone number.
        const problem = d.checkChannelTarget(b.channel, b.target);
        if (problem) throw new GridHubError('REQUEST_INVALID', problem, { field: 'target' });
        return reply.code(201).send({ target: await d.channelTargets.add(b) });
      },
    );
    app.delete(
      '/channel-targets/:id',
      { ...admin, schema: { tags: cTags, params: numericId } },
      async (request) => {
        if (!(await d.channelTargets.remove(request.params.id)))
          throw new GridHubError('NOT_FOUND', 'no such target');
        return { ok: true };
      },
    );

    // The delivery state of one alert, per channel and target (targets masked).
    app.get('/alerts/:id/deliveries', { schema: { tags: ['alerts'], params: idParams } }, async (request) => {
      const alert = await alertInScope(request, request.params.id);
      const items = await d.deliveries(alert.id);
      // the receiver's answer text is for admins only (it could carry data read back from any endpoint)
      if (request.user.role === 'admin') return { items };
      return { items: items.map((i) => ({ ...i, lastError: publicDeliveryError(i.lastError) })) };
    });
  };
}
