import { createHash, timingSafeEqual } from 'node:crypto';

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
