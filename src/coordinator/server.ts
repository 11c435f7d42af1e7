import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import { historyAccuracy } from '../dashboard/accuracy.js';
import { clusterApi } from './api/cluster.js';
import { predictionsApi } from './api/predictions.js';
import { dashboardApi } from './api/dashboard.js';
import { eventsApi } from './api/events.js';
import { metricsApi } from './api/metrics.js';
import { runsApi } from './api/runs.js';
import { tasksApi } from './api/tasks.js';
import { workersApi } from './api/workers.js';
import { checkApiToken } from './auth.js';
import { resolveSettings, type CoordinatorSettings, type SettingsInput } from './config.js';
import { Coordinator } from './coordinator.js';
import { ApiError, registerErrorHandler } from './errors.js';
import type { RejectionReason } from './events.js';
import { newId } from './ids.js';
import { ConnectionLimiter } from './limits.js';
import { SecretEnv } from './secret-env.js';
import type { ManagedInstance } from '../providers/manager.js';
import { ScalingExecutor, type ScalingExecutorOptions } from './scaling-executor.js';
import { Leadership } from './leadership.js';
import { attachWorkerSocket } from './worker-socket.js';

export interface CoordinatorServerOptions {
  store: Store;
  logger: Logger;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** API and dashboard token. */
  token?: string;
  /** Worker token; defaults to `token`. */
  workerToken?: string;
  /** Serve HTTPS and WSS with this certificate and key (PEM); plain HTTP without. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Defaults in config.ts; `limits` and `retry` may be given in part. */
  settings?: SettingsInput;
  /**
   * High availability: several coordinators share the store (PostgreSQL); one leads (lease with a
   * fencing epoch), the others serve /healthz, answer /readyz with 503 and redirect workers and clients.
   */
  ha?: boolean;
  /**
   * Autoscaling: given this coordinator's URL (for new workers) and the callback the providers' manager
   * must report instance changes to, returns the manager, the types it may create and the policy's config.
   */
  scaling?: (url: string, onInstanceChange: (instance: ManagedInstance) => void) => Omit<ScalingExecutorOptions, 'coordinator' | 'logger'>;
}

