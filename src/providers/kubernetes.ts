// The `kubernetes` provider: one worker Pod per instance, through @kubernetes/client-node's CoreV1Api.
//
// The Pod runs `drm worker` with the type's declared resources (a container sees the node's cores and memory, so
// detection would overstate what it may use), asks the scheduler for exactly those as requests AND limits (so it
// is not over-committed and not throttled below what drm reserves for tasks), and GPU types get `nvidia.com/gpu`
// as a limit (the device plugin's extended resource; requests default to limits for those). Pods are labelled for
// ownership and found again by label selector. restartPolicy is Never: a worker that exits ends its instance, which
// the manager then observes, instead of a crash loop under the same name.
//
// Responses are validated with zod at this boundary (only the fields used), so a surprising API server fails with a
// message naming the field rather than with an undefined deep in the manager.

import type { V1Pod } from '@kubernetes/client-node';
import { z } from 'zod';
import { formatResources, type Resources } from '../core/resources.js';
import type { WorkerType } from '../core/worker-types.js';
import type { CreateOptions, Instance, InstanceState, Provider } from './provider.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const WORKER_TYPE_LABEL = 'drm.dev/worker-type';
export const WORKER_ID_LABEL = 'drm.dev/worker-id';
const POD_PREFIX = 'drm-worker-';
// The pod name doubles as the container hostname, a DNS label: at most 63 characters.
const MAX_WORKER_ID = 63 - POD_PREFIX.length;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** The part of CoreV1Api this provider uses (CoreV1Api itself fits; tests may pass another). */
export interface PodApi {
  createNamespacedPod(param: { namespace: string; body: V1Pod }): Promise<unknown>;
  listNamespacedPod(param: { namespace: string; labelSelector?: string }): Promise<unknown>;
  deleteNamespacedPod(param: { name: string; namespace: string; gracePeriodSeconds?: number }): Promise<unknown>;
}

export interface KubernetesProviderOptions {
  api: PodApi;
  /** Default "default" (createKubernetesProvider: the kubeconfig context's namespace). */
  namespace?: string;
  /** An image with `drm` on its PATH (or see `command`). */
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** How the image runs drm (default ["drm"]); `worker ...` arguments follow. */
  command?: string[];
  /**
   * The worker token from a Secret (recommended: a literal value would be readable by anyone who can read Pods).
   * Without it, the token given to create() is set as a plain env value.
   */
  tokenSecret?: { name: string; key: string };
  serviceAccountName?: string;
  nodeSelector?: Record<string, string>;
  /** Extra labels on every Pod, also added to the list selector (to tell several drm installations apart). */
  labels?: Record<string, string>;
  /** Extended resource name for GPUs (default "nvidia.com/gpu"). */
  gpuResourceName?: string;
  terminationGracePeriodSeconds?: number;
  now?: () => number;
}

const Timestamp = z.union([z.date(), z.string()]).nullish();

const PodSchema = z.object({
  metadata: z.object({
    name: z.string(),
    labels: z.record(z.string(), z.string()).nullish(),
    creationTimestamp: Timestamp,
    deletionTimestamp: Timestamp,
  }),
  status: z
    .object({
      phase: z.string().nullish(),
      reason: z.string().nullish(),
      message: z.string().nullish(),
    })
    .nullish(),
});
type ObservedPod = z.infer<typeof PodSchema>;

const PodListSchema = z.object({ items: z.array(PodSchema) });

export class KubernetesProvider implements Provider {
  readonly name = 'kubernetes';
  readonly namespace: string;
  private readonly now: () => number;

  constructor(private readonly opts: KubernetesProviderOptions) {
    this.namespace = opts.namespace ?? 'default';
    this.now = opts.now ?? Date.now;
    for (const [k, v] of Object.entries(opts.labels ?? {})) {
      if (!LABEL_VALUE.test(v) || v.length > 63) throw new Error(`label ${k}: "${v}" is not a valid Kubernetes label value`);
    }
  }

