import { InvalidArgumentError } from 'commander';
import { parseResources, type Resources } from '../core/resources.js';
import { LOG_LEVELS } from '../logging.js';

// Option parsers for commander: each throws InvalidArgumentError, which the CLI turns into exit 2.

export function resourcesArg(value: string): Resources {
  try {
    return parseResources(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** `k=v,k2=v2` -> record. */
export function keyValuesArg(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`expected key=value, got "${part}"`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

/** `cpu=1,gpu=2` -> [[cpu, 1], [gpu, 2]] with non-negative integer counts. */
export function workerCountsArg(value: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [type, count] of Object.entries(keyValuesArg(value))) {
    if (!/^\d+$/.test(count)) throw new InvalidArgumentError(`worker count for "${type}" must be a whole number, got "${count}"`);
    out.set(type, Number(count));
  }
  return out;
}

export function intArg(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got "${value}"`);
    return Number(value);
  };
}

export function logLevelArg(value: string): string {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}`);
  return value;
}

export function urlListArg(value: string): string[] {
  const urls = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (urls.length === 0) throw new InvalidArgumentError('expected at least one URL');
  for (const u of urls) {
    try {
      const parsed = new URL(u);
      if (!['http:', 'https:', 'ws:', 'wss:'].includes(parsed.protocol)) throw new Error();
    } catch {
      throw new InvalidArgumentError(`"${u}" is not an http(s):// or ws(s):// URL`);
    }
  }
  return urls;
}
