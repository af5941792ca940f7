import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { GridHubError } from '../domain/errors.ts';

/** Every error answer has one shape: `{ error: { code, message, field? } }`, codes from the error catalogue. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | GridHubError, request, reply) => {
    if (err instanceof GridHubError) {
      if (err.status >= 500) request.log.error({ err }, err.message);
      return reply.code(err.status).send({
        error: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) },
      });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const first = err.validation[0];
      const field = [err.validationContext, first?.instancePath.replace(/^\//, '').replaceAll('/', '.')]
        .filter(Boolean)
        .join('.');
      return reply.code(400).send({
        error: {
          code: 'REQUEST_INVALID',
          message: `${field || 'request'}: ${first?.message ?? 'invalid'}`,
          field: field || undefined,
          issues: err.validation.map((v) => ({ path: v.instancePath, message: v.message })),
        },
      });
    }
    if (isResponseSerializationError(err)) {
      request.log.error({ err, issues: err.cause.issues }, 'response does not match its schema');
      return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
    }
    const status = err.statusCode ?? 500;
    if (status >= 500) request.log.error({ err }, 'request failed');
    return reply.code(status).send({
      error: {
        code: status === 404 ? 'NOT_FOUND' : status >= 500 ? 'INTERNAL' : 'REQUEST_INVALID',
        message: status >= 500 ? 'internal error' : err.message,
      },
    });
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` } });
  });
}
