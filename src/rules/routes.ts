import { basename } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GridHubError } from '../domain/errors.ts';
import { requireRole } from '../http/context.ts';
import type { RuleEngine, RuleInfo } from './engine.ts';
import { sandboxBodySchema } from './sandbox-input.ts';

const _scalar = z.union([z.number(), z.boolean(), z.string()]);
const _instant = z.union([z.number(), z.string()]);
const _durationLike = z.union([
  z.number().int().min(0),
  z.string().regex(/^\d+(ms|s|m|h|d)?$/, 'expected milliseconds or e.g. 90s, 10m, 4h'),
]);

const ruleView = z.object({
  id: z.string(),
  name: z.string(),
  version: z.number(),
  enabled: z.boolean(),
  /** `pack`: a default rule; `user`: a file in the rules folder. */
  origin: z.enum(['pack', 'user']),
  file: z.string(),
  overridesDefault: z.boolean(),
  /** The rule as written: what PUT accepts back. */
  rule: z.record(z.string(), z.unknown()),
});

const idParams = z.object({ id: z.string().min(1).max(64) });
const errorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }),
});

function view(r: RuleInfo): z.output<typeof ruleView> {
  return {
    id: r.id,
    name: r.rule.name,
    version: r.rule.version,
    enabled: r.rule.enabled,
    origin: r.origin,
    file: basename(r.file),
    overridesDefault: r.overridesDefault,
    rule: r.source as Record<string, unknown>,
  };
}

/**
 * Rules API. Any signed-in user may read the rules (they hold no personal data); admins change them;
 * admins and managers may try a rule in the sandbox.
 */
export function rulesRoutes(deps: { engine: RuleEngine }): FastifyPluginAsync {
  const { engine } = deps;
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['rules'];

    app.get(
      '/rules',
      {
        schema: {
          tags,
          summary: 'Rules in force (defaults and the rules folder)',
          response: { 200: z.array(ruleView) },
        },
      },
      async () => engine.list().map(view),
    );

    app.get(
      '/rules/:id',
      {
        schema: { tags, summary: 'One rule', params: idParams, response: { 200: ruleView, 404: errorBody } },
      },
      async (request) => {
        const r = engine.get(request.params.id);
        if (!r) throw new GridHubError('RULE_NOT_FOUND', `no rule ${request.params.id}`);
        return view(r);
      },
    );

    app.put(
      '/rules/:id',
      {
        preHandler: requireRole('admin'),
        schema: {
          tags,
          summary: 'Create or replace a rule; saved as a file in the rules folder and applied at once',
          params: idParams,
          body: z.record(z.string(), z.unknown()),
          response: { 200: ruleView, 400: errorBody },
        },
      },
      async (request) => {
        const { id } = request.params;
        const body = request.body;
        if (body.id !== undefined && body.id !== id) {
          throw new GridHubError('RULE_INVALID', `rule ${id}: id: the body says ${String(body.id)}`, {
            field: 'id',
          });
        }
        const info = engine.put({ ...body, id });
        request.log.info({ ruleId: id, by: request.user.username }, 'rule saved');
        return view(info);
      },
    );

    app.delete(
      '/rules/:id',
      {
        preHandler: requireRole('admin'),
        schema: {
          tags,
          summary: 'Take a rule out of force (a default rule is disabled by a stub file)',
          params: idParams,
          response: { 204: z.null(), 404: errorBody },
        },
      },
      async (request, reply) => {
        engine.delete(request.params.id);
        request.log.info({ ruleId: request.params.id, by: request.user.username }, 'rule deleted');
        return reply.code(204).send(null);
      },
    );

    // The sandbox's body (up to 10 000 readings, ~0.5 MB) is parsed, checked and answered on the worker thread:
    // here it stays a string, so the event loop spends microseconds on it, not the 100 ms+ of JSON and zod.
    await fastify.register(async (raw) => {
      raw.addContentTypeParser(
        'application/json',
        { parseAs: 'string', bodyLimit: 2 * 1024 * 1024 },
        (_r, body, done) => done(null, body),
      );
      raw.withTypeProvider<ZodTypeProvider>().post(
        '/rules/test',
        {
          // not integrations: a flow's token has no business running rule experiments (finding 11)
          preHandler: requireRole('admin', 'manager'),
          // the schema documents the body; the worker checks it (parseSandboxBody)
          validatorCompiler: () => (value) => ({ value }),
          schema: {
            tags,
            summary: 'Run a rule over sample readings in virtual time and return the results it would yield',
            body: sandboxBodySchema,
            response: {
              200: z.object({ results: z.array(z.record(z.string(), z.unknown())) }),
              400: errorBody,
              422: errorBody,
            },
          },
        },
        async (request, reply) => {
          // the raw JSON text (content-type parser above), typed by the documented schema
          const json = await engine.testJson(request.body as unknown as string);
          // a string payload is sent as it is (fastify skips serialising)
          return reply.type('application/json; charset=utf-8').send(json as unknown as { results: [] });
        },
      );
    });
  };
}
