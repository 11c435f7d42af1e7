import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { TASK_KINDS } from '../../schema/task.js';
import type { Coordinator } from '../coordinator.js';
import { parseQuery } from './query.js';

const ShapeQuery = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  kind: z.enum(TASK_KINDS).optional(),
  modelType: z.string().min(1).max(100).optional(),
  modelName: z.string().min(1).max(200).optional(),
  batchSize: z.coerce.number().int().positive().max(1_000_000).optional(),
});

/** `GET /api/v1/predictions?modelType=&batchSize=&modelName=&name=&kind=`: the predictor's estimate for a task shape. */
export function predictionsApi(coordinator: Coordinator) {
  return async function plugin(app: FastifyInstance) {
    app.get('/api/v1/predictions', async (request) => {
      const shape = parseQuery(ShapeQuery, request.query);
      return { shape, prediction: coordinator.predict(shape) };
    });
  };
}
