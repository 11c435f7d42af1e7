import { describe, it, expect } from 'vitest';
import {
  AccuracyTracker,
  batchScale,
  categoryOf,
  DEFAULT_CATEGORY_ESTIMATES,
  DEFAULT_SCALING_EXPONENTS,
  fitScalingExponent,
  mape,
  Predictor,
  quantile,
  toResources,
  validateSample,
  validateShape,
  type HistorySample,
  type TaskShape,
} from '../../../src/core/predictor.js';
import { classify } from '../../../src/core/classify.js';
import { DEFAULT_TASK_RESOURCES, resources } from '../../../src/core/resources.js';
import type { TaskHistoryRecord } from '../../../src/store/store.js';
import { seededRandom } from '../../helpers/random.js';

let clock = 0;
function sample(over: Partial<HistorySample> = {}): HistorySample {
  return {
    name: 'task',
    kind: 'benchmark',
    modelType: null,
    modelName: null,
    batchSize: null,
    labels: {},
    workerType: 'cpu',
    succeeded: true,
    durationMs: 1000,
    peakMemoryMb: 100,
    cpuSeconds: 1,
    gpuMemoryMb: null,
    finishedAt: clock++,
    ...over,
  };
}

function times(n: number, over: Partial<HistorySample> | ((i: number) => Partial<HistorySample>)): HistorySample[] {
  return Array.from({ length: n }, (_, i) => sample(typeof over === 'function' ? over(i) : over));
}

function learned(rows: HistorySample[], opts = {}): Predictor {
  const p = new Predictor(opts);
  for (const r of rows) expect(p.add(r)).toEqual({ ok: true });
  return p;
}

describe('categories and defaults', () => {
  it('maps common modelType spellings to categories', () => {
    expect(categoryOf('llm')).toBe('text_generation');
    expect(categoryOf('text-generation')).toBe('text_generation');
    expect(categoryOf('Text_Generation')).toBe('text_generation');
    expect(categoryOf('embedding')).toBe('text_embedding');
    expect(categoryOf('text_embedding')).toBe('text_embedding');
    expect(categoryOf('image_classification')).toBe('vision');
    expect(categoryOf('vision')).toBe('vision');
    expect(categoryOf('speech')).toBe('audio');
    expect(categoryOf('audio')).toBe('audio');
    expect(categoryOf('multimodal')).toBe('multimodal');
    expect(categoryOf('tabular')).toBe('default');
    expect(categoryOf(null)).toBe('default');
    expect(categoryOf(undefined)).toBe('default');
  });

  it('answers from the category table with no history', () => {
    const p = new Predictor();
    const llm = p.predict({ modelType: 'llm', batchSize: 4 });
    expect(llm).toMatchObject({ method: 'default', matchType: 'category', samples: 0, category: 'text_generation' });
    expect(llm.gpus).toBe(1);
    expect(llm.gpuMemoryMb).toBeGreaterThanOrEqual(7000);
    expect(llm.taskClass).toBe('gpu-bound');
    const embed = p.predict({ modelType: 'embedding' });
    expect(embed.gpus).toBe(0);
    expect(embed.category).toBe('text_embedding');
    const plain = p.predict({ name: 'unit-math' });
    expect(toResources(plain)).toEqual(resources(DEFAULT_TASK_RESOURCES));
    expect(plain.confidence).toBeGreaterThan(0);
    expect(plain.confidence).toBeLessThan(0.2);
  });

  it('every category default fits a built-in worker type', () => {
    for (const d of Object.values(DEFAULT_CATEGORY_ESTIMATES)) {
      if (d.gpus > 0) expect(d.cpu <= 8 && d.memoryMb <= 32768 && d.gpuMemoryMb <= 16384).toBe(true);
      else expect(d.cpu <= 4 && d.memoryMb <= 16384).toBe(true);
    }
  });

  it('lets defaults be overridden per category', () => {
    const p = new Predictor({ defaults: { vision: { gpus: 0, gpuMemoryMb: 0, cpu: 3 } } });
    expect(p.predict({ modelType: 'vision' })).toMatchObject({ gpus: 0, gpuMemoryMb: 0, cpu: 3, memoryMb: 4096 });
  });
});

