import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_WORKER_TYPES, findWorkerType } from '../../../src/core/worker-types.js';
import { createKubernetesProvider, type KubernetesProvider } from '../../../src/providers/kubernetes.js';
import { CloudProviderManager } from '../../../src/providers/manager.js';

const cpu = findWorkerType(BUILTIN_WORKER_TYPES, 'cpu')!;
const gpu = findWorkerType(BUILTIN_WORKER_TYPES, 'gpu')!;

interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  body: any;
}

/**
 * A fake Kubernetes API server: a real HTTP server on 127.0.0.1 that implements only pod create, list (with an
 * equality label selector) and delete in namespaces, and records every request.
 */
class FakeKubernetesApiServer {
  readonly requests: RecordedRequest[] = [];
  readonly pods = new Map<string, any>();
  /** Answer list calls with this body instead (to test response validation). */
  listOverride: unknown;
  private server!: Server;
  private uid = 0;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  setPhase(name: string, phase: string, reason?: string): void {
    const pod = [...this.pods.values()].find((p) => p.metadata.name === name);
    pod.status = { phase, ...(reason ? { reason } : {}) };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url!, 'http://fake');
    const body = text ? JSON.parse(text) : undefined;
    this.requests.push({ method: req.method!, path: url.pathname, query: url.searchParams, authorization: req.headers.authorization, body });

    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return this.send(res, 404, status(404, 'NotFound', `no route ${req.method} ${url.pathname}`));
    const [, ns, name] = m;
    const key = (n: string) => `${ns}/${n}`;
    if (req.method === 'POST' && !name) {
      const podName = body.metadata.name;
      if (this.pods.has(key(podName))) return this.send(res, 409, status(409, 'AlreadyExists', `pods "${podName}" already exists`));
      const pod = {
        ...body,
        metadata: { ...body.metadata, namespace: ns, uid: `uid-${++this.uid}`, resourceVersion: '1', creationTimestamp: '2026-01-02T03:04:05Z' },
        status: { phase: 'Pending' },
      };
      this.pods.set(key(podName), pod);
      return this.send(res, 201, pod);
    }
    if (req.method === 'GET' && !name) {
      if (this.listOverride !== undefined) return this.send(res, 200, this.listOverride);
      const selector = (url.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean).map((s) => s.split('='));
      const items = [...this.pods.entries()]
        .filter(([k]) => k.startsWith(`${ns}/`))
        .map(([, p]) => p)
        .filter((p) => selector.every(([k, v]) => p.metadata.labels?.[k] === v));
      return this.send(res, 200, { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '2' }, items });
    }
    if (req.method === 'DELETE' && name) {
      const pod = this.pods.get(key(name));
      if (!pod) return this.send(res, 404, status(404, 'NotFound', `pods "${name}" not found`));
      this.pods.delete(key(name));
      return this.send(res, 200, { ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2026-01-02T03:05:00Z' } });
    }
    return this.send(res, 405, status(405, 'MethodNotAllowed', `${req.method} not supported by the fake`));
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
}

function status(code: number, reason: string, message: string) {
  return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', message, reason, code };
}

describe('KubernetesProvider against a fake Kubernetes API server', () => {
  let fake: FakeKubernetesApiServer;
  let url: string;
  let provider: KubernetesProvider;

  beforeEach(async () => {
    fake = new FakeKubernetesApiServer();
    url = await fake.start();
    provider = await createKubernetesProvider({
      // The client refuses plain HTTP unless TLS verification is off; only the fake speaks plain HTTP.
      cluster: { server: url, token: 'k8s-api-token', skipTLSVerify: true },
      namespace: 'ci',
      image: 'registry.example/drm:1.0',
      tokenSecret: { name: 'drm-worker', key: 'token' },
      labels: { 'drm.dev/installation': 'test' },
    });
  });

  afterEach(async () => {
    await fake.stop();
  });

  it('creates a CPU worker Pod with requests and limits, ownership labels, the token from a Secret, and the drm worker command', async () => {
    const instance = await provider.create(cpu, { id: 'cpu-0a1b', coordinatorUrl: 'http://drm-coordinator.ci:7070', token: 'not-in-the-manifest' });
    expect(instance).toEqual({
      id: 'drm-worker-cpu-0a1b',
      workerId: 'cpu-0a1b',
      type: 'cpu',
      provider: 'kubernetes',
      state: 'starting',
      createdAt: Date.parse('2026-01-02T03:04:05Z'),
    });

    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0];
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/api/v1/namespaces/ci/pods');
    expect(req.authorization).toBe('Bearer k8s-api-token');
    const pod = req.body;
    expect(pod.metadata).toEqual({
      name: 'drm-worker-cpu-0a1b',
      namespace: 'ci',
      labels: { 'app.kubernetes.io/managed-by': 'drm', 'drm.dev/worker-type': 'cpu', 'drm.dev/worker-id': 'cpu-0a1b', 'drm.dev/installation': 'test' },
    });
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.containers).toHaveLength(1);
    const c = pod.spec.containers[0];
    expect(c.image).toBe('registry.example/drm:1.0');
    expect(c.command).toEqual(['drm', 'worker', '--coordinator', 'http://drm-coordinator.ci:7070', '--type', 'cpu', '--resources', 'cpu=4,memoryMb=16384', '--id', 'cpu-0a1b']);
    expect(c.env).toEqual([{ name: 'DRM_WORKER_TOKEN', valueFrom: { secretKeyRef: { name: 'drm-worker', key: 'token' } } }]);
    expect(c.resources).toEqual({ requests: { cpu: '4', memory: '16384Mi' }, limits: { cpu: '4', memory: '16384Mi' } });
    expect(JSON.stringify(pod)).not.toContain('not-in-the-manifest');
  });

  it('gives a GPU worker Pod an nvidia.com/gpu limit, and a plain token value when no Secret is configured', async () => {
    const plain = await createKubernetesProvider({ cluster: { server: url, skipTLSVerify: true }, image: 'drm:dev', command: ['node', '/app/dist/src/cli.js'] });
    expect(plain.namespace).toBe('default');
    await plain.create(gpu, { id: 'gpu-1', coordinatorUrl: 'http://c:7070', token: 'wt' });
    const c = fake.requests[0].body.spec.containers[0];
    expect(fake.requests[0].path).toBe('/api/v1/namespaces/default/pods');
    expect(c.resources).toEqual({ requests: { cpu: '8', memory: '32768Mi' }, limits: { cpu: '8', memory: '32768Mi', 'nvidia.com/gpu': '1' } });
    expect(c.env).toEqual([{ name: 'DRM_WORKER_TOKEN', value: 'wt' }]);
    expect(c.command.slice(0, 3)).toEqual(['node', '/app/dist/src/cli.js', 'worker']);
    expect(c.command).toContain('cpu=8,memoryMb=32768,gpus=1,gpuMemoryMb=16384');
    expect(fake.requests[0].body.metadata.labels['drm.dev/worker-type']).toBe('gpu');
  });

  it('lists its Pods by label selector and maps the Pod phase to the instance state', async () => {
    await provider.create(cpu, { id: 'a', coordinatorUrl: 'http://c' });
    await provider.create(cpu, { id: 'b', coordinatorUrl: 'http://c' });
    await provider.create(gpu, { id: 'c', coordinatorUrl: 'http://c' });
    // A pod another installation owns, in the same namespace: the selector leaves it out.
    fake.pods.set('ci/other', { metadata: { name: 'other', labels: { 'app.kubernetes.io/managed-by': 'drm' } }, status: { phase: 'Running' } });
    fake.setPhase('drm-worker-b', 'Running');
    fake.setPhase('drm-worker-c', 'Failed', 'OOMKilled');

    const list = await provider.list();
    const get = fake.requests.at(-1)!;
    expect(get.method).toBe('GET');
    expect(get.path).toBe('/api/v1/namespaces/ci/pods');
    expect(get.query.get('labelSelector')).toBe('drm.dev/installation=test,app.kubernetes.io/managed-by=drm');
    expect(list.map((i) => [i.workerId, i.type, i.state, i.reason])).toEqual([
      ['a', 'cpu', 'starting', undefined],
      ['b', 'cpu', 'running', undefined],
      ['c', 'gpu', 'terminated', 'pod Failed: OOMKilled'],
    ]);
  });

  it('deletes a Pod by name, and treats one already gone as deleted', async () => {
    await provider.create(cpu, { id: 'a', coordinatorUrl: 'http://c' });
    await provider.delete('drm-worker-a');
    expect(fake.requests.at(-1)).toMatchObject({ method: 'DELETE', path: '/api/v1/namespaces/ci/pods/drm-worker-a' });
    expect(fake.pods.size).toBe(0);
    await expect(provider.delete('drm-worker-a')).resolves.toBeUndefined();
    expect(await provider.list()).toEqual([]);
  });

  it('rejects a malformed API response naming the field', async () => {
    fake.listOverride = { kind: 'PodList', items: [{ metadata: { labels: {} } }] };
    await expect(provider.list()).rejects.toThrow(/unexpected pod list from the Kubernetes API: items\.0\.metadata\.name/);
  });

  it('refuses a worker id that cannot name a Pod, before calling the API', async () => {
    await expect(provider.create(cpu, { id: 'Bad_ID', coordinatorUrl: 'http://c' })).rejects.toThrow(/cannot name a Pod/);
    expect(fake.requests).toEqual([]);
  });

  it('drives the CloudProviderManager lifecycle through the fake API server', async () => {
    let n = 0;
    const manager = new CloudProviderManager({
      providers: [{ provider, types: [{ type: gpu, maxInstances: 1 }] }],
      coordinatorUrl: 'http://c:7070',
      newWorkerId: (t) => `${t}-${++n}`,
    });
    expect(await manager.provision('gpu', 2)).toMatchObject({ started: ['gpu-1'], rejected: 1 });
    fake.setPhase('drm-worker-gpu-1', 'Running');
    manager.observeWorkerJoined('gpu-1');
    await manager.reconcile();
    expect(manager.get('gpu-1')!.state).toBe('running');
    await manager.terminate('gpu-1');
    await manager.reconcile();
    expect(manager.get('gpu-1')).toMatchObject({ state: 'terminated', reason: 'terminated on request' });
    expect(fake.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'DELETE', 'GET']);
  });
});
