import { randomBytes } from 'node:crypto';

/** Short, URL-safe, sortable-enough ids: a readable prefix and 12 random base32 characters. */
export function newId(prefix: string): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = randomBytes(12);
  let out = '';
  for (const b of bytes) out += alphabet[b & 31];
  return `${prefix}_${out}`;
}
