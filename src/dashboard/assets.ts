import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The dashboard's files: our static folder plus uPlot from node_modules, served by the coordinator
// itself so the page works offline and without a build step.

export interface StaticAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

const STATIC_DIR = join('src', 'dashboard', 'static');

/**
 * The folder with index.html. This module runs from src/ (vitest) or dist/src/ (compiled), so walk
 * up to the package root that holds the static folder instead of assuming a fixed depth.
 */
export function staticDir(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, STATIC_DIR, 'index.html'))) return join(dir, STATIC_DIR);
    if (dirname(dir) === dir) throw new Error(`dashboard files not found above ${from} (expected ${STATIC_DIR}/index.html next to package.json)`);
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

async function load(path: string): Promise<StaticAsset> {
  const body = await readFile(path);
  const ext = path.slice(path.lastIndexOf('.'));
  return { body, contentType: TYPES[ext] ?? 'application/octet-stream', etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
}

/**
 * Every file the page may load, by URL path. A fixed list (not a folder lookup) so no request can
 * name a file outside it. Read once at start: the files are small and change only with a release.
 */
export async function loadDashboardAssets(): Promise<{ index: StaticAsset; assets: Map<string, StaticAsset> }> {
  const dir = staticDir();
  // Resolved like an import, so a hoisted node_modules (drm installed as a dependency) works too.
  const require = createRequire(import.meta.url);
  const files: Record<string, string> = {
    'app.js': join(dir, 'app.js'),
    'style.css': join(dir, 'style.css'),
    'uPlot.esm.js': require.resolve('uplot/dist/uPlot.esm.js'),
    'uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
  };
  const entries = await Promise.all(Object.entries(files).map(async ([name, path]) => [name, await load(path)] as const));
  return { index: await load(join(dir, 'index.html')), assets: new Map(entries) };
}
