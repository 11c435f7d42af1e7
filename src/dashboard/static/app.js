// drm dashboard: a plain ES module, no build step. Data comes from the coordinator's API; the page
// stays live through the server-sent event stream plus a light poll for the time series.
import uPlot from './uPlot.esm.js';

const POLL_MS = 2000;
/** Scaling decisions change rarely; refresh them every this many polls (and on worker events). */
const DECISIONS_EVERY = 5;
const TASK_LIMIT = 200;
const KEEP_POINTS = 600;
const TOKEN_KEY = 'drm.token';
const TERMINAL = ['succeeded', 'failed', 'timed_out', 'canceled'];
const MB_PER_GB = 1024;

const $ = (sel) => document.querySelector(sel);
const field = (name) => document.querySelector(`[data-field="${name}"]`);

let token = sessionStorage.getItem(TOKEN_KEY);
let events = null;
let pollTimer = null;
let polls = 0;
let charts = null;
let lastAt = 0;
let tasks = new Map();
let detailId = null;
let detailReturnFocus = null;
const series = { x: [], cpuR: [], cpuM: [], memR: [], memM: [], gpuR: [], gpuM: [], queue: [], inFlight: [], finished: [] };

// ------------------------------------------------------------------ helpers

/** Builds an element; text goes in as text, never as HTML (task names and output are untrusted). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '–');
const cores = (n) => (Number.isInteger(n) ? String(n) : n.toFixed(1));
const mem = (mb) => (mb >= MB_PER_GB ? `${(mb / MB_PER_GB).toFixed(mb >= 10 * MB_PER_GB ? 0 : 1)} GB` : `${Math.round(mb)} MB`);
const label = (state) => String(state).replace('_', ' ');

function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function clock(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '–' : d.toLocaleTimeString();
}

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** Runs fn at most once per `ms`, always once more after the last call (so the final state shows). */
function throttle(fn, ms) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(async () => {
      try {
        await fn();
      } catch (err) {
        onError(err);
      } finally {
        timer = null;
      }
    }, ms);
  };
}

const badge = (state, kind = 'state') => el('span', { class: `badge ${kind}-${state}`, text: label(state) });

// ------------------------------------------------------------------ API and token

class Unauthorized extends Error {}

async function api(path) {
  const res = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (res.status === 401) throw new Unauthorized('unauthorized');
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    throw new Error(body?.error?.message ?? `${path}: HTTP ${res.status}`);
  }
  return res.json();
}

function setConn(state, text) {
  const c = $('#conn');
  c.dataset.state = state;
  c.textContent = text;
}

function onError(err) {
  if (err instanceof Unauthorized) {
    const refused = Boolean(token);
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    askToken(refused ? 'That token was refused. Enter the current API token.' : 'This coordinator requires an API token.');
    return;
  }
  console.error(err);
  setConn('error', `error: ${err.message}`);
}

function askToken(message) {
  stopLive();
  $('#main').hidden = true;
  closeDetail();
  $('#login').hidden = false;
  $('#login-msg').textContent = message;
  setConn('locked', 'token required');
  const input = $('#token-input');
  input.value = '';
  input.focus();
}

$('#login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = $('#token-input').value.trim();
  if (!value) return;
  token = value;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('#login').hidden = true;
  start();
});

// ------------------------------------------------------------------ lifecycle

async function start() {
  setConn('connecting', 'connecting…');
  try {
    // Probe first: a 401 here means "ask for the token" before anything is shown.
    const cluster = await api('/api/v1/cluster');
    $('#main').hidden = false;
    charts ??= makeCharts();
    renderCluster(cluster);
    await loadAll();
  } catch (err) {
    onError(err);
    return;
  }
  connectEvents();
  pollTimer = setInterval(poll, POLL_MS);
}

function stopLive() {
  events?.close();
  events = null;
  clearInterval(pollTimer);
  pollTimer = null;
}

async function loadAll() {
  const [cluster, workers, dash, decisions] = await Promise.all([
    api('/api/v1/cluster'),
    api('/api/v1/workers'),
    api(`/api/v1/dashboard?since=${lastAt}`),
    api('/api/v1/scaling/decisions?limit=50'),
    refreshTasks(),
  ]);
  renderCluster(cluster);
  renderWorkers(workers.workers);
  renderDashboard(dash);
  renderDecisions(decisions.decisions);
}