describe('method levels and fallback order', () => {
  // One shape that every level can see: name "bench@4", model "bert", type "embedding", batch 4.
  const shape = { name: 'bench@4', modelName: 'bert', modelType: 'embedding', batchSize: 4 };
  const queries: [string, TaskShape, string, string][] = [
    ['exact by name', { ...shape }, 'exact', 'name'],
    ['exact by model and batch', { ...shape, name: 'other' }, 'exact', 'model+batch'],
    ['model scaled', { ...shape, name: 'other', batchSize: 8 }, 'model_scaled', 'model'],
    ['model type', { ...shape, name: 'other', modelName: 'roberta' }, 'model_type', 'modelType+batch'],
    ['model type scaled', { ...shape, name: 'other', modelName: 'roberta', batchSize: 8 }, 'model_type_scaled', 'modelType'],
    ['default', { ...shape, name: 'other', modelName: 'roberta', modelType: 'llm', batchSize: 8 }, 'default', 'category'],
  ];

  for (const [label, query, method, matchType] of queries) {
    it(`${label}: chosen once there are minSamples, not before`, () => {
      const p = new Predictor();
      for (let i = 0; i < 2; i++) p.add(sample(shape));
      expect(p.predict(query).method).toBe('default');
      p.add(sample(shape));
      expect(p.predict(query)).toMatchObject({ method, matchType, samples: method === 'default' ? 0 : 3 });
    });
  }

  it('prefers the most specific level that has enough samples', () => {
    const p = new Predictor();
    // 3 rows for model bert at batch 8 only, 2 rows of this exact name: the name level is too thin.
    for (let i = 0; i < 3; i++) p.add(sample({ name: 'x@8', modelName: 'bert', modelType: 'embedding', batchSize: 8, durationMs: 800 }));
    for (let i = 0; i < 2; i++) p.add(sample({ ...shape, durationMs: 400 }));
    const pr = p.predict(shape);
    expect(pr).toMatchObject({ method: 'model_scaled', matchType: 'model', samples: 5 });
    p.add(sample({ ...shape, durationMs: 400 }));
    expect(p.predict(shape)).toMatchObject({ method: 'exact', matchType: 'name', durationMs: 400 });
  });

  it('model level is tried before modelType level, scaled model before modelType+batch', () => {
    const p = new Predictor();
    for (let i = 0; i < 3; i++) p.add(sample({ name: 'a', modelName: 'bert', modelType: 'embedding', batchSize: 16 }));
    for (let i = 0; i < 3; i++) p.add(sample({ name: 'b', modelName: 'minilm', modelType: 'embedding', batchSize: 4 }));
    expect(p.predict({ modelName: 'bert', modelType: 'embedding', batchSize: 4 }).method).toBe('model_scaled');
    expect(p.predict({ modelName: 'e5', modelType: 'embedding', batchSize: 4 }).method).toBe('model_type');
  });

  it('minSamples is configurable', () => {
    const five = new Predictor({ minSamples: 5 });
    for (let i = 0; i < 4; i++) five.add(sample({ name: 'n' }));
    expect(five.predict({ name: 'n' }).method).toBe('default');
    five.add(sample({ name: 'n' }));
    expect(five.predict({ name: 'n' })).toMatchObject({ method: 'exact', samples: 5 });

    const one = new Predictor({ minSamples: 1 });
    one.add(sample({ name: 'n' }));
    expect(one.predict({ name: 'n' }).method).toBe('exact');
    expect(() => new Predictor({ minSamples: 0 })).toThrow(/minSamples/);
  });

  it('the name level matches the batch size too, and a missing batch size is its own key', () => {
    const p = learned(times(3, { name: 'n', batchSize: 4 }));
    expect(p.predict({ name: 'n', batchSize: 4 }).method).toBe('exact');
    expect(p.predict({ name: 'n', batchSize: 8 }).method).toBe('default');
    expect(p.predict({ name: 'n' }).method).toBe('default');
    const q = learned(times(3, { name: 'n', modelName: 'm' }));
    expect(q.predict({ name: 'n' }).method).toBe('exact');
    expect(q.predict({ modelName: 'm' })).toMatchObject({ method: 'exact', matchType: 'model+batch' });
  });

  it('failed attempts do not count as samples', () => {
    const p = new Predictor();
    p.add(sample({ name: 'n' }));
    p.add(sample({ name: 'n' }));
    p.add(sample({ name: 'n', succeeded: false, durationMs: 5, peakMemoryMb: 99999 }));
    expect(p.predict({ name: 'n' }).method).toBe('default');
    expect(p.stats()).toMatchObject({ accepted: 2, failed: 1, rejected: 0 });
  });
});

