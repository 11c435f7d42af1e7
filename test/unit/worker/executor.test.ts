import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AssignedTask } from '../../../src/schema/protocol.js';
import { runTask, type ExecutorOptions, type TaskAssignment } from '../../../src/worker/executor.js';
import { isGone, waitFor } from './helpers.js';

// Real child processes (node -e scripts). Deadlines are generous: the machine may be a loaded 2-core box.

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'drm-executor-')));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fast: ExecutorOptions = { killGraceMs: 500, sampleIntervalMs: 100 };
let seq = 0;

function assignment(command: string[], task: Partial<AssignedTask> = {}, gpuIndices: number[] = []): TaskAssignment {
  seq++;
  return {
    attemptId: `a${seq}`,
    gpuIndices,
    task: { taskId: `t${seq}`, name: `task-${seq}`, kind: 'command', command, env: {}, timeoutSec: 60, resources: {}, ...task },
  };
}

const node = (script: string) => [process.execPath, '-e', script];

/** A script that starts a long-lived grandchild (sharing stdio), records its pid, and then waits forever. */
function spawnsGrandchild(pidFile: string, extra = ''): string[] {
  return node(`
    const { spawn } = require('node:child_process');
    const fs = require('node:fs');
    ${extra}
    const g = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { stdio: 'inherit' });
    fs.writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));
    console.log('GRANDCHILD ' + g.pid);
    setInterval(() => {}, 1000);
  `);
}

