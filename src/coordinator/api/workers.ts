import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Coordinator } from '../coordinator.js';
import { NoQuery, parseQuery } from './query.js';

const IdParams = z.strictObject({ id: z.string().min(1).max(200) });

export function workersApi(coordinator: Coordinator) {
  return async function plugin(app: FastifyInstance) {
    app.get('/api/v1/workers', async (request) => {
      parseQuery(NoQuery, request.query);
      return { workers: coordinator.workerViews() };
    });

    app.post('/api/v1/workers/:id/drain', async (request) => {
      const { id } = IdParams.parse(request.params);
      parseQuery(NoQuery, request.query);
      const w = await coordinator.drain(id);
      return { id: w.id, state: w.state };
    });
  };
}
