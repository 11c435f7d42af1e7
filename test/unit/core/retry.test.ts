import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, failureCause, retryDelayMs, shouldRetry } from '../../../src/core/retry.js';

describe('retry policy', () => {
  it('classifies a SIGKILL nobody asked for (OOM killer) as an infrastructure failure, an exit code as the task', () => {
    expect(failureCause({ status: 'failed', exitCode: null, reason: 'killed by signal SIGKILL' })).toBe('infrastructure');
    expect(failureCause({ status: 'failed', exitCode: 3, reason: 'exited with code 3' })).toBe('task');
    expect(failureCause({ status: 'timed_out', exitCode: null, reason: 'timed out after 1s (process group killed)' })).toBe('task');
  });

  it('retries infrastructure failures even with maxRetries 0, a task failure only as far as maxRetries allows', () => {
    expect(shouldRetry('infrastructure', 1, { maxRetries: 0 })).toBe(true);
    expect(shouldRetry('infrastructure', DEFAULT_RETRY_POLICY.infraRetries + 1, { maxRetries: 0 })).toBe(false);
    expect(shouldRetry('task', 1, { maxRetries: 0 })).toBe(false);
    expect(shouldRetry('task', 2, { maxRetries: 2 })).toBe(true);
    expect(shouldRetry('task', 3, { maxRetries: 2 })).toBe(false);
  });

  it('backs off exponentially with jitter inside [d/2, d], capped', () => {
    const policy = { infraRetries: 3, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(retryDelayMs(1, () => 0, policy)).toBe(50);
    expect(retryDelayMs(1, () => 1, policy)).toBe(100);
    expect(retryDelayMs(3, () => 0, policy)).toBe(200);
    expect(retryDelayMs(3, () => 1, policy)).toBe(400);
    expect(retryDelayMs(20, () => 1, policy)).toBe(1000);
    const spread = new Set(Array.from({ length: 20 }, (_, i) => retryDelayMs(4, () => i / 20, policy)));
    expect(spread.size).toBeGreaterThan(10);
  });
});
