import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toJunit } from './junit.js';
import { toMarkdown } from './markdown.js';
import type { ReportData } from './report.js';

export const REPORT_FORMATS = ['json', 'junit', 'md'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const FILES: Record<ReportFormat, string> = { json: 'report.json', junit: 'junit.xml', md: 'report.md' };

/** Writes the chosen formats into `dir`; report.md also goes to $GITHUB_STEP_SUMMARY when set. */
export async function writeReports(data: ReportData, dir: string, formats: readonly ReportFormat[] = REPORT_FORMATS): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const format of formats) {
    const path = join(dir, FILES[format]);
    const text = format === 'json' ? JSON.stringify(data.report, null, 2) + '\n' : format === 'junit' ? toJunit(data) : toMarkdown(data.report);
    await writeFile(path, text);
    written.push(path);
    if (format === 'md' && process.env.GITHUB_STEP_SUMMARY) await appendFile(process.env.GITHUB_STEP_SUMMARY, text);
  }
  return written;
}
