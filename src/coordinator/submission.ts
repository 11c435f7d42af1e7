import { fits, resources, formatResources, type Resources } from '../core/resources.js';
import type { WorkerType } from '../core/worker-types.js';
import type { SubmitBody } from '../schema/task.js';
import type { RunRecord, TaskRecord } from '../store/store.js';
import { ApiError } from './errors.js';
import { newId } from './ids.js';
import type { SecretEnv } from './secret-env.js';

// Shared, frozen empties: a coordinator holds every queued task, and 100,000 empty objects add up.
const NONE: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NO_DEPENDENCIES: string[] = Object.freeze([]) as unknown as string[];

/**
 * Turns a validated submission into the run and task records to store. Checks what the schema
 * cannot: unique names, known dependencies, no cycles. Throws ApiError(400) naming the task.
 */
export function planSubmission(body: SubmitBody, now: number, nextSeq: () => number, estimate: (task: SubmitBody['tasks'][number]) => Resources, secrets: SecretEnv): { run: RunRecord; tasks: TaskRecord[] } {
  const run: RunRecord = { id: newId('run'), name: body.suite ?? 'api', state: 'running', createdAt: now, startedAt: now, finishedAt: null };
  const idByName = new Map<string, string>();
  body.tasks.forEach((t, i) => {
    if (idByName.has(t.name)) throw invalid(`tasks.${i}.name`, `duplicate task name "${t.name}"`);
    idByName.set(t.name, newId('task'));
  });
  const tasks = body.tasks.map((t, i): TaskRecord => {
    for (const name of Object.keys(t.secretEnv ?? {})) {
      if (t.env && Object.hasOwn(t.env, name)) throw invalid(`tasks.${i}.secretEnv.${name}`, `task "${t.name}" sets ${name} in both env and secretEnv`);
    }
    const dependsOn = (t.dependsOn ?? []).map((dep, j) => {
      const id = idByName.get(dep);
      if (!id) throw invalid(`tasks.${i}.dependsOn.${j}`, `task "${t.name}" depends on unknown task "${dep}"`);
      return id;
    });
    const declared = t.resources ? resources(t.resources) : null;
    return {
      id: idByName.get(t.name)!,
      runId: run.id,
      seq: nextSeq(),
      name: t.name,
      kind: t.kind,
      command: t.command,
      // Secret values are sealed before they reach the store (coordinator/secret-env.ts).
      env: t.secretEnv && Object.keys(t.secretEnv).length > 0 ? secrets.toStored(t.env, t.secretEnv) : t.env && Object.keys(t.env).length > 0 ? t.env : NONE,
      cwd: t.cwd ?? null,
      declaredResources: declared,
      // A task that declares nothing is reserved what the predictor expects it to need.
      resources: declared ?? estimate(t),
      labels: t.labels && Object.keys(t.labels).length > 0 ? t.labels : NONE,
      priority: t.priority,
      timeoutSec: t.timeoutSec,
      maxRetries: t.maxRetries,
      dependsOn: dependsOn.length > 0 ? dependsOn : NO_DEPENDENCIES,
      suite: body.suite ?? null,
      modelType: t.modelType ?? null,
      modelName: t.modelName ?? null,
      batchSize: t.batchSize ?? null,
      state: 'pending',
      attempts: 0,
      currentAttemptId: null,
      workerId: null,
      workerType: null,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      exitCode: null,
      peakMemoryMb: null,
      cpuSeconds: null,
      reason: null,
      stdoutTail: null,
      stderrTail: null,
    };
  });
  const cycle = findCycle(tasks);
  if (cycle) throw invalid('tasks', `dependency cycle: ${cycle.join(' -> ')}`);
  return { run, tasks };
}

/** Why no worker type in `types` can ever hold `request`, or null when one can. */
export function infeasibleReason(request: Resources, types: readonly WorkerType[]): string | null {
  if (types.some((t) => fits(request, t.resources))) return null;
  const names = types.map((t) => t.name).join(', ') || 'none';
  return `no worker type can ever fit it (needs ${formatResources(request)}; types: ${names})`;
}

function invalid(path: string, message: string): ApiError {
  return new ApiError(400, 'invalid_request', message, [{ path, message }]);
}

function findCycle(tasks: readonly TaskRecord[]): string[] | null {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const color = new Map<string, 1 | 2>(); // 1 = on the stack, 2 = done
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    color.set(id, 1);
    stack.push(id);
    for (const dep of byId.get(id)!.dependsOn) {
      if (color.get(dep) === 1) return [...stack.slice(stack.indexOf(dep)), dep].map((d) => byId.get(d)!.name);
      if (!color.has(dep)) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    stack.pop();
    color.set(id, 2);
    return null;
  };
  for (const t of tasks) {
    if (!color.has(t.id)) {
      const found = visit(t.id);
      if (found) return found;
    }
  }
  return null;
}
