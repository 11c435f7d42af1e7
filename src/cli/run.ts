import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BUILTIN_WORKER_TYPES, findWorkerType, type WorkerType } from '../core/worker-types.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { startCoordinatorServer } from '../coordinator/server.js';
import { createLogger } from '../logging.js';
import { LocalProvider } from '../providers/local.js';
import { CloudProviderManager } from '../providers/manager.js';
import { scalingConfig } from '../core/scaling.js';
import { buildReport } from '../reports/report.js';
import { writeReports } from '../reports/write.js';
import { openStore } from '../store/open.js';
import { loadSuite, suiteToSubmission } from '../suite/parse.js';
import { showProgress } from './progress.js';
import { UsageError } from './usage-error.js';

export interface RunOptions {
  workers?: Map<string, number>;
  maxWorkers: number;
  outputDir?: string;
  db: string;
  logLevel: string;
}

/** `drm run <suite>`: embedded coordinator, local worker processes, the suite to the end, reports. */
export async function runSuite(suitePath: string, opts: RunOptions): Promise<number> {
  const suite = await loadSuite(suitePath);
  const types = BUILTIN_WORKER_TYPES;
  const fleet = opts.workers ? planFleet(opts.workers, types, opts.maxWorkers) : [];
  const outputDir = resolve(opts.outputDir ?? join('drm-results', new Date().toISOString().replace(/[:.]/g, '-')));
  await mkdir(join(outputDir, 'logs'), { recursive: true });

  const logger = createLogger({ level: opts.logLevel, file: join(outputDir, 'logs', 'coordinator.log'), name: 'coordinator' });
  const store = await openStore(opts.db);
  const provider = new LocalProvider({ logDir: join(outputDir, 'logs'), logLevel: opts.logLevel, killGraceMs: 10_000 });
  let manager: CloudProviderManager | null = null;
  const server = await startCoordinatorServer({
    store,
    logger,
    host: '127.0.0.1',
    port: 0,
    // A task no creatable type can ever hold fails at submission instead of waiting forever.
    settings: { infeasible: 'fail' },
    scaling: (url, onChange) => {
      manager = new CloudProviderManager({ providers: [{ provider, types: types.map((type) => ({ type, maxInstances: opts.maxWorkers })) }], coordinatorUrl: url, logger, onChange });
      return { manager, workerTypes: types.map((t) => ({ ...t, min: 0, max: opts.maxWorkers })), config: scalingConfig({ maxWorkers: opts.maxWorkers }) };
    },
  });
  const out = process.stdout;
  out.write(`drm: coordinator ${server.url} (dashboard ${server.url}/), database ${opts.db}\n`);
  const offScaling = server.coordinator.bus.on('scaling', (e) => {
    if (e.action !== 'maintain') out.write(`drm: ${e.action} ${e.workerType ?? ''} x${e.count}: ${e.reason}\n`);
  });

  let code = 1;
  try {
    if (fleet.length > 0) {
      out.write(`drm: starting ${fleet.length} local worker(s): ${summarizeFleet(fleet)}; autoscaling up to ${opts.maxWorkers}\n`);
      const ids: string[] = [];
      for (const [name, count] of countByType(fleet)) ids.push(...(await manager!.provision(name, count)).started);
      // Submitting before the fleet has joined would place everything on whichever worker came first.
      await waitForFleet(server.coordinator, ids);
    } else {
      out.write(`drm: no --workers: the autoscaler starts the worker types the suite needs (up to ${opts.maxWorkers})\n`);
    }
    // Run events are recorded from before the submit: a run whose tasks all fail at once ends inside it.
    const ended = new Map<string, string>();
    let wake = () => {};
    const off = server.coordinator.bus.on('run', (e) => {
      ended.set(e.runId, e.state);
      wake();
    });
    const submission = await server.coordinator.submit(suiteToSubmission(suite));
    const runId = submission.runId;
    out.write(`drm: run ${runId} (${suite.name}): ${submission.taskIds.length} task(s)\n`);
    const stopProgress = showProgress(server.coordinator.bus, runId, submission.taskIds.length, out);
    const state = await new Promise<string>((done) => {
      wake = () => {
        const s = ended.get(runId);
        if (s) done(s);
      };
      wake();
    });
    off();
    stopProgress();
    const data = await buildReport(store, runId);
    const files = await writeReports(data, outputDir);
    const s = data.report.summary;
    for (const t of data.report.tasks) if (t.state !== 'succeeded') out.write(`drm:   ${t.state} ${t.name}: ${t.reason ?? ''}\n`);
    out.write(`drm: run ${state}: ${s.succeeded}/${s.total} succeeded, ${s.failed} failed, ${s.timedOut} timed out, ${s.canceled} canceled\n`);
    out.write(`drm: reports: ${files.join(', ')}\n`);
    code = state === 'succeeded' ? 0 : 1;
  } finally {
    offScaling();
    await server.scaling?.stop();
    await (manager as CloudProviderManager | null)?.terminateAll('run finished');
    await provider.close();
    await server.close();
    await store.close();
    logger.flush();
  }
  return code;
}

/** The starting fleet of `--workers`, validated against the known types and --max-workers. */
export function planFleet(counts: Map<string, number>, types: readonly WorkerType[], maxWorkers: number): WorkerType[] {
  const fleet: WorkerType[] = [];
  for (const [name, count] of counts) {
    const type = findWorkerType(types, name);
    if (!type) throw new UsageError(`--workers: unknown worker type "${name}" (known: ${types.map((t) => t.name).join(', ')})`);
    for (let i = 0; i < count; i++) fleet.push(type);
  }
  if (fleet.length === 0) throw new UsageError('--workers: at least one worker is needed');
  if (fleet.length > maxWorkers) throw new UsageError(`the starting fleet (${fleet.length} workers) exceeds --max-workers ${maxWorkers}`);
  return fleet;
}

function countByType(fleet: readonly WorkerType[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of fleet) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
  return counts;
}

const FLEET_JOIN_TIMEOUT_MS = 60_000;

async function waitForFleet(coordinator: Coordinator, workerIds: string[]): Promise<void> {
  const want = new Set(workerIds);
  const joined = () => coordinator.workerViews().filter((w) => want.has(w.id) && w.state === 'active').length;
  await new Promise<void>((resolveJoin, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`only ${joined()} of ${want.size} local workers joined within ${FLEET_JOIN_TIMEOUT_MS / 1000} s (see the logs directory)`));
    }, FLEET_JOIN_TIMEOUT_MS);
    const check = () => {
      if (joined() < want.size) return;
      clearTimeout(timer);
      off();
      resolveJoin();
    };
    const off = coordinator.bus.on('worker', check);
    check();
  });
}

function summarizeFleet(fleet: WorkerType[]): string {
  return [...countByType(fleet)].map(([n, c]) => `${n}=${c}`).join(',');
}
