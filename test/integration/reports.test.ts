import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drm } from '../helpers/cli.js';

// A tiny real run (`drm run`: embedded coordinator, a worker process, real tasks), then reports and
// badges built from its database by the other commands, as a CI job would.

let dir: string;
let db: string;
let runDir: string;
let run: { code: number | null; stdout: string; stderr: string };
let stepSummary: string;

const SUITE = `name: reports-tiny
tasks:
  - name: quick
    command: [node, -e, "setTimeout(() => console.log('quick done'), 300)"]
    resources: { cpu: 1, memoryMb: 128 }
  - name: busy
    command: [node, -e, "const t = Date.now(); while (Date.now() - t < 1200); console.log('busy done')"]
    resources: { cpu: 2, memoryMb: 256 }
  - name: broken
    command: [node, -e, "console.error('broken on purpose'); process.exit(3)"]
    resources: { cpu: 1, memoryMb: 128 }
    dependsOn: [quick]
`;

const json = async (path: string) => JSON.parse(await readFile(path, 'utf8'));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drm-reports-'));
  db = join(dir, 'drm.duckdb');
  runDir = join(dir, 'run');
  stepSummary = join(dir, 'step-summary.md');
  await writeFile(stepSummary, '');
  await writeFile(join(dir, 'suite.yaml'), SUITE);
  run = await drm(['run', join(dir, 'suite.yaml'), '--workers', 'cpu=1', '--max-workers', '1', '--db', db, '--output-dir', runDir], { env: { GITHUB_STEP_SUMMARY: stepSummary } });
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('drm run reports', () => {
  it('writes report.json, junit.xml, report.md and report.html, and appends report.md to the step summary', async () => {
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect((await readdir(runDir)).sort()).toEqual(['junit.xml', 'logs', 'report.html', 'report.json', 'report.md']);
    const md = await readFile(join(runDir, 'report.md'), 'utf8');
    expect(md).toMatch(/## drm run reports-tiny: failed/);
    expect(await readFile(stepSummary, 'utf8')).toBe(md);
  });

  it('puts the run over time in report.json: tasks queued, in flight and finished, and the worker that ran them', async () => {
    const report = await json(join(runDir, 'report.json'));
    expect(report.summary).toMatchObject({ total: 3, succeeded: 2, failed: 1 });
    const tl = report.timeline;
    const n = tl.atMs.length;
    expect(n).toBeGreaterThanOrEqual(4);
    for (const series of [tl.queueDepth, tl.inFlight, tl.finished, tl.workers.total, tl.capacity.cpu, tl.utilization.reserved.cpu, tl.utilization.reserved.memory]) expect(series).toHaveLength(n);
    expect(tl.atMs[0]).toBe(tl.startMs);
    expect(tl.atMs[n - 1]).toBe(tl.endMs);
    expect(tl.endMs).toBe(Date.parse(report.run.finishedAt));
    expect(Math.max(...tl.queueDepth)).toBeGreaterThanOrEqual(1); // "broken" waits for "quick"
    expect(Math.max(...tl.inFlight)).toBe(2); // quick and busy side by side on the one worker
    expect(tl.finished[n - 1]).toBe(3);
    expect(tl.queueDepth[n - 1]).toBe(0);
    expect(tl.inFlight[n - 1]).toBe(0);
    expect(tl.workers.byType).toHaveProperty('cpu');
    expect(Math.max(...tl.workers.total)).toBe(1);
    expect(Math.max(...tl.capacity.cpu)).toBe(4);
    // quick (1 cpu) + busy (2 cpu) on 4 declared cores.
    expect(Math.max(...tl.utilization.reserved.cpu)).toBe(0.75);
  });

  it('writes a report.html that carries the same report', async () => {
    const html = await readFile(join(runDir, 'report.html'), 'utf8');
    expect(html).toContain('<title>drm run reports-tiny: failed</title>');
    expect(html).toContain('var uPlot=');
    const data = JSON.parse(html.match(/<script type="application\/json" id="drm-report-data">([\s\S]*?)<\/script>/)![1]);
    expect(data.report).toEqual(await json(join(runDir, 'report.json')));
  });
});

describe('drm report --format html', () => {
  it('builds report.html alone from the database', async () => {
    const out = join(dir, 'html-only');
    const res = await drm(['report', '--db', db, '--format', 'html', '--output-dir', out]);
    expect(res.code, res.stderr).toBe(0);
    expect(await readdir(out)).toEqual(['report.html']);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    const runId = (await json(join(runDir, 'report.json'))).run.id;
    expect(html).toContain(runId);
    expect(html).toMatch(/<tr data-task-id="[^"]+" data-state="failed"><th scope="row" class="mono">broken<\/th>/);
  });

  it('builds every format by default and refuses an unknown one with exit 2', async () => {
    const out = join(dir, 'all');
    const res = await drm(['report', '--db', db, '--output-dir', out]);
    expect(res.code, res.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['junit.xml', 'report.html', 'report.json', 'report.md']);
    const bad = await drm(['report', '--db', db, '--format', 'html,pdf', '--output-dir', join(dir, 'bad')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown format "pdf" \(available: json, junit, md, html\)/);
  });
});

describe('drm badge', () => {
  it('writes badge.svg and badge.json of the latest run', async () => {
    const out = join(dir, 'badge');
    const res = await drm(['badge', '--db', db, '--output-dir', out]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('drm | 2/3 passed (red)');
    expect(await json(join(out, 'badge.json'))).toEqual({ schemaVersion: 1, label: 'drm', message: '2/3 passed', color: 'red' });
    const svg = await readFile(join(out, 'badge.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="20"/);
    expect(svg).toContain('<title>drm: 2/3 passed</title>');
  });

  it('takes a run id, a label, or a report.json (as drm e2e writes it)', async () => {
    const runId = (await json(join(runDir, 'report.json'))).run.id;
    const byId = await drm(['badge', '--db', db, '--run', runId, '--label', 'self <test>', '--output-dir', join(dir, 'b1')]);
    expect(byId.code, byId.stderr).toBe(0);
    expect((await json(join(dir, 'b1', 'badge.json'))).label).toBe('self <test>');
    expect(await readFile(join(dir, 'b1', 'badge.svg'), 'utf8')).toContain('<title>self &lt;test&gt;: 2/3 passed</title>');

    const fromReport = await drm(['badge', '--report', join(runDir, 'report.json'), '--output-dir', join(dir, 'b2')]);
    expect(fromReport.code, fromReport.stderr).toBe(0);
    expect(await json(join(dir, 'b2', 'badge.json'))).toEqual({ schemaVersion: 1, label: 'drm', message: '2/3 passed', color: 'red' });
  });

  // DB stands for the run's database (known only once the run is done).
  it.each([
    ['an empty label', ['--db', 'DB', '--label', '  '], /--label/],
    ['--report with --run', ['--report', 'x.json', '--run', 'r1'], /option '--report <file>' cannot be used with option '--run <id>'/],
    ['--report with --db', ['--report', 'x.json', '--db', 'DB'], /cannot be used with option '--db <path>'/],
    ['a report.json that is not there', ['--report', 'missing-report.json'], /--report missing-report\.json/],
    ['a file that is not a report.json', ['--report', 'package.json'], /not a drm report\.json/],
    ['an unknown run', ['--db', 'DB', '--run', 'run_nope'], /run run_nope not found/],
    ['an unknown option', ['--db', 'DB', '--colour', 'red'], /unknown option/],
  ])('exits 2 on %s, writing nothing', async (name, args, message) => {
    const out = join(dir, `bad-${name.replace(/\W+/g, '-')}`);
    const res = await drm(['badge', '--output-dir', out, ...args.map((a) => (a === 'DB' ? db : a))]);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('exits 2 for a database without runs', async () => {
    const res = await drm(['badge', '--db', join(dir, 'empty.duckdb'), '--output-dir', join(dir, 'b3')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/no runs in/);
  });
});
