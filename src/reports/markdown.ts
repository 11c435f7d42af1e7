import type { Report } from './report.js';

const ICON: Record<string, string> = { succeeded: '✅', failed: '❌', timed_out: '⏱️', canceled: '⚪' };

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A compact summary that fits a GitHub step summary. */
export function toMarkdown(report: Report): string {
  const { run, summary } = report;
  const out = [
    `## drm run ${cell(run.name)}: ${run.state}`,
    '',
    `${summary.succeeded}/${summary.total} succeeded, ${summary.failed} failed, ${summary.timedOut} timed out, ${summary.canceled} canceled.`,
    '',
    '| task | state | worker type | attempts | duration (s) | peak memory (MB) |',
    '| --- | --- | --- | ---: | ---: | ---: |',
  ];
  for (const t of report.tasks) {
    const duration = t.durationMs === null ? '' : (t.durationMs / 1000).toFixed(2);
    const mem = t.usage.peakMemoryMb === null ? '' : Math.round(t.usage.peakMemoryMb).toString();
    out.push(`| ${cell(t.name)} | ${ICON[t.state] ?? ''} ${t.state} | ${t.workerType ?? ''} | ${t.attempts} | ${duration} | ${mem} |`);
  }
  if (report.checks?.length) {
    out.push('', '| check | result | detail |', '| --- | --- | --- |');
    for (const c of report.checks) out.push(`| ${cell(c.name)} | ${c.passed ? '✅ pass' : '❌ fail'} | ${cell(c.detail)} |`);
  }
  const failed = report.tasks.filter((t) => t.state !== 'succeeded' && t.reason);
  if (failed.length) {
    out.push('', '### Not succeeded', '');
    for (const t of failed) out.push(`- **${cell(t.name)}**: ${cell(t.reason ?? '')}`);
  }
  return out.join('\n') + '\n';
}
