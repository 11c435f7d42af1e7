import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { resources } from '../core/resources.js';
import { BUILTIN_WORKER_TYPES, findWorkerType, smallestFittingType, type WorkerType } from '../core/worker-types.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { startCoordinatorServer } from '../coordinator/server.js';
import { createLogger } from '../logging.js';
import { startLocalWorker, type LocalWorker } from '../providers/local.js';
import { buildReport } from '../reports/report.js';
import { writeReports } from '../reports/write.js';
import { openStore } from '../store/open.js';
import { loadSuite, suiteToSubmission } from '../suite/parse.js';
import { DEFAULT_TASK_RESOURCES } from '../core/resources.js';
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
  const fleet = planFleet(opts.workers, suite.tasks.map((t) => (t.resources ? resources(t.resources) : resources(DEFAULT_TASK_RESOURCES))), types, opts.maxWorkers);
  const outputDir = resolve(opts.outputDir ?? join('drm-results', new Date().toISOString().replace(/[:.]/g, '-')));
  await mkdir(join(outputDir, 'logs'), { recursive: true });

  const logger = createLogger({ level: opts.logLevel, file: join(outputDir, 'logs', 'coordinator.log'), name: 'coordinator' });
  const store = await openStore(opts.db);
  const server = await startCoordinatorServer({
    store,
    logger,
    host: '127.0.0.1',
    port: 0,
    settings: { infeasible: 'fail', fleetTypes: [...new Set(fleet.map((t) => t.name))] },
  });
  const out = process.stdout;
  out.write(`drm: coordinator ${server.url} (dashboard ${server.url}/), database ${opts.db}\n`);
  out.write(`drm: starting ${fleet.length} local worker(s): ${summarizeFleet(fleet)}\n`);

  const workers: LocalWorker[] = [];
  let shuttingDown = false;
  const counters = new Map<string, number>();
  for (const type of fleet) {
    const n = (counters.get(type.name) ?? 0) + 1;
    counters.set(type.name, n);
    const id = `local-${type.name}-${n}-${process.pid}`;
    const worker = await startLocalWorker({ id, type, coordinatorUrl: server.url, logFile: join(outputDir, 'logs', `${id}.log`), logLevel: opts.logLevel });
    // A local worker that dies is known dead at once: its tasks need not wait out the reconnect grace.
    void worker.exited.then((code) => {
      if (!shuttingDown) void server.coordinator.markWorkerGone(id, `local process exited (${code})`);
    });
    workers.push(worker);
  }

  let code = 1;
  try {
    // Submitting before the fleet has joined would place everything on whichever worker came first.
    await waitForFleet(server.coordinator, workers);
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
    shuttingDown = true;
    await Promise.all(workers.map((w) => w.stop()));
    await server.close();
    await store.close();
    logger.flush();
  }
  return code;
}

/**
 * The starting fleet: `--workers` as given, or one worker of the smallest type that fits each
 * distinct need of the suite (bounded by --max-workers).
 */
export function planFleet(counts: Map<string, number> | undefined, needs: ReturnType<typeof resources>[], types: readonly WorkerType[], maxWorkers: number): WorkerType[] {
  const fleet: WorkerType[] = [];
  if (counts) {
    for (const [name, count] of counts) {
      const type = findWorkerType(types, name);
      if (!type) throw new UsageError(`--workers: unknown worker type "${name}" (known: ${types.map((t) => t.name).join(', ')})`);
      for (let i = 0; i < count; i++) fleet.push(type);
    }
    if (fleet.length === 0) throw new UsageError('--workers: at least one worker is needed');
  } else {
    const names = new Set<string>();
    for (const need of needs) {
      const type = smallestFittingType(types, need);
      if (type) names.add(type.name);
    }
    if (names.size === 0) names.add(types[0].name);
    for (const name of names) fleet.push(findWorkerType(types, name)!);
  }
  if (fleet.length > maxWorkers) throw new UsageError(`the starting fleet (${fleet.length} workers) exceeds --max-workers ${maxWorkers}`);
  return fleet;
}

const FLEET_JOIN_TIMEOUT_MS = 60_000;

async function waitForFleet(coordinator: Coordinator, workers: LocalWorker[]): Promise<void> {
  const want = new Set(workers.map((w) => w.id));
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
    for (const w of workers) void w.exited.then((code) => reject(new Error(`local worker ${w.id} exited (${code}) before joining; see its log`)));
    check();
  });
}

function summarizeFleet(fleet: WorkerType[]): string {
  const counts = new Map<string, number>();
  for (const t of fleet) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
  return [...counts].map(([n, c]) => `${n}=${c}`).join(',');
}
