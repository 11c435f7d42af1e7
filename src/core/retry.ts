// When a failed attempt is tried again, and how long it waits first. Pure: randomness is injected.

export type FailureCause = 'infrastructure' | 'task';

export interface RetryPolicy {
  /** Retries granted to infrastructure failures even when a task's own maxRetries is lower. */
  infraRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { infraRetries: 3, baseDelayMs: 250, maxDelayMs: 30_000 };

/**
 * Infrastructure failures are the worker's fault, not the task's: the worker was lost or crashed, or
 * the process was killed by a signal nobody on our side sent (the kernel's OOM killer sends SIGKILL).
 */
export function failureCause(result: { status: string; exitCode: number | null; reason?: string | null }): FailureCause {
  if (result.status === 'failed' && result.exitCode === null && /signal SIGKILL/.test(result.reason ?? '')) return 'infrastructure';
  return 'task';
}

/**
 * Whether attempt number `attempts` (1-based, already made) may be followed by another.
 * Infrastructure failures always may, up to max(maxRetries, infraRetries), so a crashed worker loses
 * no task; a task's own failure (non-zero exit, timeout) only as far as its suite asked with maxRetries.
 */
export function shouldRetry(cause: FailureCause, attempts: number, task: { maxRetries: number }, policy: RetryPolicy = DEFAULT_RETRY_POLICY): boolean {
  if (cause === 'infrastructure') return attempts <= Math.max(task.maxRetries, policy.infraRetries);
  return attempts <= task.maxRetries;
}

/** Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries spread out but never bunch at zero. */
export function retryDelayMs(attempts: number, random: () => number, policy: RetryPolicy = DEFAULT_RETRY_POLICY): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