  /** The Pod manifest for a worker (exported for inspection; create() sends exactly this). */
  podFor(type: WorkerType, opts: CreateOptions): V1Pod {
    if (!DNS_LABEL.test(opts.id) || opts.id.length > MAX_WORKER_ID) {
      throw new Error(`worker id "${opts.id}" cannot name a Pod: use lowercase letters, digits and '-', at most ${MAX_WORKER_ID} characters`);
    }
    if (!LABEL_VALUE.test(type.name) || type.name.length > 63) throw new Error(`worker type "${type.name}" is not a valid Kubernetes label value`);
    const args = ['worker', '--coordinator', opts.coordinatorUrl, '--type', type.name, '--resources', formatResources(type.resources), '--id', opts.id];
    if (type.labels && Object.keys(type.labels).length > 0) args.push('--labels', Object.entries(type.labels).map(([k, v]) => `${k}=${v}`).join(','));
    const env: NonNullable<NonNullable<V1Pod['spec']>['containers'][number]['env']> = [];
    if (this.opts.tokenSecret) env.push({ name: 'DRM_WORKER_TOKEN', valueFrom: { secretKeyRef: { name: this.opts.tokenSecret.name, key: this.opts.tokenSecret.key } } });
    else if (opts.token) env.push({ name: 'DRM_WORKER_TOKEN', value: opts.token });
    const requests = quantities(type.resources);
    const limits: Record<string, string> = { ...requests };
    if (type.resources.gpus > 0) limits[this.opts.gpuResourceName ?? 'nvidia.com/gpu'] = String(Math.ceil(type.resources.gpus));
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: POD_PREFIX + opts.id,
        namespace: this.namespace,
        labels: { ...this.opts.labels, [MANAGED_BY_LABEL]: 'drm', [WORKER_TYPE_LABEL]: type.name, [WORKER_ID_LABEL]: opts.id },
      },
      spec: {
        restartPolicy: 'Never',
        ...(this.opts.serviceAccountName ? { serviceAccountName: this.opts.serviceAccountName } : {}),
        ...(this.opts.nodeSelector ? { nodeSelector: { ...this.opts.nodeSelector } } : {}),
        ...(this.opts.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: this.opts.terminationGracePeriodSeconds } : {}),
        containers: [
          {
            name: 'worker',
            image: this.opts.image,
            ...(this.opts.imagePullPolicy ? { imagePullPolicy: this.opts.imagePullPolicy } : {}),
            command: [...(this.opts.command ?? ['drm']), ...args],
            env,
            resources: { requests, limits },
          },
        ],
      },
    };
  }

  async create(type: WorkerType, opts: CreateOptions): Promise<Instance> {
    const body = this.podFor(type, opts);
    const created = parse(PodSchema, await this.opts.api.createNamespacedPod({ namespace: this.namespace, body }), 'created pod');
    return this.instanceOf(created);
  }

  async delete(instanceId: string): Promise<void> {
    try {
      await this.opts.api.deleteNamespacedPod({ name: instanceId, namespace: this.namespace });
    } catch (err) {
      // Already gone is what we wanted.
      if ((err as { code?: unknown }).code === 404) return;
      throw err;
    }
  }

  async list(): Promise<Instance[]> {
    const labelSelector = Object.entries({ ...this.opts.labels, [MANAGED_BY_LABEL]: 'drm' })
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const list = parse(PodListSchema, await this.opts.api.listNamespacedPod({ namespace: this.namespace, labelSelector }), 'pod list');
    return list.items.map((p) => this.instanceOf(p)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private instanceOf(pod: ObservedPod): Instance {
    const labels = pod.metadata.labels ?? {};
    const { state, reason } = podState(pod);
    const created = pod.metadata.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : NaN;
    return {
      id: pod.metadata.name,
      workerId: labels[WORKER_ID_LABEL] ?? pod.metadata.name.replace(POD_PREFIX, ''),
      type: labels[WORKER_TYPE_LABEL] ?? 'unknown',
      provider: this.name,
      state,
      createdAt: Number.isFinite(created) ? created : this.now(),
      ...(reason ? { reason } : {}),
    };
  }
}

/** Pod phase (and deletion) as an instance state. */
export function podState(pod: ObservedPod): { state: InstanceState; reason?: string } {
  const phase = pod.status?.phase ?? 'Pending';
  if (phase === 'Succeeded' || phase === 'Failed') {
    const detail = pod.status?.reason ? `: ${pod.status.reason}` : '';
    return { state: 'terminated', reason: `pod ${phase}${detail}` };
  }
  if (pod.metadata.deletionTimestamp) return { state: 'terminating' };
  // Unknown: the node stopped reporting; the pod may still run, so it is not counted as gone.
  return { state: phase === 'Running' ? 'running' : 'starting' };
}

/**
 * Builds a provider from a kubeconfig: the default chain (KUBECONFIG, ~/.kube/config, in-cluster service account)
 * or an explicit cluster. The client library is loaded only here, so a coordinator without Kubernetes never pays
 * for it.
 */
export async function createKubernetesProvider(
  opts: Omit<KubernetesProviderOptions, 'api'> & { cluster?: { server: string; token?: string; skipTLSVerify?: boolean; caData?: string } },
): Promise<KubernetesProvider> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (opts.cluster) {
    kc.loadFromOptions({
      clusters: [{ name: 'drm', server: opts.cluster.server, skipTLSVerify: opts.cluster.skipTLSVerify ?? false, ...(opts.cluster.caData ? { caData: opts.cluster.caData } : {}) }],
      users: [{ name: 'drm', ...(opts.cluster.token ? { token: opts.cluster.token } : {}) }],
      contexts: [{ name: 'drm', cluster: 'drm', user: 'drm', ...(opts.namespace ? { namespace: opts.namespace } : {}) }],
      currentContext: 'drm',
    });
  } else {
    kc.loadFromDefault();
  }
  const namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const { cluster: _cluster, ...rest } = opts;
  return new KubernetesProvider({ ...rest, namespace, api: kc.makeApiClient(k8s.CoreV1Api) });
}

/** cpu and memory as Kubernetes quantities: whole cores or millicores, mebibytes. */
function quantities(r: Resources): Record<string, string> {
  const cpu = Number.isInteger(r.cpu) ? String(r.cpu) : `${Math.ceil(r.cpu * 1000)}m`;
  return { cpu, memory: `${Math.ceil(r.memoryMb)}Mi` };
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
  throw new Error(`unexpected ${what} from the Kubernetes API: ${path}: ${issue.message}`);
}
