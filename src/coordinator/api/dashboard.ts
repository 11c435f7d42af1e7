import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { historyAccuracy, type PredictionAccuracySource } from '../../dashboard/accuracy.js';
import { loadDashboardAssets, type StaticAsset } from '../../dashboard/assets.js';
import { DashboardFeed, DEFAULT_FEED_OPTIONS, type DashboardFeedOptions } from '../../dashboard/feed.js';
import type { Store } from '../../store/store.js';
import type { Coordinator } from '../coordinator.js';
import { notFound } from '../errors.js';
import { parseQuery } from './query.js';

const AssetParams = z.strictObject({ name: z.string().min(1).max(100) });
const FeedQuery = z.strictObject({ since: z.coerce.number().min(0).optional() });

// The page pulls data only from /api/ (token-checked); it may talk to nothing else, load nothing
// from elsewhere, and be framed by no one. uPlot sets inline styles, hence 'unsafe-inline' for styles.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export interface DashboardApiOptions {
  predictionAccuracy?: PredictionAccuracySource;
  feed?: Partial<DashboardFeedOptions>;
}

/**
 * The dashboard page and its assets at `/` and `/assets/*` (no token: they hold no data), and
 * `GET /api/v1/dashboard`: the sampled time series, finished-task counts and prediction accuracy.
 */
export function dashboardApi(coordinator: Coordinator, store: Store, opts: DashboardApiOptions = {}) {
  const accuracy = opts.predictionAccuracy ?? historyAccuracy(store);
  return async function plugin(app: FastifyInstance) {
    const { index, assets } = await loadDashboardAssets();
    const feed = new DashboardFeed(coordinator, { ...DEFAULT_FEED_OPTIONS, ...opts.feed });
    feed.start();
    app.addHook('onClose', async () => feed.stop());

    // Unversioned URLs: `no-cache` makes the browser revalidate (a cheap 304) so an upgraded
    // coordinator never serves a new page with an old script.
    const send = (asset: StaticAsset, request: FastifyRequest, reply: FastifyReply) => {
      reply.header('cache-control', 'no-cache').header('etag', asset.etag).header('x-content-type-options', 'nosniff');
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
      return reply.type(asset.contentType).send(asset.body);
    };

    app.get('/', async (request, reply) => send(index, request, reply.header('content-security-policy', CSP)));
    app.get('/assets/:name', async (request, reply) => {
      const { name } = AssetParams.parse(request.params);
      const asset = assets.get(name);
      if (!asset) throw notFound('asset', name);
      return send(asset, request, reply);
    });

    app.get('/api/v1/dashboard', async (request) => {
      const { since } = parseQuery(FeedQuery, request.query);
      return {
        startedAt: new Date(feed.startedAt).toISOString(),
        sampleMs: feed.options.sampleMs,
        points: feed.since(since),
        finished: feed.finished,
        predictionAccuracy: await accuracy(),
      };
    });
  };
}
