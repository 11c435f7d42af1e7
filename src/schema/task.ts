import { z } from 'zod';

// Task shapes that cross a boundary (API bodies, suite files, worker assignments) are defined here once.

// Custom resource names index plain objects everywhere in core/: `constructor` or `toString` would read
// Object.prototype's members instead of a count.
const CustomResourceName = z
  .string()
  .max(100)
  .regex(/^[A-Za-z][\w.-]*$/)
  .refine((name) => !(name in Object.prototype), 'reserved name');

export const ResourcesSchema = z.strictObject({
  cpu: z.number().min(0).max(4096).optional(),
  memoryMb: z.number().min(0).max(64 * 1024 * 1024).optional(),
  gpus: z.number().int().min(0).max(64).optional(),
  gpuMemoryMb: z.number().min(0).max(64 * 1024 * 1024).optional(),
  custom: z.record(CustomResourceName, z.number().min(0).max(1e12)).optional(),
});

export const TASK_KINDS = ['command', 'test', 'benchmark'] as const;
export const TaskKindSchema = z.enum(TASK_KINDS);

const NAME = /^[A-Za-z0-9][\w.:@/+-]*$/;
const Labels = z.record(z.string().min(1).max(128), z.string().max(256));
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const Env = z.record(z.string().max(256).regex(ENV_NAME, 'environment variable names are letters, digits and _'), z.string().max(128 * 1024));

/** A task as submitted through the API (suite files are expanded into this shape). */
export const TaskSpecSchema = z.strictObject({
  name: z.string().min(1).max(200).regex(NAME, 'letters, digits and ._:@/+- only, starting with a letter or digit'),
  kind: TaskKindSchema.default('command'),
  command: z.array(z.string()).min(1, 'command needs at least the program to run'),
  env: Env.optional(),
  /**
   * Variables whose values are secret: merged into the task's environment on the worker, never returned by
   * the API (shown as `***`), never logged, masked in the task's output (coordinator/secret-env.ts).
   */
  secretEnv: Env.optional(),
  cwd: z.string().min(1).optional(),
  resources: ResourcesSchema.optional(),
  labels: Labels.optional(),
  priority: z.number().int().min(-1000).max(1000).default(0),
  timeoutSec: z.number().positive().max(7 * 24 * 3600).default(600),
  maxRetries: z.number().int().min(0).max(100).default(0),
  dependsOn: z.array(z.string().min(1)).optional(),
  modelType: z.string().min(1).max(100).optional(),
  modelName: z.string().min(1).max(200).optional(),
  batchSize: z.number().int().positive().max(1_000_000_000).optional(),
});
export type TaskSpecInput = z.input<typeof TaskSpecSchema>;
export type TaskSpec = z.output<typeof TaskSpecSchema>;

export const SubmitBodySchema = z.strictObject({
  suite: z.string().min(1).max(200).optional(),
  tasks: z.array(TaskSpecSchema).min(1, 'a submission needs at least one task').max(100_000),
});
export type SubmitBody = z.output<typeof SubmitBodySchema>;

export const TASK_STATES = ['pending', 'assigned', 'running', 'succeeded', 'failed', 'timed_out', 'canceled'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const TERMINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['succeeded', 'failed', 'timed_out', 'canceled']);

export const RUN_STATES = ['running', 'succeeded', 'failed', 'canceled'] as const;
export type RunState = (typeof RUN_STATES)[number];

export const WORKER_STATES = ['connecting', 'active', 'draining', 'lost', 'terminated'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

/** How an attempt ended, as the worker reports it. */
export const ATTEMPT_STATUSES = ['succeeded', 'failed', 'timed_out', 'canceled'] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];
