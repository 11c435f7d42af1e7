import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { PredictionAccuracySource } from '../../dashboard/accuracy.js';
import type { Store } from '../../store/store.js';
import type { Coordinator } from '../coordinator.js';
import { NoQuery, parseQuery } from './query.js';

const DecisionsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(10_000).default(100) });

export function clusterApi(coordinator: Coordinator, store: Store, leader: () => { id: string | null; url: string | null }, predictionAccuracy: PredictionAccuracySource) {
  return async function plugin(app: FastifyInstance) {
    app.get('/api/v1/cluster', async (request) => {
      parseQuery(NoQuery, request.query);
      return { ...coordinator.clusterView(), prediction: await predictionAccuracy(), leader: leader() };
    });

    app.get('/api/v1/scaling/decisions', async (request) => {
      const { limit } = parseQuery(DecisionsQuery, request.query);
      const decisions = await store.listScalingDecisions(limit);
      return { decisions: decisions.map((d) => ({ ...d, at: new Date(d.at).toISOString() })) };
    });

    app.get('/healthz', async () => ({ ok: true }));
    // Readiness means "this coordinator leads and schedules": a follower answers 503 and names the leader.
    app.get('/readyz', async (_request, reply) => {
      const ready = coordinator.active;
      return reply.status(ready ? 200 : 503).send({ ready, leader: leader() });
    });
  };
}