export interface CoordinatorServer {
  id: string;
  url: string;
  port: number;
  coordinator: Coordinator;
  scaling: ScalingExecutor | null;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Starts the coordinator: rebuilds its view from the store, then serves the API and worker protocol. */
export async function startCoordinatorServer(opts: CoordinatorServerOptions): Promise<CoordinatorServer> {
  const settings: CoordinatorSettings = resolveSettings(opts.settings);
  const { limits } = settings;
  const log = opts.logger;
  const tokens = { api: opts.token, worker: opts.workerToken ?? opts.token };
  const id = newId('coord');
  let url = '';
  let leadership: Leadership | null = null;
  const coordinator = new Coordinator({
    store: opts.store,
    logger: log,
    settings,
    fence: () => leadership?.fence(),
    onFenced: (err) => void leadership?.onFenced(err),
    // Derived from the token, so a restarted coordinator (or another of an HA group) opens the same secrets.
    secrets: SecretEnv.forToken(tokens.api ?? tokens.worker),
  });
  const rejected = (reason: RejectionReason) => coordinator.bus.emit('rejection', { reason, at: Date.now() });
  // Without HA this coordinator leads once it has rebuilt its view; with HA, only while it holds the lease.
  const leads = () => (leadership ? leadership.isLeader() && coordinator.active : coordinator.active);
  const leaderUrl = () => (leadership ? leadership.leader() : url);

  const fastifyOptions = {
    loggerInstance: log as FastifyBaseLogger,
    // Per-request lines would drown the task and worker events that matter.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.bodyBytes,
    // A URL the router cannot decode (bad percent-encoding) is refused before any hook runs: same error shape.
    frameworkErrors: (err: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      rejected('invalid_request');
      return reply.code(400).send({ error: { code: 'bad_url', message: err.message, details: null } });
    },
  };
  // One server either way: the worker protocol's WebSocket upgrade shares it (wss:// with TLS).
  const app = (opts.tls ? Fastify({ ...fastifyOptions, https: { cert: opts.tls.cert, key: opts.tls.key } }) : Fastify(fastifyOptions)) as unknown as FastifyInstance;
  registerErrorHandler(app, limits, rejected);
  const connections = new ConnectionLimiter(limits.connectionsPerAddress, limits.exemptLoopback);
  connections.attach(app.server);
  // Limits first, then the token: an over-limit client learns nothing more.
  app.addHook('onRequest', async (request) => {
    if (connections.isOverLimit(request.raw.socket)) {
      throw new ApiError(429, 'too_many_connections', `too many open connections from ${request.ip} (limit ${limits.connectionsPerAddress}); close some and retry`);
    }
    checkApiToken(request, tokens);
  });

  const leader = () => ({ id: leadership && !leads() ? null : id, url: leaderUrl() });
  // A follower sends API clients to the leader (307 keeps method and body), or says none is known yet.
  app.addHook('onRequest', async (request, reply) => {
    if (leads() || !request.routeOptions.url?.startsWith('/api/')) return;
    const target = leaderUrl();
    if (target && target !== url) return reply.redirect(target + request.url, 307);
    throw new ApiError(503, 'no_leader', 'this coordinator is a follower and no leader is known yet; retry shortly');
  });
  await app.register(tasksApi(coordinator, opts.store, limits));
  await app.register(runsApi(opts.store));
  await app.register(workersApi(coordinator));
  // One accuracy source, so /api/v1/cluster, /metrics and the dashboard report the same figure.
  const predictionAccuracy = historyAccuracy(opts.store);
  await app.register(clusterApi(coordinator, opts.store, leader, predictionAccuracy));
  await app.register(eventsApi(coordinator));
  await app.register(predictionsApi(coordinator));
  await app.register(metricsApi(coordinator, opts.store, { predictionAccuracy }));
  await app.register(dashboardApi(coordinator, opts.store, { predictionAccuracy }));

  const wss = attachWorkerSocket(app, coordinator, log, {
    leads,
    leaderUrl,
    workerToken: tokens.worker,
    maxFrameBytes: limits.frameBytes,
    helloTimeoutMs: 10_000,
    overLimit: (socket) => connections.isOverLimit(socket),
    onRejection: rejected,
  });
  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 7070 });
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  url = `${opts.tls ? 'https' : 'http'}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}`;
  log.info({ url, coordinatorId: id }, 'coordinator listening');
  let scaling: ScalingExecutor | null = null;
  if (opts.scaling) {
    const executor: ScalingExecutor = new ScalingExecutor({ ...opts.scaling(url, (i) => executor.onInstanceChange(i)), coordinator, logger: log });
    scaling = executor;
  }
  if (opts.ha) {
    leadership = new Leadership(opts.store, Leadership.holderId(id, url), { ttlMs: settings.leaseTtlMs, renewMs: settings.leaseRenewMs }, {
      onElected: async () => {
        const started = Date.now();
        await coordinator.start();
        scaling?.start();
        log.info({ coordinatorId: id, rebuildMs: Date.now() - started }, 'leading: view rebuilt from the store');
      },
      onDeposed: async (reason) => {
        await scaling?.stop();
        await coordinator.deactivate(leadership?.leader() ?? null);
        log.warn({ coordinatorId: id, reason }, 'following: stopped scheduling');
      },
    }, log);
    await leadership.start();
  } else {
    // Rebuilt only now that workers can reach us: their restart grace must not run out while we load.
    await coordinator.start();
    scaling?.start();
  }

  return {
    id,
    url,
    port: addr.port,
    coordinator,
    scaling,
    app,
    async close() {
      await scaling?.stop();
      await leadership?.stop();
      await coordinator.stop();
      for (const client of wss.clients) client.terminate();
      wss.close();
      await app.close();
    },
  };
}
