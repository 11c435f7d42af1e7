import type { FastifyError, FastifyInstance } from 'fastify';
import { ZodError } from 'zod';

/** An error that maps to an HTTP status and the API's `{error: {code, message, details}}` body. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details: unknown = undefined,
  ) {
    super(message);
  }
}

export function notFound(what: string, id: string): ApiError {
  return new ApiError(404, 'not_found', `${what} ${id} not found`);
}

/** Zod issues as `{path, message}` with dotted paths (tasks.0.resources.cpu). */
export function zodDetails(err: ZodError): Array<{ path: string; message: string }> {
  return err.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

export function zodMessage(err: ZodError): string {
  const first = zodDetails(err)[0];
  if (!first) return 'invalid input';
  const more = err.issues.length > 1 ? ` (and ${err.issues.length - 1} more)` : '';
  return `${first.path || '(body)'}: ${first.message}${more}`;
}

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | ApiError | ZodError, request, reply) => {
    if (err instanceof ApiError) {
      return reply.status(err.statusCode).send({ error: { code: err.code, message: err.message, details: err.details ?? null } });
    }
    if (err instanceof ZodError) {
      return reply.status(400).send({ error: { code: 'invalid_request', message: zodMessage(err), details: zodDetails(err) } });
    }
    const status = err.statusCode ?? 500;
    if (status < 500) {
      const code = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'invalid_json' : (err.code ?? 'bad_request').toLowerCase();
      return reply.status(status).send({ error: { code, message: err.message, details: null } });
    }
    request.log.error({ err }, 'request failed');
    return reply.status(500).send({ error: { code: 'internal', message: 'internal error', details: null } });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url}`, details: null } });
  });
}
