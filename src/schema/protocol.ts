import { z } from 'zod';
import { ATTEMPT_STATUSES, ResourcesSchema, TaskKindSchema } from './task.js';

// The worker protocol (DESIGN.md section 6): JSON text frames on /api/v1/worker, each {type, ...}.

/** WebSocket close codes the coordinator uses; a worker gives up on 4001 and reconnects on the others. */
export const CloseCode = { unauthorized: 4001, badMessage: 4002, lost: 4008, replaced: 4009 } as const;

const Id = z.string().min(1).max(200);
// Process ids and exit codes are 32-bit integers (the tables store them as INTEGER).
const INT32_MAX = 2_147_483_647;
const Labels = z.record(z.string().min(1).max(128), z.string().max(256));

export const HelloSchema = z.strictObject({
  type: z.literal('hello'),
  workerId: Id,
  // `type` is the message discriminator, so the worker type travels as `workerType`.
  workerType: z.string().min(1).max(100),
  resources: ResourcesSchema,
  labels: Labels.default({}),
  provider: z.string().min(1).max(100).default('manual'),
  running: z.array(z.strictObject({ taskId: Id, attemptId: Id })).default([]),
});

export const UsageSchema = z.strictObject({
  cpu: z.number().min(0),
  memoryMb: z.number().min(0),
  gpus: z.number().min(0).optional(),
  gpuMemoryMb: z.number().min(0).optional(),
});

export const HeartbeatSchema = z.strictObject({ type: z.literal('heartbeat'), usage: UsageSchema });

export const StartedSchema = z.strictObject({ type: z.literal('started'), attemptId: Id, pid: z.number().int().positive().max(INT32_MAX) });

export const ResultSchema = z.strictObject({
  type: z.literal('result'),
  attemptId: Id,
  status: z.enum(ATTEMPT_STATUSES),
  exitCode: z.number().int().min(-INT32_MAX - 1).max(INT32_MAX).nullable(),
  durationMs: z.number().min(0),
  usage: z.strictObject({ peakMemoryMb: z.number().min(0), cpuSeconds: z.number().min(0) }),
  stdoutTail: z.string().max(1 << 20).default(''),
  stderrTail: z.string().max(1 << 20).default(''),
  reason: z.string().max(2000).optional(),
  junit: z.string().max(4 << 20).optional(),
});

export const WorkerMessageSchema = z.discriminatedUnion('type', [HelloSchema, HeartbeatSchema, StartedSchema, ResultSchema]);
export type WorkerMessage = z.output<typeof WorkerMessageSchema>;
export type HelloMessage = z.output<typeof HelloSchema>;
export type ResultMessage = z.output<typeof ResultSchema>;
export type Usage = z.output<typeof UsageSchema>;

/** What a worker needs to run one attempt. */
export const AssignedTaskSchema = z.strictObject({
  taskId: Id,
  name: z.string(),
  kind: TaskKindSchema,
  command: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()).default({}),
  /** Secret variables, apart from `env` so that the worker can mask their values in the task's output. */
  secretEnv: z.record(z.string(), z.string()).optional(),
  cwd: z.string().optional(),
  timeoutSec: z.number().positive(),
  resources: ResourcesSchema,
});
export type AssignedTask = z.output<typeof AssignedTaskSchema>;

export const CoordinatorMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('welcome'), workerId: Id, heartbeatMs: z.number().int().positive() }),
  z.strictObject({ type: z.literal('assign'), attemptId: Id, task: AssignedTaskSchema, gpuIndices: z.array(z.number().int().min(0)) }),
  z.strictObject({ type: z.literal('cancel'), attemptId: Id, reason: z.string().optional() }),
  z.strictObject({ type: z.literal('drain') }),
  z.strictObject({ type: z.literal('ack'), attemptId: Id }),
  z.strictObject({ type: z.literal('redirect'), leader: z.string() }),
  z.strictObject({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type CoordinatorMessage = z.output<typeof CoordinatorMessageSchema>;
