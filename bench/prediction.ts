import { mape, Predictor, type HistorySample } from '../src/core/predictor.js';
import { round, seeded, type Bench } from './figures.js';

// Prediction accuracy on a workload with known ground truth: each (model, batch) has a true duration
// and memory that scale with batch size (duration ~ batch^0.9, memory ~ batch^0.8) plus noise. The
// predictor learns from a training stream and is scored on held-out tasks, some of them at batch
// sizes it never saw (scaled estimates).

export const predictionBench: Bench = {
  name: 'prediction',
  description: 'predictor MAPE of duration and peak memory on a generated workload with known ground truth',
  async run(ctx) {
    const rand = seeded(42);
    const models = Array.from({ length: 12 }, (_, i) => ({ name: `model-${i}`, type: ['text_embedding', 'text_generation', 'vision'][i % 3], baseMs: 2000 + rand() * 20_000, baseMb: 500 + rand() * 4000 }));
    const truth = (m: (typeof models)[number], batch: number) => ({ durationMs: m.baseMs * batch ** 0.9, peakMemoryMb: m.baseMb * batch ** 0.8 });
    const noisy = (v: number) => v * (0.9 + rand() * 0.2); // +-10 %
    const predictor = new Predictor();
    const train = ctx.quick ? 300 : 2000;
    for (let i = 0; i < train; i++) {
      const m = models[Math.floor(rand() * models.length)];
      const batch = [1, 2, 4, 8, 16][Math.floor(rand() * 5)];
      const t = truth(m, batch);
      const sample: HistorySample = { name: `${m.name}-b${batch}`, modelType: m.type, modelName: m.name, batchSize: batch, succeeded: true, durationMs: noisy(t.durationMs), peakMemoryMb: noisy(t.peakMemoryMb), cpuSeconds: 1, finishedAt: i };
      predictor.add(sample);
    }
    const duration: Array<{ predicted: number; actual: number }> = [];
    const memory: Array<{ predicted: number; actual: number }> = [];
    for (const m of models) {
      for (const batch of [1, 4, 12, 32]) {
        const p = predictor.predict({ modelType: m.type, modelName: m.name, batchSize: batch });
        const t = truth(m, batch);
        duration.push({ predicted: p.durationMs, actual: t.durationMs });
        memory.push({ predicted: p.expectedPeakMemoryMb, actual: t.peakMemoryMb });
      }
    }
    const context = { trainingSamples: train, testShapes: duration.length, unseenBatchSizes: [12, 32] };
    return [
      { bench: 'prediction_mape_duration', value: round(mape(duration).mape ?? NaN), unit: '%', ...context },
      { bench: 'prediction_mape_memory', value: round(mape(memory).mape ?? NaN), unit: '%', ...context },
    ];
  },
};
