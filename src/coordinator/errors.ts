import type { FastifyError, FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import type { RejectionReason } from './events.js';

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

/** The rejection counted for a 4xx answer; null for answers that refuse nothing hostile (404, 409). */
function rejectionOf(status: number, code: string): RejectionReason | null {
  if (code === 'too_many_tasks' || code === 'body_too_large' || code === 'too_many_connections' || code === 'forbidden' || code === 'unauthorized') return code;
  if (status === 400 || status === 415) return 'invalid_request';
  return null;
}

/**
 * Every error becomes `{error: {code, message, details}}`; `onRejection` hears of each refused
 * request (for drm_rejections_total).
 */
export function registerErrorHandler(app: FastifyInstance, limits: { bodyBytes: number }, onRejection: (reason: RejectionReason) => void = () => {}): void {
  app.setErrorHandler((err: FastifyError | ApiError | ZodError, request, reply) => {
    const send = (status: number, code: string, message: string, details: unknown) => {
      const reason = rejectionOf(status, code);
      if (reason) onRejection(reason);
      return reply.status(status).send({ error: { code, message, details } });
    };
    if (err instanceof ApiError) {
      // A refused connection is closed once answered, so an over-limit client cannot keep it.
      if (err.statusCode === 429) reply.header('connection', 'close');
      return send(err.statusCode, err.code, err.message, err.details ?? null);
    }
    if (err instanceof ZodError) return send(400, 'invalid_request', zodMessage(err), zodDetails(err));
    const status = err.statusCode ?? 500;
    if (status < 500) {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return send(413, 'body_too_large', `request body is larger than the limit of ${limits.bodyBytes} bytes`, { limitBytes: limits.bodyBytes });
      const code = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'invalid_json' : (err.code ?? 'bad_request').toLowerCase();
      return send(status, code, err.message, null);
    }
    request.log.error({ err }, 'request failed');
    return reply.status(500).send({ error: { code: 'internal', message: 'internal error', details: null } });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url}`, details: null } });
  });
}