describe('estimates', () => {
  it('memory is the p90 of peak memory plus 20% headroom; duration the median', () => {
    const rows = times(10, (i) => ({ name: 'n', peakMemoryMb: 100 * (i + 1), durationMs: [10, 20, 30, 40, 50, 60, 70, 80, 90, 5000][i] }));
    const p = learned(rows);
    const pr = p.predict({ name: 'n' });
    const p90 = quantile(Float64Array.from(rows.map((r) => r.peakMemoryMb)).sort(), 0.9);
    expect(p90).toBe(910);
    expect(pr.memoryMb).toBeGreaterThanOrEqual(p90);
    expect(pr.memoryMb).toBe(Math.ceil(910 * 1.2));
    expect(pr.durationMs).toBe(55); // the median ignores the 5000 ms outlier
    expect(pr.expectedPeakMemoryMb).toBe(550);
  });

  it('memory quantile and headroom are configurable', () => {
    const rows = times(10, (i) => ({ name: 'n', peakMemoryMb: 100 * (i + 1) }));
    expect(learned(rows, { memoryQuantile: 0.5, memoryHeadroom: 1 }).predict({ name: 'n' }).memoryMb).toBe(550);
    expect(learned(rows, { memoryQuantile: 1, memoryHeadroom: 1.5 }).predict({ name: 'n' }).memoryMb).toBe(1500);
  });

  it('cpu is the median of cpuSeconds per wall second, rounded up to 0.1 and clamped', () => {
    expect(learned(times(3, { name: 'n', durationMs: 2000, cpuSeconds: 3 })).predict({ name: 'n' }).cpu).toBe(1.5);
    expect(learned(times(3, { name: 'n', durationMs: 1000, cpuSeconds: 1.23 })).predict({ name: 'n' }).cpu).toBe(1.3);
    expect(learned(times(3, { name: 'n', durationMs: 1000, cpuSeconds: 0 })).predict({ name: 'n' }).cpu).toBe(0.1);
    expect(learned(times(3, { name: 'n', durationMs: 1000, cpuSeconds: 500 })).predict({ name: 'n' }).cpu).toBe(64);
    expect(learned(times(3, { name: 'n', durationMs: 1000, cpuSeconds: 500 }), { maxCpu: 8 }).predict({ name: 'n' }).cpu).toBe(8);
    // Zero-length runs say nothing about the rate: the category default fills in.
    expect(learned(times(3, { name: 'n', durationMs: 0, cpuSeconds: 0 })).predict({ name: 'n' }).cpu).toBe(1);
  });

  it('learns GPU use from measured GPU memory; unmeasured keeps the category default', () => {
    const used = learned(times(5, (i) => ({ name: 'n', modelType: 'embedding', gpuMemoryMb: 1000 + 100 * i })));
    const pr = used.predict({ name: 'n', modelType: 'embedding' });
    expect(pr.gpus).toBe(1);
    expect(pr.gpuMemoryMb).toBe(Math.ceil(quantile([1000, 1100, 1200, 1300, 1400], 0.9) * 1.2));
    expect(pr.taskClass).toBe('gpu-bound');

    const none = learned(times(3, { name: 'n', modelType: 'llm', gpuMemoryMb: 0 }));
    expect(none.predict({ name: 'n', modelType: 'llm' })).toMatchObject({ gpus: 0, gpuMemoryMb: 0 });

    const unmeasured = learned(times(3, { name: 'n', modelType: 'llm', gpuMemoryMb: null }));
    expect(unmeasured.predict({ name: 'n', modelType: 'llm' })).toMatchObject({ method: 'exact', gpus: 1, gpuMemoryMb: 8000 });
  });

  it('keeps only the most recent maxSamplesPerKey samples per key', () => {
    const p = new Predictor({ maxSamplesPerKey: 5 });
    for (const r of times(10, { name: 'n', durationMs: 100 })) p.add(r);
    for (const r of times(5, { name: 'n', durationMs: 200 })) p.add(r);
    expect(p.predict({ name: 'n' })).toMatchObject({ durationMs: 200, samples: 5 });
  });

  it('fromHistory orders rows by finishedAt, so the store order does not matter', () => {
    const rows = times(40, (i) => ({ name: 'n', durationMs: 100 + i, finishedAt: i }));
    const shuffled = [...rows].sort((a, b) => ((a.durationMs * 7919) % 41) - ((b.durationMs * 7919) % 41));
    const opts = { maxSamplesPerKey: 10 };
    const a = Predictor.fromHistory(rows, opts).predict({ name: 'n' });
    const b = Predictor.fromHistory(shuffled, opts).predict({ name: 'n' });
    expect(a).toEqual(b);
    expect(a.durationMs).toBe(Math.round((134 + 135) / 2)); // the 10 newest: 130..139
  });

  it('accepts store TaskHistoryRecord rows as they are', () => {
    const row: TaskHistoryRecord = {
      attemptId: 'a1', taskId: 't1', name: 'n', kind: 'test', modelType: null, modelName: null, batchSize: null,
      labels: {}, workerType: 'cpu', succeeded: true, durationMs: 10, peakMemoryMb: 10, cpuSeconds: 0.01,
      gpuMemoryMb: null, predictedDurationMs: null, predictedMemoryMb: null, finishedAt: 1,
    };
    const p = Predictor.fromHistory([row, row, row]);
    expect(p.predict({ name: 'n' }).method).toBe('exact');
  });

  it('is deterministic', () => {
    const build = () => {
      const r = seededRandom(7);
      return learned(times(200, (i) => ({ name: `n${i % 5}`, modelName: 'm', modelType: 'llm', batchSize: 2 ** (i % 4), durationMs: 1000 * r() + 1, peakMemoryMb: 500 * r() + 1, cpuSeconds: r() })));
    };
    const a = build();
    const b = build();
    for (const q of [{ name: 'n1', batchSize: 2 }, { modelName: 'm', batchSize: 64 }, { modelType: 'llm', batchSize: 3 }]) {
      expect(a.predict(q)).toEqual(b.predict(q));
    }
  });
});