let polling = false;
async function poll() {
  if (document.hidden || polling) return;
  polling = true;
  try {
    const [cluster, dash] = await Promise.all([api('/api/v1/cluster'), api(`/api/v1/dashboard?since=${lastAt}`)]);
    renderCluster(cluster);
    renderDashboard(dash);
    if (++polls % DECISIONS_EVERY === 0) renderDecisions((await api('/api/v1/scaling/decisions?limit=50')).decisions);
    if (events?.readyState === EventSource.OPEN) setConn('live', 'live');
  } catch (err) {
    onError(err);
  } finally {
    polling = false;
  }
}

const refreshFleet = throttle(async () => {
  const [cluster, workers, decisions] = await Promise.all([api('/api/v1/cluster'), api('/api/v1/workers'), api('/api/v1/scaling/decisions?limit=50')]);
  renderCluster(cluster);
  renderWorkers(workers.workers);
  renderDecisions(decisions.decisions);
}, 50);
const refreshWorkersSoon = throttle(async () => renderWorkers((await api('/api/v1/workers')).workers), 500);
const refreshTasksSoon = throttle(refreshTasks, 1500);
const refreshDetailSoon = throttle(async () => detailId && renderDetail(await api(`/api/v1/tasks/${encodeURIComponent(detailId)}`)), 300);