describe('runTask', () => {
  it('succeeds on exit 0 and keeps stdout and stderr tails', async () => {
    const { handle, result } = runTask(assignment(node('console.log("hello out"); console.error("hello err")')), fast);
    expect(handle.pid).toBeGreaterThan(0);
    const r = await result;
    expect(r).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(r.reason).toBeUndefined();
    expect(r.stdoutTail).toBe('hello out\n');
    expect(r.stderrTail).toBe('hello err\n');
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it('keeps only the last bytes of a long output', async () => {
    const { result } = runTask(assignment(node('for (let i = 0; i < 5000; i++) console.log("line " + i)')), { ...fast, tailBytes: 1024 });
    const r = await result;
    expect(r.stdoutTail.length).toBeLessThanOrEqual(1024);
    expect(r.stdoutTail.endsWith('line 4999\n')).toBe(true);
  });

  it('fails with the exit code', async () => {
    const r = await runTask(assignment(node('process.exit(3)')), fast).result;
    expect(r).toMatchObject({ status: 'failed', exitCode: 3, reason: 'exited with code 3' });
  });

  it('reports a process ended by a signal', async () => {
    const r = await runTask(assignment(node('process.kill(process.pid, "SIGKILL")')), fast).result;
    expect(r).toMatchObject({ status: 'failed', exitCode: null, reason: 'killed by signal SIGKILL' });
  });

  it('passes the task env and a cwd resolved against the base cwd', async () => {
    mkdirSync(join(dir, 'sub'), { recursive: true });
    const r = await runTask(
      assignment(node('console.log(process.env.DRM_TEST_VALUE + "|" + process.cwd())'), { env: { DRM_TEST_VALUE: 'v42' }, cwd: 'sub' }),
      { ...fast, baseCwd: dir },
    ).result;
    expect(r.status).toBe('succeeded');
    expect(r.stdoutTail.trim()).toBe(`v42|${join(dir, 'sub')}`);
  });

  it('fails cleanly for a cwd that does not exist', async () => {
    const r = await runTask(assignment(node('0'), { cwd: join(dir, 'missing') }), fast).result;
    expect(r.status).toBe('failed');
    expect(r.reason).toContain('cwd does not exist');
  });

  it('names exactly the given GPUs in CUDA_VISIBLE_DEVICES', async () => {
    const print = node('console.log(JSON.stringify(process.env.CUDA_VISIBLE_DEVICES ?? null))');
    const baseEnv = { ...process.env, CUDA_VISIBLE_DEVICES: '0,1,2,3' };
    const withGpus = await runTask(assignment(print, {}, [0, 1]), { ...fast, baseEnv }).result;
    expect(JSON.parse(withGpus.stdoutTail)).toBe('0,1');
    // No GPU given: an inherited value must not leak through, and an empty list hides every GPU from CUDA
    // (unset would expose all of them).
    const withoutGpus = await runTask(assignment(print, { env: { CUDA_VISIBLE_DEVICES: '3' } }, []), { ...fast, baseEnv }).result;
    expect(JSON.parse(withoutGpus.stdoutTail)).toBe('');
  });

  it('returns a failed result for a command that cannot be spawned', async () => {
    const { handle, result } = runTask(assignment(['drm-no-such-command-x']), fast);
    expect(handle.pid).toBeUndefined();
    handle.cancel('no-op');
    const r = await result;
    expect(r).toMatchObject({ status: 'failed', exitCode: null, reason: 'spawn failed: ENOENT drm-no-such-command-x' });
  });

  it('on timeout kills the whole process group, grandchildren included', async () => {
    const pidFile = join(dir, 'timeout.pid');
    const { handle, result } = runTask(assignment(spawnsGrandchild(pidFile), { timeoutSec: 3 }), fast);
    const r = await result;
    expect(r.status).toBe('timed_out');
    expect(r.reason).toBe('timed out after 3s (process group killed)');
    const grandchild = Number(/GRANDCHILD (\d+)/.exec(r.stdoutTail)?.[1] ?? readFileSync(pidFile, 'utf8'));
    expect(grandchild).toBeGreaterThan(0);
    await waitFor('the grandchild to die', () => isGone(grandchild));
    await waitFor('the child to die', () => isGone(handle.pid!));
  });

  it('cancel kills the group, also a leader that ignores SIGTERM', async () => {
    const pidFile = join(dir, 'cancel.pid');
    const { handle, result } = runTask(assignment(spawnsGrandchild(pidFile, 'process.on("SIGTERM", () => {});')), fast);
    const grandchild = await waitFor('the grandchild pid', () => {
      try {
        return Number(readFileSync(pidFile, 'utf8')) || undefined;
      } catch {
        return undefined;
      }
    });
    handle.cancel('operator asked');
    const r = await result;
    expect(r).toMatchObject({ status: 'canceled', exitCode: null, reason: 'canceled: operator asked' });
    await waitFor('the grandchild to die', () => isGone(grandchild));
  });

  it('does not leave processes behind when the leader exits on its own', async () => {
    const script = `
      const { spawn } = require('node:child_process');
      const g = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      console.log('GRANDCHILD ' + g.pid);
      setTimeout(() => process.exit(0), 300);
    `;
    const r = await runTask(assignment(node(script)), fast).result;
    expect(r.status).toBe('succeeded');
    const grandchild = Number(/GRANDCHILD (\d+)/.exec(r.stdoutTail)?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    // It ignores SIGTERM, so this is the SIGKILL that follows the grace.
    await waitFor('the leftover grandchild to die', () => isGone(grandchild));
  });

  it('reports the peak memory of the tree', async () => {
    const script = 'const b = Buffer.alloc(200 * 1024 * 1024, 1); setTimeout(() => console.log(b.length), 1500)';
    const r = await runTask(assignment(node(script)), fast).result;
    expect(r.status).toBe('succeeded');
    expect(r.usage.peakMemoryMb).toBeGreaterThanOrEqual(150);
  });

  it('reports cpu seconds of a busy process', async () => {
    // Busy until 1.2 s of cpu are spent, however loaded the machine is.
    const script = 'const t = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }; while (t() < 1.2) {}';
    const r = await runTask(assignment(node(script)), fast).result;
    expect(r.status).toBe('succeeded');
    expect(r.usage.cpuSeconds).toBeGreaterThan(0.5);
  });

  it('counts the cpu of a child that was reaped before its parent exited', async () => {
    const busy = 'const t = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }; while (t() < 1.2) {}';
    const script = `
      require('node:child_process').spawnSync(process.execPath, ['-e', ${JSON.stringify(busy)}], { stdio: 'inherit' });
      setTimeout(() => {}, 600);
    `;
    const r = await runTask(assignment(node(script)), fast).result;
    expect(r.status).toBe('succeeded');
    expect(r.usage.cpuSeconds).toBeGreaterThan(0.5);
  });
});
