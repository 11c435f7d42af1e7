import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Fields that may hold a credential or a secret value, censored wherever a log line carries them (top
 * level and one or two levels down: `{req: {headers: {authorization}}}`, `{task: {secretEnv}}`).
 */
export const REDACTED_PATHS = [
  'token',
  'workerToken',
  'authorization',
  'secretEnv',
  'password',
  '*.token',
  '*.workerToken',
  '*.authorization',
  '*.secretEnv',
  '*.password',
  'headers.authorization',
  '*.headers.authorization',
  '*.*.secretEnv',
  'env.DRM_TOKEN',
  'env.DRM_WORKER_TOKEN',
];

/** Structured JSON logs to stderr (fd 2) or to a file; the task, attempt and worker ids are fields; credentials redacted. */
export function createLogger(opts: { level?: string; file?: string; name?: string } = {}): Logger {
  const destination = opts.file ? pino.destination({ dest: opts.file, mkdir: true, sync: false }) : pino.destination({ dest: 2, sync: true });
  return pino({ level: opts.level ?? 'info', name: opts.name, base: { pid: process.pid }, redact: { paths: REDACTED_PATHS, censor: '***' } }, destination);
}
