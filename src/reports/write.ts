import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadHtmlAssets, toHtml } from './html.js';
import { toJunit } from './junit.js';
import { toMarkdown } from './markdown.js';
import type { ReportData } from './report.js';

export const REPORT_FORMATS = ['json', 'junit', 'md', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const FILES: Record<ReportFormat, string> = { json: 'report.json', junit: 'junit.xml', md: 'report.md', html: 'report.html' };

async function render(data: ReportData, format: ReportFormat): Promise<string> {
  switch (format) {
    case 'json':
      return JSON.stringify(data.report, null, 2) + '\n';
    case 'junit':
      return toJunit(data);
    case 'md':
      return toMarkdown(data.report);
    case 'html':
      return toHtml(data, await loadHtmlAssets());
  }
}

/** Writes the chosen formats into `dir`; report.md also goes to $GITHUB_STEP_SUMMARY when set. */
export async function writeReports(data: ReportData, dir: string, formats: readonly ReportFormat[] = REPORT_FORMATS): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const format of formats) {
    const path = join(dir, FILES[format]);
    const text = await render(data, format);
    await writeFile(path, text);
    written.push(path);
    if (format === 'md' && process.env.GITHUB_STEP_SUMMARY) await appendFile(process.env.GITHUB_STEP_SUMMARY, text);
  }
  return written;
}
