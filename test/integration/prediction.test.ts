import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, nodeTask } from '../helpers/cluster.js';

// The predictor learns from real finished attempts: after enough history, a task that declares no
// resources is reserved (and placed on) what it really used, and accuracy is reported.
describe('prediction from history', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.addWorker('cpu');
  });
  afterAll(async () => cluster?.stop());

  const shape = { modelType: 'text_embedding', modelName: 'tiny-embedder', batchSize: 8 };
  // Really holds ~60 MB for a moment.
  const script = 'const b = Buffer.alloc(60 * 1024 * 1024, 1); setTimeout(() => console.log(b.length), 250)';

  it('answers with built-in defaults before any history, and 400 naming the field for a bad shape', async () => {
    const res = await cluster.api('GET', '/api/v1/predictions?modelType=text_embedding&batchSize=8&modelName=tiny-embedder');
    expect(res.status).toBe(200);
    expect(res.body.prediction).toMatchObject({ method: 'default', matchType: 'category', samples: 0 });
    const bad = await cluster.api('GET', '/api/v1/predictions?batchSize=-4');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/batchSize/);
    expect((await cluster.api('GET', '/api/v1/predictions?bogus=1')).status).toBe(400);
  });

  it('learns from finished attempts and places an undeclared task on its prediction', async () => {
    for (let i = 0; i < 3; i++) {
      const { body } = await cluster.api('POST', '/api/v1/tasks', { tasks: [{ name: `embed-${i}`, command: nodeTask(script), ...shape }] });
      expect((await cluster.waitForRun(body.runId)).state).toBe('succeeded');
    }
    const history = await cluster.store.listTaskHistory({ modelType: 'text_embedding' });
    expect(history).toHaveLength(3);
    const peak = Math.max(...history.map((h) => h.peakMemoryMb));
    expect(peak).toBeGreaterThan(50);

    const res = await cluster.api('GET', '/api/v1/predictions?modelType=text_embedding&batchSize=8&modelName=tiny-embedder');
    expect(res.body.prediction).toMatchObject({ method: 'exact', matchType: 'model+batch', samples: 3 });
    // Memory is a high quantile plus headroom: above what was seen, far below the category default.
    expect(res.body.prediction.memoryMb).toBeGreaterThanOrEqual(peak);
    expect(res.body.prediction.memoryMb).toBeLessThan(peak * 2);

    const { body } = await cluster.api('POST', '/api/v1/tasks', { tasks: [{ name: 'embed-predicted', command: nodeTask(script), ...shape }] });
    const task = (await cluster.store.getTask(body.taskIds[0]))!;
    expect(task.declaredResources).toBeNull();
    expect(task.resources.memoryMb).toBe(res.body.prediction.memoryMb);
    expect((await cluster.waitForRun(body.runId)).state).toBe('succeeded');

    // That attempt carried a learned prediction: accuracy is now reported, the same in both places.
    const [latest] = await cluster.store.listTaskHistory({ name: 'embed-predicted' });
    expect(latest.predictedDurationMs).toBeGreaterThan(0);
    expect(latest.predictedMemoryMb).toBeGreaterThan(0);
    const clusterView = await cluster.api('GET', '/api/v1/cluster');
    expect(clusterView.body.prediction.samples).toBeGreaterThanOrEqual(1);
    expect(clusterView.body.prediction.mapeDuration).toEqual(expect.any(Number));
    const metrics = await (await fetch(`${cluster.url}/metrics`)).text();
    expect(metrics).toMatch(/^drm_prediction_mape_duration \d/m);
  });
});
