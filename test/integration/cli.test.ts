import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fits, resources } from '../../src/core/resources.js';
import { BUILTIN_WORKER_TYPES, findWorkerType } from '../../src/core/worker-types.js';
import { drm, drmDaemon } from '../helpers/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drm-cli-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('drm run', () => {
  it('runs the example suite to success; every task ran on a worker type that fits it', async () => {
    const out = join(dir, 'example');
    const res = await drm(['run', 'examples/suite.yaml', '--workers', 'cpu=1,high-memory=1,gpu=1', '--output-dir', out, '--db', join(out, 'drm.duckdb')]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/run succeeded: 7\/7 succeeded/);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.run.state).toBe('succeeded');
    expect(report.summary).toMatchObject({ total: 7, succeeded: 7, failed: 0 });
    for (const t of report.tasks) {
      expect(t.state).toBe('succeeded');
      const type = findWorkerType(BUILTIN_WORKER_TYPES, t.workerType)!;
      expect(fits(resources(t.resources), type.resources), `${t.name} on ${t.workerType}`).toBe(true);
      if (t.resources.gpus === 0) expect(t.workerType, `${t.name} is CPU-only`).not.toBe('gpu');
    }
    const byName = Object.fromEntries(report.tasks.map((t: any) => [t.name, t]));
    expect(byName['gpu-check'].workerType).toBe('gpu');
    expect(byName['memory-hog'].workerType).toBe('high-memory');
    expect(new Date(byName['gpu-check'].startedAt).getTime()).toBeGreaterThanOrEqual(new Date(byName['unit-math'].finishedAt).getTime());
    const junit = await readFile(join(out, 'junit.xml'), 'utf8');
    expect(junit.match(/<testcase /g)).toHaveLength(7);
    expect(junit).toContain('classname="example" name="gpu-check"');
    expect(junit).not.toContain('<failure');
  });

  it('fails a task that no worker in the fleet can ever fit at once, with a reason, and exits 1', async () => {
    const suite = join(dir, 'infeasible.yaml');
    await writeFile(suite, 'name: infeasible\ntasks:\n  - name: needs-gpus\n    command: [node, -e, ""]\n    resources: { gpus: 4 }\n  - name: fine\n    command: [node, -e, ""]\n    resources: { cpu: 1 }\n');
    const out = join(dir, 'infeasible');
    const res = await drm(['run', suite, '--workers', 'cpu=1', '--output-dir', out, '--db', join(out, 'drm.duckdb')]);
    expect(res.code).toBe(1);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    const byName = Object.fromEntries(report.tasks.map((t: any) => [t.name, t]));
    expect(byName['needs-gpus'].state).toBe('failed');
    expect(byName['needs-gpus'].reason).toMatch(/no worker type can ever fit it/);
    expect(byName.fine.state).toBe('succeeded');
  });

  it.each([
    ['cycle.yaml', /cycle\.yaml.*task "build".*dependency cycle/],
    ['unknown-field.yaml', /unknown-field\.yaml:9: task "unit-strings": field "comand": unknown field/],
    ['wrong-type.yaml', /wrong-type\.yaml.*task "unit-math".*field "resources\.cpu"/],
    ['unknown-dependency.yaml', /unknown-dependency\.yaml.*dependsOn/],
    ['syntax.yaml', /syntax\.yaml/],
  ])('a malformed suite (%s) exits 2 with one line naming the problem and stores nothing', async (file, pattern) => {
    const db = join(dir, `bad-${file}.duckdb`);
    const res = await drm(['run', `examples/bad/${file}`, '--db', db, '--output-dir', join(dir, `bad-${file}`)]);
    expect(res.code).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(pattern);
    expect(existsSync(db)).toBe(false);
  });

  it.each([
    [['run', 'examples/suite.yaml', '--workers', 'cpu=lots']],
    [['run', 'examples/suite.yaml', '--workers', 'quantum=1']],
    [['run']],
    [['worker', '--resources', 'cpu=four']],
    [['coordinator', '--port', 'http']],
    [['no-such-command']],
  ])('bad arguments %j exit 2 with an error', async (args) => {
    const res = await drm([...args, '--db', join(dir, 'never.duckdb')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/error|drm:/i);
  });

  it('prints help for every command', async () => {
    for (const cmd of ['run', 'coordinator', 'worker', 'submit', 'status', 'cancel', 'drain', 'report']) {
      const res = await drm([cmd, '--help']);
      expect(res.code, cmd).toBe(0);
      expect(res.stdout).toContain(`drm ${cmd}`);
    }
  });
});

describe('drm coordinator, worker, submit, status, report', () => {
  it('submits a suite to a running coordinator and follows it to the end', async () => {
    const db = join(dir, 'daemon.duckdb');
    const coordinator = await drmDaemon(['coordinator', '--port', '0', '--db', db, '--log-level', 'warn'], /listening on (http:\/\/\S+)/, { DRM_TOKEN: 'sekret' });
    const url = coordinator.match[1];
    const worker = await drmDaemon(['worker', '--coordinator', url, '--type', 'cpu', '--resources', 'cpu=2,memoryMb=2048', '--id', 'cli-worker', '--log-level', 'warn'], /connecting/, { DRM_WORKER_TOKEN: 'sekret' });
    try {
      const suite = join(dir, 'small.yaml');
      await writeFile(suite, 'name: small\ntasks:\n  - name: a\n    command: [node, -e, "console.log(1)"]\n    resources: { cpu: 1, memoryMb: 128 }\n  - name: b\n    command: [node, -e, "console.log(2)"]\n    resources: { cpu: 1, memoryMb: 128 }\n    dependsOn: [a]\n');
      const noToken = await drm(['status', '--coordinator', url]);
      expect(noToken.code).toBe(2);
      expect(noToken.stderr).toMatch(/401/);
      const env = { DRM_TOKEN: 'sekret' };
      const submitted = await drm(['submit', suite, '--coordinator', url, '--wait'], { env });
      expect(submitted.code, submitted.stdout + submitted.stderr).toBe(0);
      expect(submitted.stdout).toMatch(/succeeded/);
      const status = await drm(['status', '--coordinator', url, '--json'], { env });
      expect(status.code).toBe(0);
      const parsed = JSON.parse(status.stdout);
      expect(parsed.workers.map((w: any) => w.id)).toContain('cli-worker');
      expect(parsed.cluster.workers.total).toBe(1);
      const missing = await drm(['cancel', 'task_nope', '--coordinator', url], { env });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/404.*not found/);
    } finally {
      worker.child.kill('SIGTERM');
      coordinator.child.kill('SIGTERM');
      await Promise.all([new Promise((r) => worker.child.once('exit', r)), new Promise((r) => coordinator.child.once('exit', r))]);
    }
    const out = join(dir, 'report');
    const report = await drm(['report', '--db', db, '--output-dir', out, '--format', 'json,junit,md']);
    expect(report.code, report.stderr).toBe(0);
    const json = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(json.run.name).toBe('small');
    expect(json.summary).toMatchObject({ total: 2, succeeded: 2 });
    expect(await readFile(join(out, 'report.md'), 'utf8')).toMatch(/drm run small: succeeded/);
  });
});
