import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Coordinator } from '../coordinator.js';

const IdParams = z.strictObject({ id: z.string().min(1).max(200) });

export function workersApi(coordinator: Coordinator) {
  return async function plugin(app: FastifyInstance) {
    app.get('/api/v1/workers', async () => ({ workers: coordinator.workerViews() }));

    app.post('/api/v1/workers/:id/drain', async (request) => {
      const { id } = IdParams.parse(request.params);
      const w = await coordinator.drain(id);
      return { id: w.id, state: w.state };
    });
  };
}
