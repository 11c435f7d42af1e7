import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { toMarkdown } from '../../../src/reports/markdown.js';
import { REPORT_FORMATS, writeReports } from '../../../src/reports/write.js';
import { sampleReportData } from './sample-report.js';

describe('writeReports', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drm-write-'));
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes every format by default, report.html included', async () => {
    vi.stubEnv('GITHUB_STEP_SUMMARY', '');
    expect(REPORT_FORMATS).toEqual(['json', 'junit', 'md', 'html']);
    const files = await writeReports(sampleReportData(), join(dir, 'out'));
    expect(files.map((f) => f.slice(dir.length + 5))).toEqual(['report.json', 'junit.xml', 'report.md', 'report.html']);
    expect((await readdir(join(dir, 'out'))).sort()).toEqual(['junit.xml', 'report.html', 'report.json', 'report.md']);
    const json = JSON.parse(await readFile(join(dir, 'out', 'report.json'), 'utf8'));
    expect(json.timeline.atMs.length).toBeGreaterThan(2);
    expect(await readFile(join(dir, 'out', 'report.html'), 'utf8')).toMatch(/^<!doctype html>/);
  });

  it('appends report.md to $GITHUB_STEP_SUMMARY when it is set, keeping what was there', async () => {
    const summary = join(dir, 'step-summary.md');
    await writeFile(summary, '# earlier step\n');
    vi.stubEnv('GITHUB_STEP_SUMMARY', summary);
    const data = sampleReportData();
    await writeReports(data, join(dir, 'a'), ['json', 'md']);
    await writeReports(data, join(dir, 'b'), ['md', 'html']);
    const md = toMarkdown(data.report);
    expect(await readFile(summary, 'utf8')).toBe('# earlier step\n' + md + md);
    expect(await readFile(join(dir, 'a', 'report.md'), 'utf8')).toBe(md);
  });

  it('leaves $GITHUB_STEP_SUMMARY alone without the md format, and needs no summary file when unset', async () => {
    const summary = join(dir, 'step-summary.md');
    await writeFile(summary, '');
    vi.stubEnv('GITHUB_STEP_SUMMARY', summary);
    await writeReports(sampleReportData(), join(dir, 'c'), ['json', 'html']);
    expect(await readFile(summary, 'utf8')).toBe('');
    vi.stubEnv('GITHUB_STEP_SUMMARY', '');
    await writeReports(sampleReportData(), join(dir, 'd'), ['md']);
    expect(await readFile(summary, 'utf8')).toBe('');
  });
});
