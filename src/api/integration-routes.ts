import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { EventBus } from '../domain/events.ts';
import type { PlacePath } from '../domain/places.ts';
import type { DeviceRecord, User } from '../domain/records.ts';
import type { RuleResult } from '../domain/rule-result.ts';
import { SEVERITIES } from '../domain/severity.ts';
import { INTEGRATION_READINGS_PREFIX } from '../domain/wire.ts';
import { requireRole } from '../http/context.ts';
import type { IntegrationPolicy } from '../registry/users.ts';

/** What the integration routes need of the hub; `hub.dispatcher`, `hub.registry.*` and `hub.bus` fit. */
export interface IntegrationRoutesDeps {
  dispatcher: {
    handle(result: RuleResult): Promise<void>;
    get(id: string): Promise<{ id: string; status: string; ruleId: string; deviceId: string } | undefined>;
  };
  devices: { get(id: string): DeviceRecord | undefined };
  places: { path(id: string): PlacePath };
  users: {
    get(username: string): User | undefined;
    create(
      input: {
        username: string;
        password: string | null;
        role: 'integration';
        scope: string[];
        displayName?: string;
      },
      now: number,
    ): Promise<User>;
    issueToken(username: string, kind: 'api', now: number, ttlMs?: number, label?: string): Promise<string>;
    setIntegrationPolicy(username: string, policy: IntegrationPolicy): Promise<void>;
    integrationPolicy(username: string): IntegrationPolicy;
  };
  bus: EventBus;
  clock: Clock;
}

/** Flow names become rule ids `flow:<name>`: one dedup key per (flow, device), like a rule. */
const FLOW_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const scalar = z.union([z.string().max(500), z.number(), z.boolean()]);

const alertBody = z
  .object({
    flow: z.string().regex(FLOW_NAME, 'letters, digits, _ . - (up to 64)'),
    deviceId: z.string().min(1).max(64),
    action: z.enum(['raise', 'clear']).default('raise'),
    severity: z.enum(SEVERITIES).default('minor'),
    category: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,63}$/)
      .default('flow'),
    title: z.string().min(1).max(200).optional(),
    detail: z.string().max(2000).default(''),
    evidence: z.record(z.string().max(64), scalar).optional(),
    dedup: z.enum(['per-device', 'per-occurrence']).default('per-device'),
    note: z.string().max(2000).optional(),
  })
  .refine((b) => b.action === 'clear' || b.title !== undefined, {
    message: 'title is required to raise an alert',
    path: ['title'],
  });

const alertAnswer = z.object({
  ruleId: z.string(),
  action: z.enum(['raise', 'clear']),
  /** The alert the request opened, repeated or resolved; null when nothing changed (suppressed, none open). */
  alertId: z.string().nullable(),
  status: z.string().nullable(),
  changes: z.array(z.string()),
});

const credentialsBody = z.object({
  username: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,63}$/),
  scope: z.array(z.string().min(1)).min(1),
  label: z.string().max(100).optional(),
  /** The token's lifetime (it always ends). */
  expiresInDays: z.number().int().min(1).max(365).default(30),
  /** The highest severity a flow with this integration may raise (a flow is not a smoke detector). */
  maxSeverity: z.enum(SEVERITIES).default('major'),
  /** Device types its alerts may concern; omitted = any in its scope. */
  deviceTypes: z.array(z.string().min(1)).min(1).optional(),
});

/**
 * Routes for integrations (Node-RED flows and the like) under /api:
 * - `POST /integrations/credentials` (admin): create an integration user with a scope and issue an API token —
 *   its MQTT password and HTTP bearer token;
 * - `POST /integrations/alerts` (integration, admin): raise or clear an alert from a flow. It becomes a
 *   RuleResult of rule `flow:<name>` handed to the dispatcher, so dedup, grouping, routing, escalation and
 *   the outbox apply exactly as to the hub's own rules. Devices outside the caller's scope answer 404.
 */