function connectEvents() {
  // EventSource cannot send headers; the server accepts the token as a query parameter on /api/.
  const url = `/api/v1/events${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  let dropped = false;
  const es = new EventSource(url);
  events = es;
  es.addEventListener('open', () => {
    setConn('live', 'live');
    // Events sent while we were away are lost: catch up from the API.
    if (dropped) loadAll().catch(onError);
    dropped = false;
  });
  es.addEventListener('error', () => {
    if (events !== es) return;
    dropped = true;
    setConn('reconnecting', 'reconnecting…');
    // A refused stream (401, restart with a new token) is closed for good: find out why, then retry.
    if (es.readyState === EventSource.CLOSED) {
      api('/api/v1/cluster')
        .then(() => setTimeout(() => events === es && connectEvents(), POLL_MS))
        .catch(onError);
    }
  });
  es.addEventListener('worker', () => refreshFleet());
  es.addEventListener('task', (e) => onTaskEvent(JSON.parse(e.data)));
}

// ------------------------------------------------------------------ summary cards

function kvList(target, entries) {
  target.replaceChildren(...entries.map(([k, v, cls]) => el('li', { class: cls }, el('span', { class: 'k', text: k }), el('span', { class: 'v', text: v }))));
}

function renderCluster(c) {
  $('#leader').textContent = c.leader?.url ? `coordinator ${c.leader.url}` : '';
  field('workers-total').textContent = c.workers.total;
  const types = Object.entries(c.workers.byType).sort(([a], [b]) => a.localeCompare(b));
  kvList(field('workers-by-type'), types.length ? types.map(([t, n]) => [t, n]) : [['no workers', '']]);
  field('workers-by-state').replaceChildren(...Object.entries(c.workers.byState).map(([s, n]) => el('li', { class: `badge worker-${s}`, text: `${label(s)} ${n}` })));

  field('queue-depth').textContent = c.queueDepth;
  kvList(field('tasks-live'), [
    ['ready to place', c.readyTasks],
    ['assigned', c.tasks.assigned ?? 0],
    ['running', c.tasks.running ?? 0],
  ]);

  field('util-overall').textContent = pct(c.utilization.overall);
  const rows = [
    ['CPU', c.utilization.cpu, c.usedUtilization.cpu, `${cores(c.reserved.cpu)} / ${cores(c.capacity.cpu)} cores`],
    ['Memory', c.utilization.memory, c.usedUtilization.memory, `${mem(c.reserved.memoryMb)} / ${mem(c.capacity.memoryMb)}`],
    ['GPU', c.utilization.gpu, c.usedUtilization.gpu, c.capacity.gpus > 0 ? `${c.reserved.gpus} / ${c.capacity.gpus} GPUs` : 'no GPUs'],
  ];
  field('gpu-note').textContent = c.capacity.gpus > 0 ? '' : '(no GPUs in the fleet)';
  field('util-rows').replaceChildren(
    ...rows.map(([name, r, m, title]) => el('tr', { title }, el('th', { scope: 'row', text: name }), el('td', { text: pct(r) }), el('td', { text: pct(m) }))),
  );
}

function renderDashboard(d) {
  kvList(field('tasks-finished'), TERMINAL.map((s) => [label(s), d.finished[s] ?? 0, `state-text-${s}`]));
  appendPoints(d.points);
  const acc = d.predictionAccuracy;
  const box = field('prediction');
  if (!acc) box.replaceChildren(el('p', { class: 'muted', text: 'no predictions yet' }));
  else {
    const ul = el('ul', { class: 'kv', 'aria-label': 'Mean absolute percentage error' });
    kvList(ul, [
      ['duration error', acc.mapeDuration === null ? '–' : pct(acc.mapeDuration)],
      ['memory error', acc.mapeMemory === null ? '–' : pct(acc.mapeMemory)],
      ['predicted attempts', acc.samples],
    ]);
    box.replaceChildren(el('p', { class: 'big', text: acc.mapeDuration === null ? '–' : pct(acc.mapeDuration) }), ul, el('p', { class: 'muted small', text: 'mean absolute % error, recent attempts' }));
  }
}

function renderDecisions(decisions) {
  const byAction = { scale_up: 0, scale_down: 0, maintain: 0 };
  for (const d of decisions) byAction[d.action] = (byAction[d.action] ?? 0) + 1;
  field('scaling-total').textContent = decisions.length;
  kvList(field('scaling-by-action'), [
    ['scale up', byAction.scale_up],
    ['scale down', byAction.scale_down],
    ['maintain', byAction.maintain],
  ]);
  const last = decisions[0];
  field('scaling-last').textContent = last ? `last: ${label(last.action)}${last.workerType ? ` ${last.workerType} ×${last.count}` : ''}, ${ago(last.at)}` : '';

  $('#timeline-empty').hidden = decisions.length > 0;
  $('#timeline').replaceChildren(
    ...decisions.map((d) =>
      el(
        'li',
        { class: `tl tl-${d.action}` },
        el('time', { datetime: d.at, text: clock(d.at) }),
        el('div', {}, badge(d.action, 'action'), d.workerType ? el('strong', { text: ` ${d.workerType} ×${d.count}` }) : null, d.executed === false ? el('span', { class: 'muted small', text: ' (not executed)' }) : null),
        el('p', { class: 'small', text: d.reason }),
        el('p', { class: 'muted small', text: `utilization ${pct(d.utilization?.overall)}` }),
      ),
    ),
  );
}

// ------------------------------------------------------------------ charts

function makeCharts() {
  const axisColor = '#475569';
  const grid = { stroke: '#e2e8f0', width: 1 };
  const percent = (u, v) => (v === null || v === undefined ? '–' : `${Math.round(v)}%`);
  const hms = (u, splits) => splits.map((s) => new Date(s * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }));
  const xAxis = { stroke: axisColor, grid, values: hms, space: 70 };
  const utilChart = (id, color) =>
    chart(id, {
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(100, max ?? 0)] } },
      axes: [xAxis, { stroke: axisColor, grid, size: 48, values: (u, vals) => vals.map((v) => `${v}%`) }],
      series: [
        { label: 'time', value: (u, v) => (v === null || v === undefined ? '–' : new Date(v * 1000).toLocaleTimeString()) },
        { label: 'reserved', stroke: color, width: 2, fill: `${color}22`, value: percent },
        { label: 'measured', stroke: '#d97706', width: 2, dash: [6, 4], value: percent },
      ],
    });
  const c = {
    cpu: utilChart('#chart-cpu', '#2563eb'),
    memory: utilChart('#chart-memory', '#7c3aed'),
    gpu: utilChart('#chart-gpu', '#059669'),
    queue: chart('#chart-queue', {
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, max ?? 0)] } },
      axes: [xAxis, { stroke: axisColor, grid, size: 48 }],
      series: [
        { label: 'time', value: (u, v) => (v === null || v === undefined ? '–' : new Date(v * 1000).toLocaleTimeString()) },
        { label: 'queued', stroke: '#dc2626', width: 2 },
        { label: 'in flight', stroke: '#2563eb', width: 2 },
        { label: 'finished/s', stroke: '#16a34a', width: 2, fill: '#16a34a22' },
      ],
    }),
  };
  return c;
}

function chart(sel, opts) {
  const box = $(sel);
  const width = Math.max(200, box.clientWidth);
  const u = new uPlot({ width, height: 150, legend: { live: true }, cursor: { drag: { x: false, y: false } }, ...opts }, [[], ...opts.series.slice(1).map(() => [])], box);
  new ResizeObserver(() => u.setSize({ width: Math.max(200, box.clientWidth), height: 150 })).observe(box);
  return u;
}

function appendPoints(points) {
  if (!points.length) return;
  const s = series;
  for (const p of points) {
    if (p.at <= lastAt) continue;
    lastAt = p.at;
    s.x.push(p.at / 1000);
    s.cpuR.push(p.reserved.cpu * 100);
    s.cpuM.push(p.measured.cpu * 100);
    s.memR.push(p.reserved.memory * 100);
    s.memM.push(p.measured.memory * 100);
    s.gpuR.push(p.reserved.gpu * 100);
    s.gpuM.push(p.measured.gpu * 100);
    s.queue.push(p.queueDepth);
    s.inFlight.push(p.inFlight);
    s.finished.push(p.finished);
  }
  for (const arr of Object.values(s)) if (arr.length > KEEP_POINTS) arr.splice(0, arr.length - KEEP_POINTS);
  if (!charts) return;
  charts.cpu.setData([s.x, s.cpuR, s.cpuM]);
  charts.memory.setData([s.x, s.memR, s.memM]);
  charts.gpu.setData([s.x, s.gpuR, s.gpuM]);
  charts.queue.setData([s.x, s.queue, s.inFlight, s.finished]);
}

// ------------------------------------------------------------------ workers

function bar(name, reserved, capacity, measured, text) {
  if (!(capacity > 0)) return el('span', { class: 'muted', text: '–' });
  const share = (x) => `${Math.min(100, (x / capacity) * 100).toFixed(1)}%`;
  const fill = el('span', { class: 'fill' });
  fill.style.width = share(reserved);
  const meter = el(
    'span',
    { class: 'bar', role: 'meter', 'aria-label': `${name} reserved`, 'aria-valuemin': 0, 'aria-valuemax': capacity, 'aria-valuenow': reserved, 'aria-valuetext': text },
    fill,
  );
  if (measured !== null && measured !== undefined) {
    const tick = el('span', { class: 'tick', title: `measured ${share(measured)}` });
    tick.style.left = share(measured);
    meter.append(tick);
  }
  return el('span', { class: 'barcell' }, meter, el('span', { class: 'bartext', text }));
}

function renderWorkers(workers) {
  $('#workers-empty').hidden = workers.length > 0;
  const sorted = [...workers].sort((a, b) => a.type.localeCompare(b.type) || a.id.localeCompare(b.id));
  $('#worker-rows').replaceChildren(
    ...sorted.map((w) => {
      const u = w.usage;
      return el(
        'tr',
        { 'data-worker-id': w.id, 'data-state': w.state },
        el('th', { scope: 'row', class: 'mono', text: w.id }),
        el('td', { text: w.type }),
        el('td', {}, badge(w.state, 'worker')),
        el('td', {}, bar('CPU', w.reserved.cpu, w.resources.cpu, u?.cpu, `${cores(w.reserved.cpu)} / ${cores(w.resources.cpu)}`)),
        el('td', {}, bar('Memory', w.reserved.memoryMb, w.resources.memoryMb, u?.memoryMb, `${mem(w.reserved.memoryMb)} / ${mem(w.resources.memoryMb)}`)),
        el('td', {}, bar('GPU', w.reserved.gpus, w.resources.gpus, u?.gpus, `${w.reserved.gpus} / ${w.resources.gpus}`)),
        el('td', { class: 'num', text: w.runningTasks.length }),
        el('td', { class: 'muted', text: w.lastSeenAt ? ago(w.lastSeenAt) : '–' }),
      );
    }),
  );
}

// ------------------------------------------------------------------ tasks

function taskListUrl() {
  const state = $('#filter-state').value;
  return `/api/v1/tasks?limit=${TASK_LIMIT}${state ? `&state=${encodeURIComponent(state)}` : ''}`;
}

async function refreshTasks() {
  const startedAt = Date.now();
  const { tasks: list } = await api(taskListUrl());
  const next = new Map();
  for (const t of list) {
    const known = tasks.get(t.id);
    // An event that arrived while the list was in flight is newer than the list.
    if (known && known.touchedAt >= startedAt) Object.assign(t, { state: known.state, workerId: known.workerId, touchedAt: known.touchedAt });
    next.set(t.id, t);
  }
  for (const [id, t] of tasks) if (!next.has(id) && t.touchedAt >= startedAt) next.set(id, t);
  tasks = next;
  renderTasks();
}

let renderQueued = false;
function renderTasksSoon() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderTasks();
  });
}

function onTaskEvent(e) {
  const t = tasks.get(e.taskId);
  if (t) Object.assign(t, { state: e.state, workerId: e.workerId, reason: e.reason ?? undefined, touchedAt: Date.now() });
  else tasks.set(e.taskId, { id: e.taskId, runId: e.runId, name: e.name, state: e.state, workerId: e.workerId, kind: '', attempts: null, durationMs: null, createdAt: new Date(e.at).toISOString(), touchedAt: Date.now() });
  renderTasksSoon();
  // The event carries state and worker; kind, attempts and duration come with the next list.
  refreshTasksSoon();
  refreshWorkersSoon();
  if (e.taskId === detailId) refreshDetailSoon();
}

const rowsById = new Map();

function taskCells(t) {
  return [t.name, null, t.kind || '…', t.workerId ?? '–', t.attempts ?? '–', duration(t.durationMs), clock(t.createdAt)];
}

function makeTaskRow(id) {
  const tr = el('tr', { tabindex: 0, 'data-task-id': id, 'aria-haspopup': 'dialog' });
  tr.append(el('th', { scope: 'row', class: 'name' }), el('td'), el('td'), el('td', { class: 'mono' }), el('td', { class: 'num' }), el('td', { class: 'num' }), el('td'));
  tr.addEventListener('click', () => openDetail(id, tr));
  return tr;
}

function renderTasks() {
  const filter = $('#filter-state').value;
  const needle = $('#filter-name').value.trim().toLowerCase();
  const visible = [...tasks.values()]
    .filter((t) => (!filter || t.state === filter) && (!needle || t.name.toLowerCase().includes(needle)))
    // Newest first; tasks of one submission share a timestamp, so then by name.
    .sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '') || a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
    .slice(0, TASK_LIMIT);
  const body = $('#task-rows');
  const keep = new Set(visible.map((t) => t.id));
  for (const [id, tr] of rowsById) {
    if (keep.has(id)) continue;
    tr.remove();
    rowsById.delete(id);
  }
  // Rows are updated in place and moved only when out of order, so the focused row keeps focus.
  visible.forEach((t, i) => {
    let tr = rowsById.get(t.id);
    if (!tr) rowsById.set(t.id, (tr = makeTaskRow(t.id)));
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] ?? null);
    if (tr.dataset.state !== t.state) tr.dataset.state = t.state;
    tr.classList.toggle('selected', t.id === detailId);
    tr.setAttribute('aria-label', `${t.name}, ${label(t.state)}`);
    const cells = taskCells(t);
    cells.forEach((v, j) => {
      const td = tr.children[j];
      if (j === 1) {
        if (td.dataset.state !== t.state) {
          td.dataset.state = t.state;
          td.replaceChildren(badge(t.state));
        }
      } else if (td.textContent !== String(v)) td.textContent = v;
    });
    if (t.reason) tr.title = t.reason;
    else tr.removeAttribute('title');
  });
  $('#tasks-empty').hidden = visible.length > 0;
  $('#task-count').textContent = `${visible.length} shown`;
}

$('#filter-state').addEventListener('change', () => refreshTasks().catch(onError));
$('#filter-name').addEventListener('input', () => renderTasks());
$('#task-filters').addEventListener('submit', (e) => e.preventDefault());

$('#task-rows').addEventListener('keydown', (e) => {
  const tr = e.target.closest('tr[data-task-id]');
  if (!tr) return;
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    openDetail(tr.dataset.taskId, tr);
  } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    (e.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling)?.focus();
  }
});

// ------------------------------------------------------------------ task detail

async function openDetail(id, fromRow) {
  detailId = id;
  detailReturnFocus = fromRow ?? null;
  const panel = $('#detail');
  panel.hidden = false;
  $('#detail-title').textContent = 'Loading…';
  renderTasks();
  $('#detail-close').focus();
  try {
    const t = await api(`/api/v1/tasks/${encodeURIComponent(id)}`);
    if (detailId === id) renderDetail(t);
  } catch (err) {
    onError(err);
  }
}

function closeDetail() {
  if (detailId === null) return;
  const back = detailReturnFocus ?? rowsById.get(detailId);
  detailId = null;
  $('#detail').hidden = true;
  renderTasks();
  if (back?.isConnected) back.focus();
}

$('#detail-close').addEventListener('click', closeDetail);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && detailId !== null) {
    e.preventDefault();
    closeDetail();
  }
});

function renderDetail(t) {
  $('#detail-title').replaceChildren(el('span', { text: t.name }), ' ', badge(t.state));
  const r = t.resources ?? {};
  const facts = [
    ['Task id', t.id, 'mono'],
    ['Run', t.runId, 'mono'],
    ['Kind', t.kind],
    ['Worker', t.workerId ? `${t.workerId} (${t.workerType})` : '–', 'mono'],
    ['Attempts', t.attempts],
    ['Priority', t.priority],
    ['Resources', `${cores(r.cpu ?? 0)} cpu, ${mem(r.memoryMb ?? 0)}${r.gpus ? `, ${r.gpus} GPU (${mem(r.gpuMemoryMb ?? 0)})` : ''}${t.resourcesDeclared ? '' : ' (not declared)'}`],
    ['Submitted', clock(t.createdAt)],
    ['Started', clock(t.startedAt)],
    ['Finished', clock(t.finishedAt)],
    ['Duration', duration(t.durationMs)],
    ['Exit code', t.exitCode ?? '–'],
    ['Peak memory', t.usage?.peakMemoryMb === null || t.usage?.peakMemoryMb === undefined ? '–' : mem(t.usage.peakMemoryMb)],
    ['CPU time', t.usage?.cpuSeconds === null || t.usage?.cpuSeconds === undefined ? '–' : `${t.usage.cpuSeconds.toFixed(2)} s`],
    ['Depends on', t.dependsOn?.length ? t.dependsOn.map((id) => tasks.get(id)?.name ?? id).join(', ') : '–'],
    ['Command', (t.command ?? []).join(' '), 'mono'],
  ];
  if (t.reason) facts.push(['Reason', t.reason]);
  const dl = el('dl', { class: 'facts' }, ...facts.flatMap(([k, v, cls]) => [el('dt', { text: k }), el('dd', { class: cls, text: v })]));

  const history = t.history ?? [];
  const table = history.length
    ? el(
        'table',
        { class: 'grid compact' },
        el('caption', { text: 'Attempts' }),
        el('thead', {}, el('tr', {}, ...['#', 'Worker', 'State', 'Started', 'Finished', 'Exit', 'Reason'].map((h) => el('th', { scope: 'col', text: h })))),
        el(
          'tbody',
          {},
          ...history.map((a, i) =>
            el(
              'tr',
              { title: a.attemptId },
              el('td', { class: 'num', text: i + 1 }),
              el('td', { class: 'mono', text: `${a.workerId} (${a.workerType ?? '?'})` }),
              el('td', {}, badge(a.state)),
              el('td', { text: clock(a.startedAt) }),
              el('td', { text: clock(a.finishedAt) }),
              el('td', { class: 'num', text: a.exitCode ?? '–' }),
              el('td', { text: a.reason ?? '' }),
            ),
          ),
        ),
      )
    : el('p', { class: 'muted', text: 'No attempts yet.' });

  const tail = (title, text) =>
    el('section', { class: 'tail' }, el('h3', { text: title }), text ? el('pre', { tabindex: 0, 'aria-label': title, text }) : el('p', { class: 'muted', text: 'empty' }));
  $('#detail-body').replaceChildren(dl, table, tail('stdout (tail)', t.stdoutTail), tail('stderr (tail)', t.stderrTail));
}

start();
