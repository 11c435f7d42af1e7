import type { ResultFields } from './executor.js';

/** Secret values shorter than this are not masked: hiding every "1" or "on" would garble the output. */
export const MIN_MASKED_LENGTH = 4;
export const MASK = '***';

/** `text` with every occurrence of a secret value replaced by `***` (longest first, so no part of one survives). */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  const values = [...new Set(secrets)].filter((s) => s.length >= MIN_MASKED_LENGTH).sort((a, b) => b.length - a.length);
  let out = text;
  for (const value of values) out = out.split(value).join(MASK);
  return out;
}

/** A task's result with its secret values masked in everything it reports as text. */
export function maskResult(fields: ResultFields, secrets: readonly string[]): ResultFields {
  if (secrets.length === 0) return fields;
  const out: ResultFields = { ...fields, stdoutTail: maskSecrets(fields.stdoutTail, secrets), stderrTail: maskSecrets(fields.stderrTail, secrets) };
  if (fields.reason !== undefined) out.reason = maskSecrets(fields.reason, secrets);
  return out;
}
