import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SubmitBodySchema, TASK_STATES } from '../../schema/task.js';
import { attemptView, taskView } from '../../reports/views.js';
import type { CoordinatorLimits } from '../config.js';
import type { Coordinator } from '../coordinator.js';
import { ApiError, notFound } from '../errors.js';
import { maskedEnv } from '../secret-env.js';
import type { Store, TaskRecord } from '../../store/store.js';
import { NoQuery, parseQuery } from './query.js';

const ListQuery = z.strictObject({
  state: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()))
    .pipe(z.array(z.enum(TASK_STATES)))
    .optional(),
  runId: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100_000).optional(),
});
const IdParams = z.strictObject({ id: z.string().min(1).max(200) });

export function tasksApi(coordinator: Coordinator, store: Store, limits: Pick<CoordinatorLimits, 'tasksPerSubmission'>) {
  const view = (t: TaskRecord) => {
    const live = coordinator.liveTask(t.id);
    const v = taskView(live?.task ?? t);
    if (live?.pendingReason && v.state === 'pending') v.reason = live.pendingReason;
    return v;
  };
  return async function plugin(app: FastifyInstance) {
    app.post('/api/v1/tasks', async (request, reply) => {
      parseQuery(NoQuery, request.query);
      // Counted before the tasks are validated one by one: a huge submission is refused cheaply.
      const raw = request.body as { tasks?: unknown } | null;
      const count = typeof raw === 'object' && raw !== null && Array.isArray(raw.tasks) ? raw.tasks.length : 0;
      if (count > limits.tasksPerSubmission) {
        throw new ApiError(413, 'too_many_tasks', `a submission may hold at most ${limits.tasksPerSubmission} tasks (got ${count}); split it, or raise limits.tasksPerSubmission`, {
          limit: limits.tasksPerSubmission,
          tasks: count,
        });
      }
      const body = SubmitBodySchema.parse(request.body);
      const result = await coordinator.submit(body);
      return reply.status(201).send(result);
    });

    app.get('/api/v1/tasks', async (request) => {
      const q = parseQuery(ListQuery, request.query);
      const tasks = await store.listTasks({ states: q.state, runId: q.runId, limit: q.limit ?? 1000 });
      return { tasks: tasks.map(view) };
    });

    app.get('/api/v1/tasks/:id', async (request) => {
      const { id } = IdParams.parse(request.params);
      parseQuery(NoQuery, request.query);
      const task = await store.getTask(id);
      if (!task) throw notFound('task', id);
      const attempts = await store.listAttempts(id);
      return {
        ...view(task),
        command: task.command,
        // Secret values never leave the coordinator through the API.
        env: maskedEnv(task.env),
        cwd: task.cwd,
        labels: task.labels,
        timeoutSec: task.timeoutSec,
        maxRetries: task.maxRetries,
        stdoutTail: task.stdoutTail,
        stderrTail: task.stderrTail,
        history: attempts.map(attemptView),
      };
    });

    app.post('/api/v1/tasks/:id/cancel', async (request) => {
      const { id } = IdParams.parse(request.params);
      parseQuery(NoQuery, request.query);
      const task = await coordinator.cancel(id);
      return taskView(task);
    });
  };
}
