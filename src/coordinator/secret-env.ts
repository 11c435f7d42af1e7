import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

// Secret environment variables of tasks (`secretEnv` in the API and suite files).
//
// They are kept in the task's `env` (the tasks.env column, no migration) under the key `secret:NAME`,
// which no real variable can have (names are letters, digits and _), and their values are sealed with
// AES-256-GCM (the name is authenticated data, so a sealed value cannot be moved to another name). The key
// is derived (scrypt) from the coordinator's API token, so a restarted coordinator, or another one of an HA
// group sharing the database and token, can open them. A coordinator without a token uses a random key
// that lives as long as the process: its secrets do not survive a restart, and tasks whose secrets cannot
// be opened are failed with a reason rather than run without them.
//
// Secret values leave the coordinator only in the `assign` frame to the worker that runs the task; the API
// shows them as `***`, reports and the dashboard never show env, and logs redact `secretEnv`.

export const SECRET_PREFIX = 'secret:';
export const MASK = '***';
const FORMAT = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Fixed salt: the key must be the same on every coordinator that shares the token; scrypt still makes
// guessing a weak token from a copied database costly.
const SALT = 'drm secret env v1';

export class SecretEnv {
  private constructor(
    private readonly key: Buffer,
    /** Whether the key survives a restart (derived from a token) or not (random). */
    readonly durable: boolean,
  ) {}

  /** The key for a coordinator with this token; a random one without. */
  static forToken(token: string | undefined): SecretEnv {
    if (!token) return new SecretEnv(randomBytes(32), false);
    return new SecretEnv(scryptSync(token, SALT, 32, { N: 1 << 14, r: 8, p: 1 }), true);
  }

  seal(name: string, value: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(name));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return `${FORMAT}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** The value, or null when it was sealed with another key (or is not a sealed value). */
  open(name: string, sealed: string): string | null {
    if (!sealed.startsWith(`${FORMAT}.`)) return null;
    const raw = Buffer.from(sealed.slice(FORMAT.length + 1), 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(name));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      return null;
    }
  }

  /** A task's env as stored: plain variables as they are, secret ones sealed under `secret:NAME`. */
  toStored(env: Record<string, string> | undefined, secretEnv: Record<string, string> | undefined): Record<string, string> {
    const out: Record<string, string> = { ...env };
    for (const [name, value] of Object.entries(secretEnv ?? {})) out[SECRET_PREFIX + name] = this.seal(name, value);
    return out;
  }

  /** What the worker gets: plain and opened secret variables apart (it masks the secret values in output). */
  forWorker(stored: Record<string, string>): { env: Record<string, string>; secretEnv?: Record<string, string> } {
    // Most tasks have no secret: their env goes out as it is (often the shared empty object).
    if (!Object.keys(stored).some((k) => k.startsWith(SECRET_PREFIX))) return { env: stored };
    const env: Record<string, string> = {};
    const secretEnv: Record<string, string> = {};
    for (const [key, value] of Object.entries(stored)) {
      if (!key.startsWith(SECRET_PREFIX)) env[key] = value;
      else {
        const name = key.slice(SECRET_PREFIX.length);
        const opened = this.open(name, value);
        // Unreachable for a live task: the coordinator fails those it cannot open when it starts.
        if (opened !== null) secretEnv[name] = opened;
      }
    }
    return { env, secretEnv };
  }

  /** Names of the secret variables this coordinator cannot open (sealed under another key). */
  unopenable(stored: Record<string, string>): string[] {
    return secretNames(stored).filter((name) => this.open(name, stored[SECRET_PREFIX + name]) === null);
  }
}

export function secretNames(stored: Record<string, string>): string[] {
  return Object.keys(stored)
    .filter((k) => k.startsWith(SECRET_PREFIX))
    .map((k) => k.slice(SECRET_PREFIX.length));
}

/** A task's env for display: every variable by name, secret values as `***`. */
export function maskedEnv(stored: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(stored)) {
    if (key.startsWith(SECRET_PREFIX)) out[key.slice(SECRET_PREFIX.length)] = MASK;
    else out[key] = value;
  }
  return out;
}

/** Why a task whose secrets cannot be opened was failed. */
export function unopenableReason(names: readonly string[]): string {
  return `its secret env (${names.join(', ')}) cannot be decrypted by this coordinator: it was submitted to a coordinator with another API token, or to one without a token that has since restarted; submit it again`;
}
