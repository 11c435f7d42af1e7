import { describe, expect, it } from 'vitest';
import type { AssignedTask } from '../../../src/schema/protocol.js';
import { taskEnv } from '../../../src/worker/executor.js';
import { maskResult, maskSecrets } from '../../../src/worker/mask.js';

describe('secret values in a task\'s output and environment', () => {
  it('masks every occurrence, longest value first; too-short values are left alone', () => {
    expect(maskSecrets('token=abcd1234 again abcd1234.', ['abcd1234'])).toBe('token=*** again ***.');
    expect(maskSecrets('abcd1234xyz', ['abcd1234', 'abcd1234xyz'])).toBe('***');
    expect(maskSecrets('on 1 on', ['on', '1'])).toBe('on 1 on');
    const r = maskResult({ status: 'failed', exitCode: 1, durationMs: 1, usage: { peakMemoryMb: 0, cpuSeconds: 0 }, stdoutTail: 'k=s3cr3t', stderrTail: 's3cr3t!', reason: 'bad s3cr3t' }, ['s3cr3t']);
    expect(r).toMatchObject({ stdoutTail: 'k=***', stderrTail: '***!', reason: 'bad ***' });
  });

  it('gives the task its env and secrets, but never the worker\'s own tokens', () => {
    const task: AssignedTask = { taskId: 't', name: 'n', kind: 'command', command: ['x'], env: { A: 'a' }, secretEnv: { S: 's' }, timeoutSec: 1, resources: {} };
    const env = taskEnv({ PATH: '/bin', DRM_TOKEN: 'admin', DRM_WORKER_TOKEN: 'worker' }, task, [0], 'att');
    expect(env).toMatchObject({ PATH: '/bin', A: 'a', S: 's', DRM_TASK_ID: 't', DRM_ATTEMPT_ID: 'att', CUDA_VISIBLE_DEVICES: '0' });
    expect(env.DRM_TOKEN).toBeUndefined();
    expect(env.DRM_WORKER_TOKEN).toBeUndefined();
  });
});
