import { readFile } from 'node:fs/promises';
import { startCoordinatorServer } from '../coordinator/server.js';
import { SettingsFileSchema, settingsFromFile, type SettingsInput } from '../coordinator/config.js';
import type { Resources } from '../core/resources.js';
import { createLogger } from '../logging.js';
import { runView, summarize } from '../reports/views.js';
import { badgeFor, BadgeSourceSchema, MAX_BADGE_LABEL, writeBadge, type BadgeSource } from '../reports/badge.js';
import { buildReport } from '../reports/report.js';
import { writeReports, REPORT_FORMATS, type ReportFormat } from '../reports/write.js';
import { openStore } from '../store/open.js';
import { redact } from '../store/postgres.js';
import { loadSuite, suiteToSubmission } from '../suite/parse.js';
import { startWorkerAgent } from '../worker/agent.js';
import { ApiClient } from './client.js';
import { readTlsFiles, requireTokenBeyondLoopback, trustedCertificates } from './credentials.js';
import { UsageError } from './usage-error.js';
import { parse as parseYaml } from 'yaml';

export interface CoordinatorCommandOptions {
  host: string;
  port: number;
  db: string;
  token?: string;
  workerToken?: string;
  insecure?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  config?: string;
  logLevel: string;
}

export async function coordinatorCommand(opts: CoordinatorCommandOptions): Promise<void> {
  // Everything the operator got wrong is refused before anything is opened.
  requireTokenBeyondLoopback(opts);
  const tls = await readTlsFiles(opts.tlsCert, opts.tlsKey);
  const settings = opts.config ? await readSettings(opts.config) : {};
  const logger = createLogger({ level: opts.logLevel, name: 'coordinator' });
  const store = await openStore(opts.db);
  // Several coordinators can share a PostgreSQL database: they elect a leader; DuckDB is one process's file.
  const ha = /^postgres(ql)?:\/\//.test(opts.db);
  const server = await startCoordinatorServer({ store, logger, host: opts.host, port: opts.port, token: opts.token, workerToken: opts.workerToken, tls, settings, ha });
  process.stdout.write(`drm coordinator listening on ${server.url} (database ${redactUrl(opts.db)}${ha ? ', high availability: leader election on the database' : ''})\n`);
  await untilSignal();
  await server.close();
  await store.close();
}

function redactUrl(db: string): string {
  return /^postgres(ql)?:\/\//.test(db) ? redact(db) : db;
}

