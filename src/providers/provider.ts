// The provider interface (Karpenter's cloudprovider, reduced): everything specific to where workers run hides
// behind create / delete / list. A provider reports what it observes about its instances; it does not know whether a
// worker joined the coordinator: CloudProviderManager combines both into the instance lifecycle.

import type { WorkerType } from '../core/worker-types.js';

/**
 * Instance lifecycle. A provider reports `starting` (created, not running yet), `running` (its process or pod runs),
 * `terminating` (deletion requested, still there) and `terminated` (gone, exited or failed). The manager adds
 * `requested` (create call in flight), `draining` (the coordinator drains its worker) and, for `running`, requires
 * that the worker joined the coordinator.
 */
export type InstanceState = 'requested' | 'starting' | 'running' | 'draining' | 'terminating' | 'terminated';

export interface Instance {
  /** The provider's id for it (a pod name, a local process key). */
  id: string;
  /** The worker id it runs with (`drm worker --id`). */
  workerId: string;
  /** Worker type name. */
  type: string;
  /** Provider name. */
  provider: string;
  state: InstanceState;
  /** Epoch ms. */
  createdAt: number;
  /** Why it is terminated, when known (exit code, pod phase). */
  reason?: string;
}

export interface CreateOptions {
  /** The worker id to run with. */
  id: string;
  coordinatorUrl: string;
  /** Worker token (the provider passes it out of process lists and manifests where it can). */
  token?: string;
}

export interface Provider {
  readonly name: string;
  /** Starts an instance for `type`; resolves once the provider accepted it (not when the worker joined). */
  create(type: WorkerType, opts: CreateOptions): Promise<Instance>;
  /** Requests deletion; resolves once requested. Deleting an instance that is already gone is not an error. */
  delete(instanceId: string): Promise<void>;
  /** The instances this provider manages, as observed now. */
  list(): Promise<Instance[]>;
}