export function integrationRoutes(deps: IntegrationRoutesDeps): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['integrations'];

    app.post(
      '/integrations/credentials',
      {
        preHandler: requireRole('admin'),
        schema: {
          tags,
          summary:
            'Create an integration user (or a new token for one) scoped to places; returns an API token',
          body: credentialsBody,
          response: {
            201: z.object({
              username: z.string(),
              token: z.string(),
              scope: z.array(z.string()),
              mqtt: z.object({ readingsTopic: z.string() }),
            }),
          },
        },
      },
      async (request, reply) => {
        const { username, scope, label, expiresInDays, maxSeverity, deviceTypes } = request.body;
        for (const id of scope) {
          if (Object.keys(deps.places.path(id)).length === 0)
            throw new GridHubError('REQUEST_INVALID', `place ${id} does not exist`, { field: 'scope' });
        }
        const now = deps.clock.now();
        let user = deps.users.get(username);
        if (user && user.role !== 'integration')
          throw new GridHubError('CONFLICT', `user ${username} exists with role ${user.role}`, {
            field: 'username',
          });
        if (!user) {
          // Integrations log in with tokens only: the account has no password at all.
          user = await deps.users.create(
            { username, password: null, role: 'integration', scope, displayName: username },
            now,
          );
        }
        await deps.users.setIntegrationPolicy(username, {
          maxSeverity,
          ...(deviceTypes ? { deviceTypes } : {}),
        });
        const token = await deps.users.issueToken(
          username,
          'api',
          now,
          expiresInDays * 86_400_000,
          label ?? 'integration',
        );
        request.log.info({ integration: username, scope: user.scope }, 'integration token issued');
        return reply.code(201).send({
          username,
          token,
          scope: user.scope,
          mqtt: { readingsTopic: `${INTEGRATION_READINGS_PREFIX}{type}/{deviceId}` },
        });
      },
    );

    app.post(
      '/integrations/alerts',
      {
        preHandler: requireRole('integration', 'admin'),
        schema: {
          tags,
          summary: 'Raise or clear an alert from a flow (rule id flow:<name>), through the dispatcher',
          body: alertBody,
          response: { 200: alertAnswer },
        },
      },
      async (request) => {
        const b = request.body;
        const device = deps.devices.get(b.deviceId);
        if (!device || !request.scope.canSee(device.place))
          throw new GridHubError('DEVICE_UNKNOWN', `no device ${b.deviceId}`, { field: 'deviceId' });
        if (request.user.role === 'integration') {
          const policy = deps.users.integrationPolicy(request.user.username);
          if (policy.deviceTypes && !policy.deviceTypes.includes(device.type))
            throw new GridHubError('DEVICE_UNKNOWN', `no device ${b.deviceId}`, { field: 'deviceId' });
          if (b.action === 'raise' && SEVERITIES.indexOf(b.severity) < SEVERITIES.indexOf(policy.maxSeverity))
            throw new GridHubError(
              'NOT_AUTHORIZED',
              `this integration may raise at most ${policy.maxSeverity}`,
              {
                field: 'severity',
              },
            );
        }
        const ruleId = `flow:${b.flow}`;
        const base = {
          ruleId,
          deviceId: device.id,
          deviceType: device.type,
          placeId: device.placeId,
          place: device.place,
          floor: device.floor,
          at: deps.clock.now(),
        };
        const result: RuleResult =
          b.action === 'raise'
            ? {
                ...base,
                kind: 'raise',
                severity: b.severity,
                category: b.category,
                title: b.title as string,
                detail: b.detail,
                dedup: b.dedup,
                ...(b.evidence ? { evidence: b.evidence } : {}),
              }
            : {
                ...base,
                kind: 'clear',
                resolution: 'auto',
                note: b.note ?? b.detail ?? `cleared by ${ruleId}`,
              };
        // handle() emits alert.changed for what it committed before it resolves; other results committing in the
        // meantime emit theirs too, so the changes are told apart by the alert they are about (below).
        const changes: { alertId: string; type: string }[] = [];
        const off = deps.bus.on('alert.changed', (c) => changes.push(c));
        try {
          await deps.dispatcher.handle(result);
        } finally {
          off();
        }
        let alert: Awaited<ReturnType<typeof deps.dispatcher.get>>;
        for (const c of changes) {
          const a = await deps.dispatcher.get(c.alertId);
          if (a?.ruleId === ruleId && a.deviceId === device.id) {
            alert = a;
            break;
          }
        }
        const alertId = alert?.id ?? null;
        const mine = changes.filter((c) => c.alertId === alertId);
        request.log.info(
          {
            integration: request.user.username,
            ruleId,
            deviceId: device.id,
            action: b.action,
            changes: mine.length,
          },
          'flow alert taken',
        );
        return {
          ruleId,
          action: b.action,
          alertId,
          status: alert?.status ?? null,
          changes: mine.map((c) => c.type),
        };
      },
    );
  };
}
