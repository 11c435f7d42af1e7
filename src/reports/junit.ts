import type { ReportData } from './report.js';

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

// XML 1.0 forbids most control characters even when escaped; output tails can contain them.
function xml(text: string): string {
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '').replace(/[&<>"']/g, (c) => XML_ESCAPES[c]);
}

/** One <testsuite> per run, one <testcase> per task; failures carry the stderr tail. */
export function toJunit({ report, tails }: ReportData): string {
  const { run, summary, tasks } = report;
  const seconds = (ms: number | null) => ((ms ?? 0) / 1000).toFixed(3);
  const totalMs = tasks.reduce((s, t) => s + (t.durationMs ?? 0), 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="drm" tests="${summary.total}" failures="${summary.failed + summary.timedOut}" skipped="${summary.canceled}" time="${seconds(totalMs)}">`,
    `  <testsuite name="${xml(run.name)}" id="${xml(run.id)}" tests="${summary.total}" failures="${summary.failed + summary.timedOut}" skipped="${summary.canceled}" time="${seconds(totalMs)}" timestamp="${run.startedAt ?? ''}">`,
  ];
  for (const t of tasks) {
    lines.push(`    <testcase classname="${xml(run.name)}" name="${xml(t.name)}" time="${seconds(t.durationMs)}">`);
    const tail = tails.get(t.id);
    if (t.state === 'failed' || t.state === 'timed_out') {
      const message = t.reason ?? (t.exitCode !== null ? `exited with code ${t.exitCode}` : t.state);
      lines.push(`      <failure message="${xml(message)}" type="${t.state}">${xml(tail?.stderrTail ?? '')}</failure>`);
    } else if (t.state !== 'succeeded') {
      lines.push(`      <skipped message="${xml(t.reason ?? t.state)}"/>`);
    }
    const props = [`worker=${t.workerId ?? ''}`, `workerType=${t.workerType ?? ''}`, `attempts=${t.attempts}`];
    lines.push(`      <system-out>${xml(props.join(' ') + '\n' + (tail?.stdoutTail ?? ''))}</system-out>`);
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
