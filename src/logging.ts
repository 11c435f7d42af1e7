import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Structured JSON logs to stderr (fd 2) or to a file; the task, attempt and worker ids are fields. */
export function createLogger(opts: { level?: string; file?: string; name?: string } = {}): Logger {
  const destination = opts.file ? pino.destination({ dest: opts.file, mkdir: true, sync: false }) : pino.destination({ dest: 2, sync: true });
  return pino({ level: opts.level ?? 'info', name: opts.name, base: { pid: process.pid } }, destination);
}
