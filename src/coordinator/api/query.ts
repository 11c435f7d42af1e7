import { z } from 'zod';
import { ApiError, zodDetails } from '../errors.js';

/** Routes that take no query parameters still refuse unknown ones. */
export const NoQuery = z.strictObject({});

/** Parses a query string; a refusal is a 400 naming the parameter (`query.limit: ...`), not the body. */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.output<S> {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  const details = zodDetails(parsed.error).map((d) => ({ path: d.path ? `query.${d.path}` : 'query', message: d.message }));
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  throw new ApiError(400, 'invalid_request', `${details[0].path}: ${details[0].message}${more}`, details);
}