async function readSettings(path: string): Promise<SettingsInput> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new UsageError(`--config ${path}: ${err.message}`);
  });
  let parsed: unknown;
  try {
    parsed = parseYaml(text) as unknown;
  } catch (err) {
    throw new UsageError(`--config ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`--config ${path}: expected a mapping of settings`);
  const check = SettingsFileSchema.safeParse(parsed);
  if (!check.success) {
    const issue = check.error.issues[0];
    const field = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
    throw new UsageError(`--config ${path}: ${field.map(String).join('.') || 'settings'}: ${issue.code === 'unrecognized_keys' ? 'unknown setting' : issue.message}`);
  }
  return settingsFromFile(check.data);
}

export async function workerCommand(opts: { coordinator: string[]; token?: string; caFile?: string; type: string; resources?: Resources; labels?: Record<string, string>; id?: string; logLevel: string }): Promise<void> {
  const ca = await trustedCertificates(opts.caFile);
  const logger = createLogger({ level: opts.logLevel, name: 'worker' });
  const agent = await startWorkerAgent({
    coordinatorUrls: opts.coordinator,
    token: opts.token,
    ca,
    workerId: opts.id,
    workerType: opts.type,
    resources: opts.resources,
    labels: opts.labels,
    provider: 'local',
    logger,
  });
  process.stderr.write(`drm worker ${agent.id} (${opts.type}) connecting to ${opts.coordinator.join(', ')}\n`);
  const stop = () => void agent.stop();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await agent.done;
}

/** What every command that talks to a running coordinator takes. */
export interface ClientOptions {
  coordinator: string[];
  token?: string;
  caFile?: string;
}

async function apiClient(opts: ClientOptions): Promise<ApiClient> {
  return new ApiClient(opts.coordinator, opts.token, { ca: await trustedCertificates(opts.caFile) });
}

export async function submitCommand(suitePath: string, opts: ClientOptions & { wait: boolean; json: boolean }): Promise<number> {
  const suite = await loadSuite(suitePath);
  const client = await apiClient(opts);
  const { runId, taskIds } = await client.request<{ runId: string; taskIds: string[] }>('POST', '/api/v1/tasks', suiteToSubmission(suite));
  if (!opts.wait) {
    process.stdout.write(opts.json ? JSON.stringify({ runId, taskIds }) + '\n' : `submitted run ${runId} (${taskIds.length} tasks)\n`);
    return 0;
  }
  if (!opts.json) process.stdout.write(`submitted run ${runId} (${taskIds.length} tasks); waiting\n`);
  const run = await waitForRun(client, runId, (line) => !opts.json && process.stdout.write(line + '\n'));
  process.stdout.write(opts.json ? JSON.stringify(run) + '\n' : `run ${runId} ${run.state}: ${JSON.stringify(run.summary)}\n`);
  return run.state === 'succeeded' ? 0 : 1;
}

type RunView = ReturnType<typeof runView>;

/** Follows a run over the event stream, re-reading it on each event (and every few seconds as a fallback). */
async function waitForRun(client: ApiClient, runId: string, print: (line: string) => void): Promise<RunView> {
  return new Promise<RunView>((resolve, reject) => {
    let stopped = false;
    const check = async () => {
      if (stopped) return;
      const run = await client.request<RunView>('GET', `/api/v1/runs/${runId}`);
      if (run.state !== 'running') {
        stopped = true;
        stopEvents();
        clearInterval(timer);
        resolve(run);
      }
    };
    const stopEvents = client.events(
      `/api/v1/events?runId=${encodeURIComponent(runId)}`,
      (name, data) => {
        const e = data as { name?: string; state?: string; reason?: string | null };
        if (name === 'task' && e.state && ['succeeded', 'failed', 'timed_out', 'canceled'].includes(e.state)) print(`${e.state.padEnd(9)} ${e.name}${e.reason ? `: ${e.reason}` : ''}`);
        if (name === 'run') check().catch(reject);
      },
      () => {},
    );
    const timer = setInterval(() => check().catch(reject), 3000);
    check().catch(reject);
  });
}

export async function statusCommand(opts: ClientOptions & { json: boolean }): Promise<void> {
  const client = await apiClient(opts);
  const [cluster, workers] = await Promise.all([client.request<Record<string, any>>('GET', '/api/v1/cluster'), client.request<{ workers: any[] }>('GET', '/api/v1/workers')]);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ cluster, workers: workers.workers }, null, 2) + '\n');
    return;
  }
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const u = cluster.utilization;
  process.stdout.write(`coordinator ${cluster.leader?.url ?? opts.coordinator[0]}\n`);
  process.stdout.write(`workers: ${cluster.workers.total}  tasks: ${JSON.stringify(cluster.tasks)}  queue depth: ${cluster.queueDepth}\n`);
  process.stdout.write(`reserved: cpu ${pct(u.cpu)}, memory ${pct(u.memory)}, gpu ${pct(u.gpu)}\n`);
  for (const w of workers.workers) {
    process.stdout.write(`  ${w.id.padEnd(32)} ${w.type.padEnd(12)} ${w.state.padEnd(10)} cpu ${w.reserved.cpu}/${w.resources.cpu}  mem ${w.reserved.memoryMb}/${w.resources.memoryMb} MB  gpus ${w.reserved.gpus}/${w.resources.gpus}  tasks ${w.runningTasks.length}\n`);
  }
}

export async function cancelCommand(taskId: string, opts: ClientOptions): Promise<void> {
  const task = await (await apiClient(opts)).request<{ id: string; state: string }>('POST', `/api/v1/tasks/${encodeURIComponent(taskId)}/cancel`);
  process.stdout.write(`task ${task.id} ${task.state}\n`);
}

export async function drainCommand(workerId: string, opts: ClientOptions): Promise<void> {
  const w = await (await apiClient(opts)).request<{ id: string; state: string }>('POST', `/api/v1/workers/${encodeURIComponent(workerId)}/drain`);
  process.stdout.write(`worker ${w.id} ${w.state}\n`);
}

export async function reportCommand(opts: { run?: string; format: string; outputDir: string; db: string }): Promise<void> {
  const formats = opts.format.split(',').map((f) => f.trim());
  for (const f of formats) if (!(REPORT_FORMATS as readonly string[]).includes(f)) throw new UsageError(`--format: unknown format "${f}" (available: ${REPORT_FORMATS.join(', ')})`);
  const store = await openStore(opts.db);
  try {
    const runId = opts.run ?? (await store.listRuns(1))[0]?.id;
    if (!runId) throw new UsageError(`no runs in ${opts.db}`);
    if (!(await store.getRun(runId))) throw new UsageError(`--run: run ${runId} not found in ${opts.db}`);
    const files = await writeReports(await buildReport(store, runId), opts.outputDir, formats as ReportFormat[]);
    process.stdout.write(`wrote ${files.join(', ')}\n`);
  } finally {
    await store.close();
  }
}

export async function badgeCommand(opts: { run?: string; db: string; report?: string; outputDir: string; label: string }): Promise<void> {
  const label = opts.label.trim();
  if (label === '' || [...label].length > MAX_BADGE_LABEL || /[\u0000-\u001F\u007F]/.test(label)) throw new UsageError(`--label: expected 1 to ${MAX_BADGE_LABEL} printable characters`);
  const source = opts.report ? await readBadgeSource(opts.report) : await badgeSourceFromDb(opts.db, opts.run);
  const badge = badgeFor(source, label);
  const files = await writeBadge(badge, opts.outputDir);
  process.stdout.write(`wrote ${files.join(', ')}: ${badge.label} | ${badge.message} (${badge.color})\n`);
}

async function badgeSourceFromDb(db: string, run: string | undefined): Promise<BadgeSource> {
  const store = await openStore(db);
  try {
    const runId = run ?? (await store.listRuns(1))[0]?.id;
    if (!runId) throw new UsageError(`no runs in ${db}`);
    const found = await store.getRun(runId);
    if (!found) throw new UsageError(`--run: run ${runId} not found in ${db}`);
    return { run: found, summary: summarize(await store.listTasks({ runId })) };
  } finally {
    await store.close();
  }
}

async function readBadgeSource(path: string): Promise<BadgeSource> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new UsageError(`--report ${path}: ${err.message}`);
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--report ${path}: not JSON: ${(err as Error).message}`);
  }
  const check = BadgeSourceSchema.safeParse(parsed);
  if (!check.success) throw new UsageError(`--report ${path}: not a drm report.json: ${check.error.issues[0]?.path.join('.')}: ${check.error.issues[0]?.message}`);
  return check.data;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