describe('confidence', () => {
  it('grows with samples, drops with spread, and is higher for more specific levels', () => {
    const few = learned(times(3, { name: 'n' })).predict({ name: 'n' });
    const many = learned(times(30, { name: 'n' })).predict({ name: 'n' });
    expect(few.confidence).toBe(0.5); // 1 * 3/(3+3) * 1/(1+0)
    expect(many.confidence).toBeCloseTo(30 / 33, 3);
    const spread = learned(times(30, (i) => ({ name: 'n', durationMs: i % 2 === 0 ? 100 : 1900 }))).predict({ name: 'n' });
    expect(spread.confidence).toBeLessThan(many.confidence);
    expect(spread.confidence).toBeCloseTo((30 / 33) * (1 / 1.9), 3); // cv of {100, 1900} = 0.9

    const p = learned(times(3, { name: 'n', modelName: 'm', modelType: 't', batchSize: 2 }));
    const levels = [
      p.predict({ name: 'n', batchSize: 2 }),
      p.predict({ modelName: 'm', batchSize: 4 }),
      p.predict({ modelType: 't', batchSize: 2 }),
      p.predict({ modelType: 't', batchSize: 4 }),
      p.predict({ modelType: 'x' }),
    ];
    expect(levels.map((l) => l.method)).toEqual(['exact', 'model_scaled', 'model_type', 'model_type_scaled', 'default']);
    for (let i = 1; i < levels.length; i++) expect(levels[i].confidence).toBeLessThan(levels[i - 1].confidence);
    for (const l of levels) expect(l.confidence).toBeGreaterThanOrEqual(0);
  });
});

