import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

/** Constant-time token check: hashing first makes both sides the same length. */
export function tokenMatches(presented: string | undefined, expected: string | undefined): boolean {
  if (!expected) return true;
  if (!presented) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function bearer(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = value ? /^Bearer\s+(.+)$/i.exec(value.trim()) : null;
  return m ? m[1] : undefined;
}

/**
 * Routes anyone may call: the dashboard page and its assets (they hold no data; the page asks for the
 * token), the probes, and Prometheus metrics. Every other route, and any path that matches none, needs
 * the API token. Decided on the matched route, not the raw URL: `/%61pi/v1/tasks` routes to
 * `/api/v1/tasks` too.
 */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(['/', '/assets/:name', '/healthz', '/readyz', '/metrics']);

/** EventSource cannot send headers: the event stream alone also takes the token as `?token=`. */
const QUERY_TOKEN_ROUTES: ReadonlySet<string> = new Set(['/api/v1/events']);

export interface Tokens {
  /** API and dashboard token; none: the API is open. */
  api?: string;
  /** Worker token (the worker protocol only). */
  worker?: string;
}

/** Throws ApiError 401 (no or wrong token) or 403 (a worker token) unless the request may go on. */
export function checkApiToken(request: FastifyRequest, tokens: Tokens): void {
  const route = request.routeOptions.url;
  if (!tokens.api || (route !== undefined && PUBLIC_ROUTES.has(route))) return;
  const query = route !== undefined && QUERY_TOKEN_ROUTES.has(route) ? (request.query as Record<string, unknown> | undefined)?.token : undefined;
  const presented = bearer(request.headers.authorization) ?? (typeof query === 'string' ? query : undefined);
  if (tokenMatches(presented, tokens.api)) return;
  if (presented && tokens.worker && tokens.worker !== tokens.api && tokenMatches(presented, tokens.worker)) {
    throw new ApiError(403, 'forbidden', 'a worker token cannot call the API; use the API token');
  }
  throw new ApiError(401, 'unauthorized', 'missing or invalid token (Authorization: Bearer <token>)');
}
