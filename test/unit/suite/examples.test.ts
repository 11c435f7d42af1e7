import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSuite } from '../../../src/suite/parse.js';

// Runs the example scripts as real processes, the way a worker would.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function node(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  // Set when this run itself sits under `node --test`; a child `node --test` would then report there, not print TAP.
  delete childEnv.NODE_TEST_CONTEXT;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The script's output must be exactly one JSON line. */
function metrics(r: Result): Record<string, unknown> {
  expect(r.code, r.stderr).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as Record<string, unknown>;
}

describe('example tests', () => {
  for (const file of ['math', 'strings']) {
    it(`examples/tests/${file}.test.js passes under node --test`, async () => {
      const r = await node(['--test', `examples/tests/${file}.test.js`]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/# pass [1-9]/);
      expect(r.stdout).toContain('# fail 0');
    });
  }
});

describe('example benchmarks', () => {
  it('cpu-bench prints one JSON line of metrics for its batch size', async () => {
    const m = metrics(await node(['examples/bench/cpu-bench.js', '--batch', '2', '--seconds', '0.2']));
    expect(m).toMatchObject({ metric: 'primes_per_s', unit: 'primes/s', batch: 2, primesBelowLimit: 17984 });
    expect(m.value).toBeGreaterThan(0);
    expect(m.sieves as number).toBeGreaterThanOrEqual(2);
  });

  it('cpu-bench rejects a bad argument with exit code 2', async () => {
    const r = await node(['examples/bench/cpu-bench.js', '--batch', 'lots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--batch needs a positive number');
  });

  it('memory-hog allocates and touches the memory it is told', async () => {
    const m = metrics(await node(['examples/bench/memory-hog.js', '--mb', '64', '--hold-ms', '50']));
    expect(m).toMatchObject({ metric: 'allocated_mb', value: 64, unit: 'MiB', chunks: 1 });
    // Written pages are resident: the process really grew (a little slack for the allocator).
    expect(m.rssGrowthMb as number).toBeGreaterThanOrEqual(56);
  });

  it('embed prints embedding throughput for its batch', async () => {
    const m = metrics(await node(['examples/bench/embed.js', '--batch', '4', '--rounds', '5']));
    expect(m).toMatchObject({ metric: 'embeddings_per_s', batch: 4, rounds: 5, dim: 256 });
    expect(m.value).toBeGreaterThan(0);
  });

  it('gpu-check fails without CUDA_VISIBLE_DEVICES (unset or empty)', async () => {
    for (const value of [undefined, '']) {
      const r = await node(['examples/bench/gpu-check.js'], { CUDA_VISIBLE_DEVICES: value });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('CUDA_VISIBLE_DEVICES is not set');
      expect(r.stdout).toBe('');
    }
  });

  it('gpu-check succeeds and names the devices it was given', async () => {
    expect(metrics(await node(['examples/bench/gpu-check.js'], { CUDA_VISIBLE_DEVICES: '0' }))).toMatchObject({ value: 1, devices: ['0'] });
    expect(metrics(await node(['examples/bench/gpu-check.js'], { CUDA_VISIBLE_DEVICES: '0,1' }))).toMatchObject({ value: 2, devices: ['0', '1'] });
  });
});

describe('examples/suite.yaml', () => {
  it('runs only scripts that exist in the checkout', async () => {
    const suite = await loadSuite(`${ROOT}examples/suite.yaml`);
    const scripts = suite.tasks.flatMap((t) => t.command.filter((arg) => arg.endsWith('.js')));
    expect(scripts.length).toBe(suite.tasks.length);
    for (const script of scripts) expect(existsSync(`${ROOT}${script}`), script).toBe(true);
  });
});
