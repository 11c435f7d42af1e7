import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Coordinator } from '../coordinator.js';
import type { DrmEventName, DrmEvents } from '../events.js';
import { parseQuery } from './query.js';

// `token`: EventSource cannot send headers (checked in auth.ts, ignored here).
const Query = z.strictObject({ runId: z.string().min(1).max(200).optional(), token: z.string().optional() });
const KEEPALIVE_MS = 15_000;

/** Server-sent events: every task, worker and run event, optionally only those of one run. */
export function eventsApi(coordinator: Coordinator) {
  return async function plugin(app: FastifyInstance) {
    app.get('/api/v1/events', (request, reply) => {
      const { runId } = parseQuery(Query, request.query);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      res.write(': connected\n\n');
      const send = <K extends DrmEventName>(name: K) => (payload: DrmEvents[K]) => {
        if (runId && 'runId' in payload && payload.runId !== runId) return;
        res.write(`event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`);
      };
      const offs = [coordinator.bus.on('task', send('task')), coordinator.bus.on('worker', send('worker')), coordinator.bus.on('run', send('run'))];
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
      request.raw.on('close', () => {
        clearInterval(keepalive);
        for (const off of offs) off();
      });
    });
  };
}
