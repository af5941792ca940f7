import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Catalogue } from '../catalogue/catalogue.ts';
import { DEVICE_TYPE_IDS } from '../catalogue/types.ts';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { DeviceRecord } from '../domain/records.ts';
import { requireRole } from '../http/context.ts';
import type { Registry } from '../registry/registry.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const deviceView = z.object({
  id: z.string(),
  type: z.string(),
  placeId: z.string(),
  place: z.record(z.string(), z.string()),
  placeNames: z.array(z.string()),
  floor: z.number().nullable(),
  label: z.string().nullable(),
  enabled: z.boolean(),
  online: z.boolean(),
  lastSeen: z.string().nullable(),
  onlineChangedAt: z.string().nullable(),
  createdAt: z.string(),
});

const placeLayout = z.object({
  x: z.number().min(0).max(100).nullable(),
  y: z.number().min(0).max(100).nullable(),
  floors: z.number().int().min(1).max(200).nullable(),
});

interface PlaceTreeView {
  id: string;
  level: string;
  name: string;
  children: PlaceTreeView[];
  layout?: z.infer<typeof placeLayout>;
}
const placeTree: z.ZodType<PlaceTreeView> = z.lazy(() =>
  z.object({
    id: z.string(),
    level: z.string(),
    name: z.string(),
    children: z.array(placeTree),
    layout: placeLayout.optional(),
  }),
);

/** Places and devices: the registry as the API shows it, scoped by the user's places. */
export function registryRoutes(deps: {
  registry: Registry;
  catalogue: Catalogue;
  clock: Clock;
  onProvisioned?: (device: DeviceRecord) => void;
}): FastifyPluginAsync {
  const { places, devices } = deps.registry;
  const view = (d: DeviceRecord) => ({
    id: d.id,
    type: d.type,
    placeId: d.placeId,
    place: d.place as Record<string, string>,
    placeNames: places.names(d.placeId),
    floor: d.floor,
    label: d.label,
    enabled: d.enabled,
    online: d.online,
    lastSeen: iso(d.lastSeen),
    onlineChangedAt: iso(d.onlineChangedAt),
    createdAt: new Date(d.createdAt).toISOString(),
  });
  const visibleDevice = (id: string, canSee: (p: DeviceRecord['place']) => boolean) => {
    const d = devices.get(id);
    if (!d || !canSee(d.place)) throw new GridHubError('DEVICE_UNKNOWN', `no device ${id}`);
    return d;
  };

  return async (app) => {
    const typed = app.withTypeProvider<ZodTypeProvider>();
    typed.get(
      '/places',
      {
        schema: {
          tags: ['places'],
          summary: 'The place tree within your scope',
          response: { 200: z.array(placeTree) },
        },
      },
      async (request) => {
        const strip = (n: ReturnType<typeof places.tree>[number]): PlaceTreeView => ({
          id: n.id,
          level: n.level,
          name: n.name,
          children: n.children.map(strip),
          ...(n.layout ? { layout: n.layout } : {}),
        });
        return places.tree(request.scope.all ? undefined : request.scope.roots).map(strip);
      },
    );

    typed.put(
      '/places/:id/layout',
      {
        preHandler: requireRole('admin'),
        schema: {
          tags: ['places'],
          summary:
            "A building's position on its estate's map (0–100 across and down) and its floors; null goes back to the automatic layout",
          params: z.object({ id: z.string().min(1).max(200) }),
          body: placeLayout.partial(),
          response: { 200: placeLayout },
        },
      },
      async (request) => {
        const layout = await places.setLayout(request.params.id, request.body);
        request.log.info({ placeId: request.params.id, layout }, 'place layout set');
        return layout;
      },
    );

    typed.get(
      '/devices',
      {
        schema: {
          tags: ['devices'],
          querystring: z.object({
            type: z.enum(DEVICE_TYPE_IDS).optional(),
            place: z.string().optional(),
            online: z.enum(['true', 'false']).optional(),
            limit: z.coerce.number().int().min(1).max(5000).default(500),
            offset: z.coerce.number().int().min(0).default(0),
          }),
          response: { 200: z.object({ total: z.number(), items: z.array(deviceView) }) },
        },
      },
      async (request) => {
        const q = request.query;
        const all = devices
          .list({
            type: q.type,
            placeId: q.place,
            online: q.online === undefined ? undefined : q.online === 'true',
          })
          .filter((d) => request.scope.canSee(d.place));
        return { total: all.length, items: all.slice(q.offset, q.offset + q.limit).map(view) };
      },
    );

    typed.get(
      '/devices/:id',
      { schema: { tags: ['devices'], params: z.object({ id: z.string() }), response: { 200: deviceView } } },
      async (request) => view(visibleDevice(request.params.id, request.scope.canSee)),
    );

    typed.post(
      '/devices',
      {
        preHandler: requireRole('admin'),
        schema: {
          tags: ['devices'],
          summary: 'Provision a device; the secret is returned once and only its hash is kept',
          body: z.object({
            id: z.string().optional(),
            type: z.enum(DEVICE_TYPE_IDS),
            placeId: z.string(),
            floor: z.number().int().min(-10).max(300).nullable().optional(),
            label: z.string().max(200).nullable().optional(),
          }),
          response: {
            201: z.object({
              device: deviceView,
              secret: z.string(),
              mqtt: z.object({ username: z.string(), topics: z.record(z.string(), z.string()) }),
            }),
          },
        },
      },
      async (request, reply) => {
        const { device, secret } = await devices.provision(request.body, deps.clock.now());
        request.log.info(
          { deviceId: device.id, type: device.type, placeId: device.placeId },
          'device provisioned',
        );
        return reply.code(201).send({
          device: view(device),
          secret,
          mqtt: {
            username: device.id,
            topics: {
              telemetry: `gh/${device.id}/telemetry`,
              event: `gh/${device.id}/event`,
              status: `gh/${device.id}/status`,
              errors: `gh/${device.id}/errors`,
            },
          },
        });
      },
    );

    typed.patch(
      '/devices/:id',
      {
        preHandler: requireRole('admin'),
        schema: {
          tags: ['devices'],
          summary: 'Enable or disable a device, or move it',
          params: z.object({ id: z.string() }),
          body: z.object({
            enabled: z.boolean().optional(),
            placeId: z.string().optional(),
            floor: z.number().int().min(-10).max(300).nullable().optional(),
            label: z.string().max(200).nullable().optional(),
          }),
          response: { 200: deviceView },
        },
      },
      async (request) => {
        visibleDevice(request.params.id, request.scope.canSee);
        const d = await devices.update(request.params.id, request.body);
        request.log.info({ deviceId: d.id, patch: request.body }, 'device updated');
        return view(d);
      },
    );

    typed.get(
      '/catalogue',
      { schema: { tags: ['devices'], summary: 'Device types, fields, units, events' } },
      async () => deps.catalogue.all().map(({ telemetrySchema: _t, eventSchemas: _e, ...entry }) => entry),
    );
  };
}