describe('batch scaling', () => {
  it('fits the log-log slope once there are 3 distinct batch sizes', () => {
    expect(fitScalingExponent([{ batch: 1, value: 10 }, { batch: 2, value: 20 }, { batch: 4, value: 40 }])).toBeCloseTo(1, 9);
    expect(fitScalingExponent([1, 4, 16, 64].map((b) => ({ batch: b, value: 3 * Math.sqrt(b) })))).toBeCloseTo(0.5, 9);
    expect(fitScalingExponent([{ batch: 1, value: 10 }, { batch: 2, value: 20 }])).toBeUndefined();
    expect(fitScalingExponent([{ batch: 1, value: 10 }, { batch: 2, value: 20 }], 2)).toBeCloseTo(1, 9);
    expect(fitScalingExponent([{ batch: 4, value: 1 }, { batch: 4, value: 2 }, { batch: 4, value: 3 }])).toBeUndefined();
    // Clamped: shrinking with batch size, or absurdly steep, does not extrapolate.
    expect(fitScalingExponent([1, 2, 4].map((b) => ({ batch: b, value: 100 / b })))).toBe(0);
    expect(fitScalingExponent([1, 2, 4].map((b) => ({ batch: b, value: b ** 5 })))).toBe(2);
  });

  it('from batch 4 to batch 8 the factor is between 1.5 and 2.5 on roughly linear data', () => {
    const r = seededRandom(42);
    const noise = () => 0.9 + 0.2 * r();
    const rows: HistorySample[] = [];
    for (const b of [1, 2, 4, 16]) {
      for (let i = 0; i < 6; i++) {
        rows.push(sample({ name: `bench@${b}`, modelName: 'resnet', modelType: 'vision', batchSize: b, durationMs: 250 * b * noise(), peakMemoryMb: 300 * b * noise(), cpuSeconds: 0.25 * b * noise(), gpuMemoryMb: 500 * b * noise() }));
      }
    }
    const p = learned(rows);
    const at4 = p.predict({ modelName: 'resnet', batchSize: 4 });
    const at8 = p.predict({ modelName: 'resnet', batchSize: 8 });
    expect(at4.method).toBe('exact');
    expect(at8.method).toBe('model_scaled');
    for (const k of ['durationMs', 'memoryMb', 'gpuMemoryMb'] as const) {
      const factor = at8[k] / at4[k];
      expect(factor, k).toBeGreaterThanOrEqual(1.5);
      expect(factor, k).toBeLessThanOrEqual(2.5);
    }
    // The fitted exponent itself, and the factor it gives.
    const e = fitScalingExponent(rows.map((s) => ({ batch: s.batchSize!, value: s.durationMs })))!;
    expect(batchScale(4, 8, e)).toBeGreaterThanOrEqual(1.5);
    expect(batchScale(4, 8, e)).toBeLessThanOrEqual(2.5);
    // Same at the modelType level.
    const t8 = p.predict({ modelName: 'other', modelType: 'vision', batchSize: 8 });
    expect(t8.method).toBe('model_type_scaled');
    expect(t8.durationMs / at4.durationMs).toBeGreaterThanOrEqual(1.5);
    expect(t8.durationMs / at4.durationMs).toBeLessThanOrEqual(2.5);
  });

  it('uses the default exponents with fewer than 3 batch sizes', () => {
    const rows = times(3, { modelName: 'm', batchSize: 4, durationMs: 1000, peakMemoryMb: 1000, cpuSeconds: 1, gpuMemoryMb: 1000 });
    rows.push(...times(3, { modelName: 'm', batchSize: 2, durationMs: 1000 / 2 ** 0.9, peakMemoryMb: 1000 / 2 ** 0.8, cpuSeconds: (1000 / 2 ** 0.9 / 1000) / 2 ** 0.3, gpuMemoryMb: 1000 / 2 ** 0.9 }));
    const pr = learned(rows).predict({ modelName: 'm', batchSize: 8 });
    expect(pr.method).toBe('model_scaled');
    expect(pr.samples).toBe(6);
    const e = DEFAULT_SCALING_EXPONENTS;
    expect(pr.durationMs).toBe(Math.round(1000 * 2 ** e.durationMs));
    expect(pr.memoryMb).toBe(Math.ceil(1000 * 2 ** e.memoryMb * 1.2 - 1e-6));
    expect(pr.gpuMemoryMb).toBe(Math.ceil(1000 * 2 ** e.gpuMemoryMb * 1.2 - 1e-6));
    expect(pr.cpu).toBe(Math.ceil(2 ** e.cpu * 10) / 10);
    // Defaults alone put the 4 -> 8 factor inside the same band.
    for (const x of [e.durationMs, e.memoryMb, e.gpuMemoryMb]) {
      expect(batchScale(4, 8, x)).toBeGreaterThanOrEqual(1.5);
      expect(batchScale(4, 8, x)).toBeLessThanOrEqual(2.5);
    }
    // And they are configurable.
    const lin = learned(rows, { defaultExponents: { durationMs: 1 } }).predict({ modelName: 'm', batchSize: 8 });
    expect(lin.durationMs).toBeGreaterThan(pr.durationMs);
  });
});

