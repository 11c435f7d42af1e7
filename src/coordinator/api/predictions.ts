import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { TASK_KINDS } from '../../schema/task.js';
import type { Coordinator } from '../coordinator.js';

const ShapeQuery = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  kind: z.enum(TASK_KINDS).optional(),
  modelType: z.string().min(1).max(100).optional(),
  modelName: z.string().min(1).max(200).optional(),
  batchSize: z.coerce.number().int().positive().max(1_000_000).optional(),
  token: z.string().optional(),
});

/** `GET /api/v1/predictions?modelType=&batchSize=&modelName=&name=&kind=`: the predictor's estimate for a task shape. */
export function predictionsApi(coordinator: Coordinator) {
  return async function plugin(app: FastifyInstance) {
    app.get('/api/v1/predictions', async (request) => {
      const { token: _token, ...shape } = ShapeQuery.parse(request.query);
      return { shape, prediction: coordinator.predict(shape) };
    });
  };
}
