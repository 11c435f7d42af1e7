import { readdir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSuite } from '../../../src/suite/parse.js';

// drm-self-test.yaml runs each of the project's test files as a drm task (the GitHub template runs it
// with `./bin/drm run drm-self-test.yaml`). A test file added without its task fails here.

const REPO = join(import.meta.dirname, '..', '..', '..');
const SUITE = join(REPO, 'drm-self-test.yaml');
/** Folders whose test files the suite runs; test/browser needs chromium and stays with `npm test`. */
const FOLDERS = ['test/unit', 'test/store', 'test/integration'];

async function testFiles(folder: string): Promise<string[]> {
  const entries = await readdir(join(REPO, folder), { recursive: true });
  return entries.filter((f) => f.endsWith('.test.ts')).map((f) => `${folder}/${f.split(sep).join('/')}`);
}

describe('drm-self-test.yaml', () => {
  it('has one task per test file under test/unit, test/store and test/integration, and no other', async () => {
    const expected = (await Promise.all(FOLDERS.map(testFiles))).flat().sort();
    const suite = await loadSuite(SUITE);
    const listed = suite.tasks.map((t) => t.command[3]).sort();
    const missing = expected.filter((f) => !listed.includes(f));
    const extra = listed.filter((f) => !expected.includes(f));
    const entry = (f: string) =>
      `  - name: ${f.replace(/^test\//, '').replace(/\.test\.ts$/, '')}\n    command: [npx, vitest, run, ${f}]` +
      (f.startsWith('test/integration/') ? '\n    resources: { cpu: 2, memoryMb: 2048 }\n    timeoutSec: 600' : '');
    const entries = missing.map(entry).join('\n');
    expect(missing, `test files without a task in drm-self-test.yaml; add:\n${entries}\n`).toEqual([]);
    expect(extra, 'tasks in drm-self-test.yaml whose test file does not exist').toEqual([]);
    expect(listed).toHaveLength(new Set(listed).size);
  });

  it('runs each file with vitest, named after it, with resources and a time limit', async () => {
    const suite = await loadSuite(SUITE);
    expect(suite.name).toBe('drm-self-test');
    for (const t of suite.tasks) {
      expect(t.command).toEqual(['npx', 'vitest', 'run', t.command[3]]);
      expect(t.name).toBe(t.command[3].replace(/^test\//, '').replace(/\.test\.ts$/, ''));
      expect(t.kind).toBe('test');
      expect(t.timeoutSec).toBeGreaterThan(0);
      expect(t.timeoutSec).toBeLessThanOrEqual(900);
      expect(t.resources?.memoryMb).toBeGreaterThanOrEqual(1024);
      // Integration tests start coordinators and worker processes: they get two cores.
      expect(t.resources?.cpu).toBe(t.command[3].startsWith('test/integration/') ? 2 : 1);
    }
  });

  it('leaves the browser tests out', async () => {
    const suite = await loadSuite(SUITE);
    expect(suite.tasks.filter((t) => t.command[3].startsWith('test/browser/'))).toEqual([]);
  });
});
