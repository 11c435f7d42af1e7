import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { runView } from '../../reports/views.js';
import type { Store } from '../../store/store.js';
import { notFound } from '../errors.js';
import { NoQuery, parseQuery } from './query.js';

const IdParams = z.strictObject({ id: z.string().min(1).max(200) });
const ListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(50) });

export function runsApi(store: Store) {
  return async function plugin(app: FastifyInstance) {
    app.get('/api/v1/runs', async (request) => {
      const { limit } = parseQuery(ListQuery, request.query);
      const runs = await store.listRuns(limit);
      return { runs: await Promise.all(runs.map(async (r) => runView(r, await store.listTasks({ runId: r.id })))) };
    });

    app.get('/api/v1/runs/:id', async (request) => {
      const { id } = IdParams.parse(request.params);
      parseQuery(NoQuery, request.query);
      const run = await store.getRun(id);
      if (!run) throw notFound('run', id);
      return runView(run, await store.listTasks({ runId: id }));
    });
  };
}