describe('invalid history', () => {
  const bad: [Partial<HistorySample>, RegExp][] = [
    [{ durationMs: -1 }, /durationMs: must not be negative/],
    [{ durationMs: NaN }, /durationMs: expected a number/],
    [{ durationMs: Infinity }, /durationMs: must be finite/],
    [{ peakMemoryMb: -5 }, /peakMemoryMb/],
    [{ peakMemoryMb: NaN }, /peakMemoryMb/],
    [{ cpuSeconds: -0.1 }, /cpuSeconds/],
    [{ cpuSeconds: Infinity }, /cpuSeconds/],
    [{ gpuMemoryMb: -1 }, /gpuMemoryMb/],
    [{ batchSize: 0 }, /batchSize: expected a positive number/],
    [{ batchSize: -4 }, /batchSize/],
    [{ durationMs: '5' as unknown as number }, /durationMs/],
    [{ finishedAt: NaN }, /finishedAt/],
  ];

  for (const [over, reason] of bad) {
    it(`rejects ${JSON.stringify(over)} with a reason`, () => {
      const check = validateSample(sample(over));
      expect(check.ok).toBe(false);
      if (!check.ok) expect(check.reason).toMatch(reason);
    });
  }

  it('never lets rejected rows change an estimate', () => {
    const good = times(5, (i) => ({ name: 'n', modelName: 'm', modelType: 'llm', batchSize: 4, durationMs: 1000 + i, peakMemoryMb: 500 + i }));
    const clean = learned(good);
    const poisoned = new Predictor();
    for (const r of good) poisoned.add(r);
    for (const [over] of bad) {
      const check = poisoned.add(sample({ name: 'n', modelName: 'm', modelType: 'llm', batchSize: 4, ...over }));
      expect(check.ok).toBe(false);
    }
    expect(poisoned.stats()).toMatchObject({ accepted: 5, rejected: bad.length });
    expect(poisoned.stats().lastRejection).toMatch(/finishedAt/);
    for (const q of [{ name: 'n', batchSize: 4 }, { modelName: 'm', batchSize: 8 }, { modelType: 'llm', batchSize: 4 }, { modelType: 'llm', batchSize: 2 }]) {
      expect(poisoned.predict(q)).toEqual(clean.predict(q));
    }
    // A rejected row alone does not create a level either.
    const only = new Predictor({ minSamples: 1 });
    only.add(sample({ name: 'z', durationMs: -1 }));
    expect(only.predict({ name: 'z' }).method).toBe('default');
  });

  it('names the bad field of a prediction request', () => {
    expect(validateShape({ modelType: 'llm', batchSize: 8 })).toBeUndefined();
    expect(validateShape({ batchSize: 0 })).toMatchObject({ field: 'batchSize' });
    expect(validateShape({ batchSize: NaN })).toMatchObject({ field: 'batchSize' });
    expect(validateShape({ modelType: 5 as unknown as string })).toMatchObject({ field: 'modelType' });
  });
});

describe('classify', () => {
  it('classifies by the dominant need, with documented thresholds', () => {
    expect(classify(resources({ cpu: 1, memoryMb: 512, gpus: 1, gpuMemoryMb: 4000 }))).toBe('gpu-bound');
    expect(classify(resources({ cpu: 1, memoryMb: 512, gpuMemoryMb: 100 }))).toBe('gpu-bound');
    expect(classify(resources({ cpu: 1, memoryMb: 8192 }))).toBe('memory-bound');
    expect(classify(resources({ cpu: 2, memoryMb: 40000 }))).toBe('memory-bound');
    expect(classify(resources({ cpu: 2, memoryMb: 1024 }))).toBe('cpu-bound');
    expect(classify(resources({ cpu: 8, memoryMb: 8192 }))).toBe('cpu-bound'); // 8 cores > 8192 / 4096
    expect(classify(resources({ cpu: 1, memoryMb: 512 }))).toBe('default');
    expect(classify(resources({ cpu: 1.9, memoryMb: 8191 }))).toBe('default');
    expect(classify(resources({ cpu: 1, memoryMb: 4000 }), { memoryMb: 2048 })).toBe('memory-bound');
  });

  it('is part of every prediction', () => {
    const p = learned(times(3, { name: 'big', peakMemoryMb: 20000, durationMs: 1000, cpuSeconds: 1 }));
    expect(p.predict({ name: 'big' }).taskClass).toBe('memory-bound');
    expect(new Predictor().predict({ modelType: 'audio' }).taskClass).toBe('cpu-bound');
  });
});

