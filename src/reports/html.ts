import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { REPORT_CLIENT_JS } from './html-client.js';
import type { Report, ReportData } from './report.js';
import type { TaskView } from './views.js';

// report.html: one self-contained file that opens offline. The tables are rendered here (readable
// without scripts); the charts are drawn in the page by uPlot (inlined from node_modules/uplot) from
// the report itself, inlined as JSON. Nothing on the page refers to another file or to the network.

export interface HtmlAssets {
  uplotJs: string;
  uplotCss: string;
}

let assets: Promise<HtmlAssets> | undefined;

/** uPlot's script and styles, resolved like an import (a hoisted node_modules works too); read once. */
export function loadHtmlAssets(): Promise<HtmlAssets> {
  assets ??= (async () => {
    const require = createRequire(import.meta.url);
    const [uplotJs, uplotCss] = await Promise.all([readFile(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'), readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')]);
    return { uplotJs, uplotCss };
  })();
  return assets;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** JSON that is safe inside <script type="application/json">: no `<` can close the element or open a comment. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** A script inlined verbatim must not contain its own end tag. */
function inlineScript(code: string): string {
  return code.replace(/<\/(script)/gi, '<\\/$1');
}

const STATE_CLASS: Record<string, string> = { succeeded: 'ok', failed: 'bad', timed_out: 'bad', canceled: 'warn', running: 'info', pending: 'muted', assigned: 'info' };

const pill = (state: string, cls = STATE_CLASS[state] ?? 'muted') => `<span class="pill ${cls}">${escapeHtml(state.replace('_', ' '))}</span>`;

function when(isoTime: string | null): string {
  return isoTime ? escapeHtml(isoTime.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC')) : '–';
}

function seconds(ms: number | null): string {
  if (ms === null) return '–';
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(2)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function elapsed(fromIso: string | null, toIso: string | null): number | null {
  if (!fromIso || !toIso) return null;
  return Date.parse(toIso) - Date.parse(fromIso);
}

function card(label: string, value: string, cls = '', field = ''): string {
  return `<div class="card ${cls}"${field ? ` data-field="${field}"` : ''}><div class="value">${value}</div><div class="label">${escapeHtml(label)}</div></div>`;
}

function summary(report: Report): string {
  const s = report.summary;
  const tl = report.timeline;
  const peakWorkers = tl ? Math.max(0, ...tl.workers.total) : report.workers.length;
  const ups = report.scaling.filter((d) => (d as { action?: string }).action === 'scale_up').length;
  const downs = report.scaling.filter((d) => (d as { action?: string }).action === 'scale_down').length;
  const cards = [
    card('tasks', String(s.total), '', 'total'),
    card('succeeded', String(s.succeeded), s.succeeded === s.total && s.total > 0 ? 'ok' : '', 'succeeded'),
    card('failed', String(s.failed), s.failed ? 'bad' : '', 'failed'),
    card('timed out', String(s.timedOut), s.timedOut ? 'bad' : '', 'timed-out'),
    card('canceled', String(s.canceled), s.canceled ? 'warn' : '', 'canceled'),
    card('workers at peak', String(peakWorkers), '', 'peak-workers'),
    card(`scaling decisions (${ups} up, ${downs} down)`, String(report.scaling.length), '', 'scaling'),
  ];
  if (report.checks) {
    const passed = report.checks.filter((c) => c.passed).length;
    cards.push(card('checks passed', `${passed}/${report.checks.length}`, passed === report.checks.length ? 'ok' : 'bad', 'checks'));
  }
  return `<section class="cards" aria-label="Summary">${cards.join('')}</section>`;
}

function checksTable(report: Report): string {
  if (!report.checks?.length) return '';
  const rows = report.checks.map(
    (c) => `<tr data-check="${escapeHtml(c.name)}" data-passed="${c.passed}"><th scope="row">${escapeHtml(c.name)}</th><td>${c.passed ? '<span class="pill ok">pass</span>' : '<span class="pill bad">fail</span>'}</td><td>${escapeHtml(c.detail)}</td></tr>`,
  );
  return `<section class="panel" id="checks" aria-labelledby="checks-h"><h2 id="checks-h">Checks</h2>
<table class="grid"><thead><tr><th scope="col">Check</th><th scope="col">Result</th><th scope="col">Detail</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

function figure(id: string, title: string, description: string): string {
  return `<figure class="chart"><figcaption>${escapeHtml(title)}</figcaption><div id="${id}" class="plot" data-chart="${id.replace('chart-', '')}" role="img" aria-label="${escapeHtml(description)}"></div></figure>`;
}

function charts(report: Report): string {
  const resampled = report.timeline?.resampled ? ' Points are folded into buckets; each shows its peak.' : '';
  return `<section class="panel" id="charts" aria-labelledby="charts-h">
<h2 id="charts-h">Over time</h2>
<p class="muted small">x axis: time since the run was submitted (m:ss). Utilization is a share of the capacity of the workers alive at that moment: <em>reserved</em> by assignments, <em>measured</em> from the workers' usage samples. Vertical lines are scaling decisions (green: scale up, red: scale down; dotted: not executed), labelled on the worker chart.${resampled}</p>
<noscript><p class="muted">The charts need JavaScript; the tables below do not.</p></noscript>
<div class="chart-grid">
${figure('chart-cpu', 'CPU utilization', 'CPU utilization over time, reserved and measured, with scaling decisions')}
${figure('chart-memory', 'Memory utilization', 'Memory utilization over time, reserved and measured, with scaling decisions')}
${figure('chart-gpu', 'GPU utilization', 'GPU utilization over time, reserved and measured, with scaling decisions')}
${figure('chart-queue', 'Queue depth and tasks in flight', 'Pending tasks and attempts in flight over time, with scaling decisions')}
${figure('chart-workers', 'Workers', 'Worker count over time, total and by type, with scaling decisions labelled')}
</div></section>`;
}

function scalingTable(report: Report): string {
  const start = report.timeline?.startMs ?? null;
  const decisions = report.scaling as Array<{ at: string; action: string; workerType: string | null; count: number; reason: string; executed: boolean; workerIds?: string[] }>;
  const shown = decisions.filter((d) => d.action !== 'maintain');
  const maintain = decisions.length - shown.length;
  const offset = (at: string) => {
    if (start === null) return '';
    const s = Math.max(0, Math.round((Date.parse(at) - start) / 1000));
    return `+${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const rows = shown.map(
    (d) =>
      `<tr data-action="${escapeHtml(d.action)}"><td class="num">${offset(d.at)}</td><td>${when(d.at)}</td><td>${d.action === 'scale_up' ? pill('scale up', 'ok') : pill('scale down', 'bad')}</td><td>${escapeHtml(d.workerType ?? '–')}</td><td class="num">${d.count}</td><td>${d.executed ? 'yes' : 'no'}</td><td>${escapeHtml(d.reason)}</td></tr>`,
  );
  const note = maintain ? `<p class="muted small">${maintain} “maintain” decision(s) not listed.</p>` : '';
  const body = shown.length
    ? `<table class="grid"><thead><tr><th scope="col" class="num">At</th><th scope="col">Time</th><th scope="col">Action</th><th scope="col">Worker type</th><th scope="col" class="num">Count</th><th scope="col">Executed</th><th scope="col">Reason</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
    : '<p class="muted">No scale-up or scale-down decisions in this run.</p>';
  return `<section class="panel" id="scaling" aria-labelledby="scaling-h"><h2 id="scaling-h">Scaling decisions</h2>${body}${note}</section>`;
}

function taskRow(t: TaskView): string {
  const mem = t.usage.peakMemoryMb === null ? '–' : String(Math.round(t.usage.peakMemoryMb));
  return `<tr data-task-id="${escapeHtml(t.id)}" data-state="${escapeHtml(t.state)}"><th scope="row" class="mono">${escapeHtml(t.name)}</th><td>${pill(t.state)}</td><td title="${escapeHtml(t.workerId ?? '')}">${escapeHtml(t.workerType ?? '–')}</td><td class="num">${t.attempts}</td><td class="num">${seconds(t.durationMs)}</td><td class="num">${mem}</td><td class="reason">${escapeHtml(t.reason ?? '')}</td></tr>`;
}

function tasksTable(report: Report): string {
  return `<section class="panel" id="tasks" aria-labelledby="tasks-h"><h2 id="tasks-h">Tasks <span class="muted small">${report.tasks.length}</span></h2>
<div class="scroll"><table class="grid" id="task-table"><thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Worker type</th><th scope="col" class="num">Attempts</th><th scope="col" class="num">Duration</th><th scope="col" class="num">Peak memory (MB)</th><th scope="col">Reason</th></tr></thead>
<tbody>${report.tasks.map(taskRow).join('\n')}</tbody></table></div></section>`;
}

function workersTable(report: Report): string {
  if (!report.workers.length) return '';
  const res = (r: unknown) => {
    const x = r as { cpu?: number; memoryMb?: number; gpus?: number };
    return `${x.cpu ?? 0} cpu, ${x.memoryMb ?? 0} MB${x.gpus ? `, ${x.gpus} GPU` : ''}`;
  };
  const rows = report.workers.map((w) => `<tr><th scope="row" class="mono">${escapeHtml(w.id)}</th><td>${escapeHtml(w.type)}</td><td>${escapeHtml(w.provider)}</td><td>${escapeHtml(res(w.resources))}</td><td class="num">${w.tasksRun}</td></tr>`);
  return `<section class="panel" id="workers" aria-labelledby="workers-h"><h2 id="workers-h">Workers that ran tasks</h2>
<table class="grid"><thead><tr><th scope="col">Worker</th><th scope="col">Type</th><th scope="col">Provider</th><th scope="col">Resources</th><th scope="col" class="num">Tasks</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

/** The whole page. `generatedAt` is a parameter so the output is reproducible in tests. */
export function toHtml(data: ReportData, assets: HtmlAssets, generatedAt: Date = new Date()): string {
  const { report } = data;
  const { run } = report;
  const title = `drm run ${run.name}: ${run.state}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="drm">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<style>${assets.uplotCss}</style>
<style>${REPORT_CSS}</style>
</head>
<body>
<header class="top">
<h1>drm run <span class="mono">${escapeHtml(run.name)}</span> ${pill(run.state)}</h1>
<dl class="meta">
<div><dt>run</dt><dd class="mono">${escapeHtml(run.id)}</dd></div>
<div><dt>started</dt><dd>${when(run.startedAt)}</dd></div>
<div><dt>finished</dt><dd>${when(run.finishedAt)}</dd></div>
<div><dt>duration</dt><dd>${seconds(elapsed(run.startedAt, run.finishedAt))}</dd></div>
<div><dt>report generated</dt><dd>${when(generatedAt.toISOString())}</dd></div>
</dl>
</header>
<main>
${summary(report)}
${checksTable(report)}
${charts(report)}
${scalingTable(report)}
${tasksTable(report)}
${workersTable(report)}
</main>
<script type="application/json" id="drm-report-data">${scriptJson({ report })}</script>
<script>${inlineScript(assets.uplotJs)}</script>
<script>${inlineScript(REPORT_CLIENT_JS)}</script>
</body>
</html>
`;
}

const REPORT_CSS = `
:root { --bg: #f1f5f9; --panel: #fff; --text: #0f172a; --muted: #526071; --line: #d8dee6; --ok: #15803d; --warn: #b45309; --bad: #b91c1c; --info: #1d4ed8;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color-scheme: light; }
* { box-sizing: border-box; }
html { font-size: 14px; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; background: var(--bg); color: var(--text); line-height: 1.4; }
h1, h2 { margin: 0; font-weight: 600; }
h1 { font-size: 1.35rem; display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
h2 { font-size: 1.05rem; margin-bottom: 8px; }
.muted { color: var(--muted); }
.small { font-size: 0.85rem; }
.mono { font-family: var(--mono); font-size: 0.9em; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.top { background: var(--panel); border-bottom: 1px solid var(--line); padding: 14px 24px; }
.meta { display: flex; flex-wrap: wrap; gap: 4px 28px; margin: 8px 0 0; }
.meta div { display: flex; gap: 6px; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; }
main { padding: 16px 24px 32px; display: grid; gap: 16px; max-width: 1600px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 10px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .value { font-size: 1.6rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .label { color: var(--muted); font-size: 0.85rem; }
.card.ok .value { color: var(--ok); } .card.bad .value { color: var(--bad); } .card.warn .value { color: var(--warn); }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; min-width: 0; }
.chart-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 12px 20px; }
.chart { margin: 0; min-width: 0; }
.chart figcaption { font-weight: 600; margin-bottom: 4px; }
.plot { min-height: 190px; width: 100%; }
.plot.nodata { display: flex; align-items: center; justify-content: center; color: var(--muted); border: 1px dashed var(--line); border-radius: 6px; min-height: 120px; }
.u-legend { font-size: 0.8rem; }
table.grid { border-collapse: collapse; width: 100%; }
.grid th, .grid td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
.grid thead th { font-size: 0.85rem; color: var(--muted); font-weight: 600; position: sticky; top: 0; background: var(--panel); }
.grid th.num, .grid td.num { text-align: right; }
.grid tbody th { font-weight: 500; }
.grid tr[data-state="failed"], .grid tr[data-state="timed_out"], .grid tr[data-passed="false"] { background: #fef2f2; }
.reason { color: var(--muted); max-width: 48ch; }
.scroll { overflow: auto; max-height: 70vh; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 0.8rem; font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.pill.ok { color: var(--ok); background: #f0fdf4; } .pill.bad { color: var(--bad); background: #fef2f2; } .pill.warn { color: var(--warn); background: #fffbeb; }
.pill.info { color: var(--info); background: #eff6ff; } .pill.muted { color: var(--muted); background: #f8fafc; }
`;
