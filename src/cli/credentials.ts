import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { Option, type Command } from 'commander';
import { isLoopbackAddress } from '../coordinator/limits.js';
import { UsageError } from './usage-error.js';

// Tokens, TLS files and the loopback rule of the CLI. Tokens come from a flag, an environment variable or a
// file; only the last two keep them out of process lists.

export const tokenFileOption = (flag = '--token-file', what = 'API token') =>
  new Option(`${flag} <path>`, `read the ${what} from a file (trimmed); keeps it out of process lists`);

export const caFileOption = () =>
  new Option('--ca-file <path>', 'PEM certificate(s) trusted for https:// and wss:// coordinators besides the system CAs (a private CA, a self-signed certificate)');

const TOKEN_OPTIONS = [
  { name: 'token', file: 'tokenFile', flag: '--token' },
  { name: 'workerToken', file: 'workerTokenFile', flag: '--worker-token' },
] as const;

/**
 * Runs before every command's action: `--token-file` and `--worker-token-file` become the token options'
 * values (over their environment variables), and a token typed on the command line earns a warning.
 */
export async function resolveTokenFiles(cmd: Command): Promise<void> {
  for (const o of TOKEN_OPTIONS) {
    const file = cmd.getOptionValue(o.file) as string | undefined;
    const fromFlag = cmd.getOptionValueSource(o.name) === 'cli';
    if (file !== undefined && fromFlag) throw new UsageError(`${o.flag} and ${o.flag}-file are mutually exclusive`);
    if (fromFlag) process.stderr.write(`drm: warning: ${o.flag} on the command line is visible in process lists; prefer ${o.flag}-file or the environment variable\n`);
    if (file !== undefined) cmd.setOptionValueWithSource(o.name, await readTokenFile(file, `${o.flag}-file`), 'config');
  }
}

/** A token file's content, trimmed; a missing, unreadable or empty file is a usage error naming the flag. */
export async function readTokenFile(path: string, flag: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`${flag} ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message}`);
  }
  const token = text.trim();
  if (token === '') throw new UsageError(`${flag} ${path}: the file is empty`);
  if (/[\r\n]/.test(token)) throw new UsageError(`${flag} ${path}: expected one line holding the token`);
  return token;
}

/** Whether listening on `host` serves this machine only: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || isLoopbackAddress(h);
}

/** A coordinator reachable from other machines needs a token, unless the operator says --insecure. */
export function requireTokenBeyondLoopback(opts: { host: string; token?: string; insecure?: boolean }): void {
  if (opts.insecure || opts.token || isLoopbackHost(opts.host)) return;
  throw new UsageError(
    `--host ${opts.host} is not a loopback address: refusing to serve the API and workers without a token; set --token-file (or DRM_TOKEN, --token), or pass --insecure`,
  );
}

/** The coordinator's certificate and key for HTTPS and WSS, or undefined when neither flag is given. */
export async function readTlsFiles(cert: string | undefined, key: string | undefined): Promise<{ cert: string; key: string } | undefined> {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new UsageError('--tls-cert and --tls-key go together');
  return { cert: await readPem(cert, '--tls-cert'), key: await readPem(key, '--tls-key') };
}

/** The certificates a client trusts: the system's plus the --ca-file ones (undefined: the system's only). */
export async function trustedCertificates(caFile: string | undefined): Promise<string[] | undefined> {
  if (caFile === undefined) return undefined;
  return [...rootCertificates, await readPem(caFile, '--ca-file')];
}

async function readPem(path: string, flag: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`${flag} ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  if (!/-----BEGIN [A-Z ]+-----/.test(text)) throw new UsageError(`${flag} ${path}: not a PEM file`);
  return text;
}