describe('accuracy', () => {
  it('mape is the mean absolute percentage error, ignoring pairs without a prediction or with actual 0', () => {
    expect(mape([])).toEqual({ mape: null, count: 0 });
    expect(mape([{ predicted: 110, actual: 100 }, { predicted: 50, actual: 100 }])).toEqual({ mape: 30, count: 2 });
    expect(mape([{ predicted: null, actual: 100 }, { predicted: undefined, actual: 5 }, { predicted: 10, actual: 0 }, { predicted: 90, actual: 100 }])).toEqual({ mape: 10, count: 1 });
  });

  it('tracks running MAPE of duration and memory', () => {
    const t = new AccuracyTracker();
    expect(t.report()).toEqual({ duration: { mape: null, count: 0 }, memory: { mape: null, count: 0 } });
    t.record({ durationMs: 120, memoryMb: 100 }, { durationMs: 100, peakMemoryMb: 200 });
    t.record(null, { durationMs: 100, peakMemoryMb: 100 });
    t.record({ durationMs: null, memoryMb: 300 }, { durationMs: 100, peakMemoryMb: 300 });
    t.record({ durationMs: 90 }, { durationMs: 100, peakMemoryMb: 100 });
    const r = t.report();
    expect(r.duration.count).toBe(2);
    expect(r.duration.mape).toBeCloseTo(15, 9);
    expect(r.memory).toEqual({ mape: 25, count: 2 });
  });

  it('on a workload with known ground truth the learned estimates are close', () => {
    const r = seededRandom(3);
    const truth = (b: number) => ({ durationMs: 40 * b, peakMemoryMb: 200 + 0 * b });
    const p = new Predictor();
    const t = new AccuracyTracker();
    for (let i = 0; i < 300; i++) {
      const b = [1, 2, 4, 8][i % 4];
      const shape = { name: `embed@${b}`, modelName: 'bert', modelType: 'embedding', batchSize: b };
      const actual = { durationMs: truth(b).durationMs * (0.9 + 0.2 * r()), peakMemoryMb: truth(b).peakMemoryMb * (0.95 + 0.1 * r()) };
      const pr = p.predict(shape);
      if (pr.method !== 'default') t.record({ durationMs: pr.durationMs, memoryMb: pr.expectedPeakMemoryMb }, actual);
      p.add(sample({ ...shape, ...actual, cpuSeconds: actual.durationMs / 1000 }));
    }
    const rep = t.report();
    expect(rep.duration.count).toBeGreaterThan(250);
    expect(rep.duration.mape!).toBeLessThan(10);
    expect(rep.memory.mape!).toBeLessThan(5);
  });
});

describe('scale', () => {
  it('100k history rows stay cheap to add and to predict from', () => {
    const r = seededRandom(11);
    const rows = Array.from({ length: 100_000 }, (_, i) =>
      sample({ name: `t${i % 500}`, modelName: `m${i % 40}`, modelType: ['llm', 'embedding', 'vision'][i % 3], batchSize: 2 ** (i % 6), durationMs: 1000 * r() + 1, peakMemoryMb: 1000 * r() + 1, cpuSeconds: r() }),
    );
    const started = performance.now();
    const p = new Predictor();
    for (const row of rows) p.add(row);
    const added = performance.now();
    for (let i = 0; i < 2000; i++) p.predict({ name: `t${i % 600}`, modelName: `m${i % 50}`, modelType: 'llm', batchSize: 1 + (i % 70) });
    const predicted = performance.now();
    expect(p.stats().accepted).toBe(100_000);
    // Generous bounds for a loaded 2-core machine; typical figures are far lower.
    expect(added - started).toBeLessThan(1500);
    expect(predicted - added).toBeLessThan(1500);
  });
});
