// The ResourcePerformancePredictor: learns from finished attempts (task_history) what a task shape needs and how
// long it runs, and answers with an estimate, the method that produced it and how far to trust it.
//
// Pure and deterministic: no I/O, no clock. The same samples added in the same order give the same predictions.
//
// Levels, most specific first; each needs at least `minSamples` successful samples:
//   exact              same name and batch size ('name'), or same modelName and batch size ('model+batch')
//   model_scaled       same modelName, every batch size, scaled to the requested batch size ('model')
//   model_type         same modelType and batch size ('modelType+batch')
//   model_type_scaled  same modelType, every batch size, scaled ('modelType')
//   default            built-in table per category of the modelType ('category')
// (A missing batch size is a batch size of its own for the exact levels; the scaled levels need one.)
//
// Estimates: memory = quantile (p90) of peak memory x headroom, so a predicted task is not killed for lack of
// memory; duration = median; cpu = median of cpuSeconds / wall seconds, clamped to [0.1, maxCpu] and rounded up to
// 0.1 core; GPU memory = p90 x headroom of the samples that reported it. GPU use is learned only from samples that
// measured GPU memory (null means "not measured", 0 means "used none"); with no such sample the category default
// decides, so a GPU benchmark on a worker that cannot measure GPU memory keeps its GPU.
//
// Cost: each key keeps the most recent `maxSamplesPerKey` samples (a ring, so estimates follow drift, such as a
// code change that made a benchmark slower) and caches its summary until the next add; 100k rows stay cheap.

import { classify, type TaskClass } from './classify.js';
import { resources, type Resources } from './resources.js';

export { classify, type TaskClass } from './classify.js';

/** The fields of a task_history row (store TaskHistoryRecord) the predictor learns from. */
export interface HistorySample {
  name: string;
  kind?: string;
  modelType?: string | null;
  modelName?: string | null;
  batchSize?: number | null;
  labels?: Record<string, string>;
  workerType?: string;
  succeeded: boolean;
  durationMs: number;
  peakMemoryMb: number;
  cpuSeconds: number;
  /** null or absent when not measured; 0 when measured and none was used. */
  gpuMemoryMb?: number | null;
  finishedAt?: number;
}

/** What a prediction is asked for: the shape of a task. */
export interface TaskShape {
  name?: string | null;
  kind?: string | null;
  modelType?: string | null;
  modelName?: string | null;
  batchSize?: number | null;
  labels?: Record<string, string>;
}

export type PredictionMethod = 'exact' | 'model_scaled' | 'model_type' | 'model_type_scaled' | 'default';
export type MatchType = 'name' | 'model+batch' | 'model' | 'modelType+batch' | 'modelType' | 'category';
export type TaskCategory = 'text_embedding' | 'text_generation' | 'vision' | 'audio' | 'multimodal' | 'default';

export interface Prediction {
  cpu: number;
  memoryMb: number;
  gpus: number;
  gpuMemoryMb: number;
  durationMs: number;
  /** Median peak memory without headroom: the figure to compare with the actual peak (MAPE). */
  expectedPeakMemoryMb: number;
  /** 0..1; see `confidence` below for the formula. */
  confidence: number;
  method: PredictionMethod;
  matchType: MatchType;
  /** Successful samples behind the estimate (0 for defaults). */
  samples: number;
  category: TaskCategory;
  /** gpu-bound, memory-bound, cpu-bound or default (classify.ts). */
  taskClass: TaskClass;
}

export interface CategoryDefault {
  cpu: number;
  memoryMb: number;
  gpus: number;
  gpuMemoryMb: number;
  durationMs: number;
}

/**
 * Built-in estimates per category, used until a shape has history. Each fits a built-in worker type (GPU
 * categories the `gpu` type: 8 cpu, 32768 MB, 1 GPU of 16384 MB; the others the `cpu` type: 4 cpu, 16384 MB).
 * - text_embedding: encoder models run well on CPU; 2 cores, 2 GB.
 * - text_generation: autoregressive LLM decoding needs a GPU; 8000 MB of GPU memory holds a 7B model in 8 bit.
 * - vision: convolutional/ViT benchmarks are GPU work; 4 GB of GPU memory covers ResNet/ViT-B at common batches.
 * - audio: speech models (Whisper-small class) and feature extraction are commonly benchmarked on CPU; 4 cores.
 * - multimodal: vision-language models are the largest of these; 12000 MB of GPU memory, 16 GB of host memory.
 * - default: the same as a task that declares nothing (resources.DEFAULT_TASK_RESOURCES), one minute.
 */
export const DEFAULT_CATEGORY_ESTIMATES: Readonly<Record<TaskCategory, Readonly<CategoryDefault>>> = Object.freeze({
  text_embedding: { cpu: 2, memoryMb: 2048, gpus: 0, gpuMemoryMb: 0, durationMs: 60_000 },
  text_generation: { cpu: 4, memoryMb: 8192, gpus: 1, gpuMemoryMb: 8000, durationMs: 300_000 },
  vision: { cpu: 4, memoryMb: 4096, gpus: 1, gpuMemoryMb: 4096, durationMs: 120_000 },
  audio: { cpu: 4, memoryMb: 4096, gpus: 0, gpuMemoryMb: 0, durationMs: 120_000 },
  multimodal: { cpu: 4, memoryMb: 16384, gpus: 1, gpuMemoryMb: 12000, durationMs: 300_000 },
  default: { cpu: 1, memoryMb: 512, gpus: 0, gpuMemoryMb: 0, durationMs: 60_000 },
});

// modelType spellings (lower case, '-' and ' ' read as '_') mapped to their category.
const CATEGORY_ALIASES: Readonly<Record<string, TaskCategory>> = Object.freeze({
  text_embedding: 'text_embedding',
  embedding: 'text_embedding',
  embeddings: 'text_embedding',
  sentence_embedding: 'text_embedding',
  feature_extraction: 'text_embedding',
  text_generation: 'text_generation',
  llm: 'text_generation',
  generation: 'text_generation',
  causal_lm: 'text_generation',
  chat: 'text_generation',
  vision: 'vision',
  image_classification: 'vision',
  object_detection: 'vision',
  image_segmentation: 'vision',
  cv: 'vision',
  audio: 'audio',
  speech: 'audio',
  asr: 'audio',
  speech_recognition: 'audio',
  automatic_speech_recognition: 'audio',
  tts: 'audio',
  text_to_speech: 'audio',
  multimodal: 'multimodal',
  multi_modal: 'multimodal',
  vlm: 'multimodal',
  vision_language: 'multimodal',
  image_to_text: 'multimodal',
});

/** The category of a modelType (`llm` -> text_generation, `embedding` -> text_embedding, ...); unknown -> default. */
export function categoryOf(modelType: string | null | undefined): TaskCategory {
  if (!modelType) return 'default';
  const key = modelType.trim().toLowerCase().replace(/[-\s]+/g, '_');
  // Own keys only: `constructor` or `__proto__` as a modelType must not reach Object.prototype.
  return Object.hasOwn(CATEGORY_ALIASES, key) ? CATEGORY_ALIASES[key] : 'default';
}

/** How a resource grows with batch size: value(b2) = value(b1) * (b2 / b1) ^ exponent. */
export interface ScalingExponents {
  cpu: number;
  memoryMb: number;
  gpuMemoryMb: number;
  durationMs: number;
}

/**
 * Used while a model (or modelType) has fewer than `minDistinctBatches` batch sizes to fit from. Per-sample work
 * dominates memory and time at large batches, fixed costs (weights, runtime) at small ones, hence just under
 * linear; cpu parallelism saturates early. From batch 4 to 8: duration x1.87, memory x1.74, GPU memory x1.87, cpu x1.23.
 */
export const DEFAULT_SCALING_EXPONENTS: Readonly<ScalingExponents> = Object.freeze({
  cpu: 0.3,
  memoryMb: 0.8,
  gpuMemoryMb: 0.9,
  durationMs: 0.9,
});

// A fitted exponent is clamped here: negative would mean bigger batches need less, above 2 is noise (even
// attention memory is at most quadratic), and either extrapolates wildly.
const MIN_EXPONENT = 0;
const MAX_EXPONENT = 2;

/**
 * Log-log least squares slope of value against batch size, or undefined when the points span fewer than
 * `minDistinctBatches` distinct batch sizes (then the caller uses a default). Non-positive or non-finite
 * points are ignored; the slope is clamped to [0, 2].
 */
export function fitScalingExponent(
  points: readonly { batch: number; value: number }[],
  minDistinctBatches = 3,
): number | undefined {
  const usable = points.filter((p) => p.batch > 0 && p.value > 0 && Number.isFinite(p.batch) && Number.isFinite(p.value));
  if (new Set(usable.map((p) => p.batch)).size < Math.max(2, minDistinctBatches)) return undefined;
  let sx = 0;
  let sy = 0;
  for (const p of usable) {
    sx += Math.log(p.batch);
    sy += Math.log(p.value);
  }
  const mx = sx / usable.length;
  const my = sy / usable.length;
  let sxy = 0;
  let sxx = 0;
  for (const p of usable) {
    const dx = Math.log(p.batch) - mx;
    sxy += dx * (Math.log(p.value) - my);
    sxx += dx * dx;
  }
  if (sxx === 0) return undefined;
  return Math.min(MAX_EXPONENT, Math.max(MIN_EXPONENT, sxy / sxx));
}

/** The factor from batch size `from` to `to` under `exponent`. */
export function batchScale(from: number, to: number, exponent: number): number {
  return Math.pow(to / from, exponent);
}

export type SampleCheck = { ok: true } | { ok: false; reason: string };

/** Rejects rows that cannot be real (a bad clock, a parse error upstream); they never reach an estimate. */
export function validateSample(s: HistorySample): SampleCheck {
  if (!s || typeof s !== 'object') return { ok: false, reason: 'not an object' };
  if (typeof s.name !== 'string') return { ok: false, reason: 'name: expected a string' };
  if (typeof s.succeeded !== 'boolean') return { ok: false, reason: 'succeeded: expected a boolean' };
  for (const field of ['durationMs', 'peakMemoryMb', 'cpuSeconds'] as const) {
    const why = nonNegative(s[field]);
    if (why) return { ok: false, reason: `${field}: ${why}` };
  }
  if (s.gpuMemoryMb !== null && s.gpuMemoryMb !== undefined) {
    const why = nonNegative(s.gpuMemoryMb);
    if (why) return { ok: false, reason: `gpuMemoryMb: ${why}` };
  }
  if (s.batchSize !== null && s.batchSize !== undefined) {
    if (typeof s.batchSize !== 'number' || !Number.isFinite(s.batchSize) || s.batchSize <= 0) {
      return { ok: false, reason: `batchSize: expected a positive number, got ${String(s.batchSize)}` };
    }
  }
  if (s.finishedAt !== undefined && (typeof s.finishedAt !== 'number' || !Number.isFinite(s.finishedAt))) {
    return { ok: false, reason: `finishedAt: expected a finite number, got ${String(s.finishedAt)}` };
  }
  return { ok: true };
}

/** The field a prediction request gets wrong (for a 400 naming it), or undefined when the shape is usable. */
export function validateShape(shape: TaskShape): { field: string; message: string } | undefined {
  const b = shape.batchSize;
  if (b !== null && b !== undefined && (typeof b !== 'number' || !Number.isFinite(b) || b <= 0)) {
    return { field: 'batchSize', message: `expected a positive number, got ${String(b)}` };
  }
  for (const field of ['name', 'kind', 'modelType', 'modelName'] as const) {
    const v = shape[field];
    if (v !== null && v !== undefined && typeof v !== 'string') return { field, message: 'expected a string' };
  }
  return undefined;
}

function nonNegative(v: unknown): string | undefined {
  if (typeof v !== 'number' || Number.isNaN(v)) return `expected a number, got ${String(v)}`;
  if (!Number.isFinite(v)) return `must be finite, got ${v}`;
  if (v < 0) return `must not be negative, got ${v}`;
  return undefined;
}

export interface PredictorOptions {
  /** Successful samples a level needs before it is used. */
  minSamples?: number;
  /** Quantile of peak memory (and GPU memory) that is reserved. */
  memoryQuantile?: number;
  /** Multiplier on that quantile (1.2 = 20% headroom). */
  memoryHeadroom?: number;
  /** Most recent samples kept per key (name+batch, model+batch, modelType+batch). */
  maxSamplesPerKey?: number;
  /** Distinct batch sizes needed before exponents are fitted rather than defaulted. */
  minDistinctBatches?: number;
  /** Upper clamp on predicted cores. */
  maxCpu?: number;
  defaults?: Partial<Record<TaskCategory, Partial<CategoryDefault>>>;
  defaultExponents?: Partial<ScalingExponents>;
}

export const DEFAULT_PREDICTOR_OPTIONS = Object.freeze({
  minSamples: 3,
  memoryQuantile: 0.9,
  memoryHeadroom: 1.2,
  maxSamplesPerKey: 512,
  minDistinctBatches: 3,
  maxCpu: 64,
});

/**
 * How much more specific levels are trusted. Confidence of a learned estimate:
 *   confidence = SPECIFICITY[method] * n / (n + minSamples) * 1 / (1 + cv)
 * where n = samples behind it and cv = the larger coefficient of variation (stddev / mean) of duration and of
 * peak memory over those samples (after batch scaling, so a poor fit also lowers it). With minSamples 3: an exact
 * match on 3 identical samples gives 0.5, on 30 gives 0.91; a spread of cv 1 halves it. Defaults get DEFAULT_CONFIDENCE.
 */
export const SPECIFICITY: Readonly<Record<Exclude<PredictionMethod, 'default'>, number>> = Object.freeze({
  exact: 1,
  model_scaled: 0.8,
  model_type: 0.7,
  model_type_scaled: 0.5,
});
export const DEFAULT_CONFIDENCE = 0.1;

// Cores are predicted in tenths, never below one tenth (a process always costs something).
const MIN_CPU = 0.1;
const CPU_STEP = 0.1;
// Key for samples without a batch size; scaled levels skip them.
const NO_BATCH = 'none';
// A sample reporting GPU memory above this counts as having used a GPU.
const GPU_USED_MB = 0;
// GPU use is predicted when at least this fraction of the samples that measured GPU memory used some.
const GPU_MAJORITY = 0.5;

/** The most recent samples of one key, in a ring; its summary is cached until the next push. */
class Window {
  readonly duration: number[] = [];
  readonly memory: number[] = [];
  /** cpuSeconds per wall second; NaN when the duration was 0. */
  readonly cpuRate: number[] = [];
  /** NaN when not measured. */
  readonly gpuMemory: number[] = [];
  private next = 0;
  cached: Summary | undefined;

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.duration.length;
  }

  push(s: HistorySample): void {
    const rate = s.durationMs > 0 ? s.cpuSeconds / (s.durationMs / 1000) : NaN;
    const gpu = s.gpuMemoryMb === null || s.gpuMemoryMb === undefined ? NaN : s.gpuMemoryMb;
    if (this.duration.length < this.capacity) {
      this.duration.push(s.durationMs);
      this.memory.push(s.peakMemoryMb);
      this.cpuRate.push(rate);
      this.gpuMemory.push(gpu);
    } else {
      const i = this.next;
      this.duration[i] = s.durationMs;
      this.memory[i] = s.peakMemoryMb;
      this.cpuRate[i] = rate;
      this.gpuMemory[i] = gpu;
      this.next = (i + 1) % this.capacity;
    }
    this.cached = undefined;
  }
}

/** Samples of one model (or modelType), one window per batch size, with cached exponents and scaled pools. */
class Group {
  readonly byBatch = new Map<string, Window>();
  private exponents: ScalingExponents | undefined;
  private readonly scaled = new Map<number, Summary>();

  invalidate(): void {
    this.exponents = undefined;
    this.scaled.clear();
  }

  exponentsFor(p: ResolvedOptions): ScalingExponents {
    if (this.exponents) return this.exponents;
    const points = { cpu: [] as Pt[], memoryMb: [] as Pt[], gpuMemoryMb: [] as Pt[], durationMs: [] as Pt[] };
    for (const [key, w] of this.numericBatches()) {
      const s = summaryOf(w, p);
      points.durationMs.push({ batch: key, value: s.durationMedian });
      points.memoryMb.push({ batch: key, value: s.memoryMedian });
      if (Number.isFinite(s.cpuMedian)) points.cpu.push({ batch: key, value: s.cpuMedian });
      if (Number.isFinite(s.gpuMemoryMedian)) points.gpuMemoryMb.push({ batch: key, value: s.gpuMemoryMedian });
    }
    const fit = (name: keyof ScalingExponents) =>
      fitScalingExponent(points[name], p.minDistinctBatches) ?? p.defaultExponents[name];
    this.exponents = { cpu: fit('cpu'), memoryMb: fit('memoryMb'), gpuMemoryMb: fit('gpuMemoryMb'), durationMs: fit('durationMs') };
    return this.exponents;
  }

  /** Every sample with a batch size, scaled to `target` (a fit over all batch sizes, not just the nearest). */
  scaledTo(target: number, p: ResolvedOptions): Summary {
    const hit = this.scaled.get(target);
    if (hit) return hit;
    const e = this.exponentsFor(p);
    const pool: Columns = { duration: [], memory: [], cpuRate: [], gpuMemory: [] };
    for (const [batch, w] of this.numericBatches()) {
      const f = (x: number) => batchScale(batch, target, x);
      const fd = f(e.durationMs);
      const fm = f(e.memoryMb);
      const fc = f(e.cpu);
      const fg = f(e.gpuMemoryMb);
      for (let i = 0; i < w.size; i++) {
        pool.duration.push(w.duration[i] * fd);
        pool.memory.push(w.memory[i] * fm);
        pool.cpuRate.push(w.cpuRate[i] * fc);
        pool.gpuMemory.push(w.gpuMemory[i] * fg);
      }
    }
    const s = summarize(pool, p);
    this.scaled.set(target, s);
    return s;
  }

  size(): number {
    let n = 0;
    for (const [, w] of this.numericBatches()) n += w.size;
    return n;
  }

  private *numericBatches(): Generator<[number, Window]> {
    for (const [key, w] of this.byBatch) if (key !== NO_BATCH) yield [Number(key), w];
  }
}

type Pt = { batch: number; value: number };
type Columns = { duration: number[]; memory: number[]; cpuRate: number[]; gpuMemory: number[] };

interface Summary {
  n: number;
  durationMedian: number;
  memoryQuantile: number;
  memoryMedian: number;
  /** NaN when no sample had a nonzero duration. */
  cpuMedian: number;
  /** Samples that measured GPU memory, and the share of them that used some. */
  gpuMeasured: number;
  gpuUsedShare: number;
  /** Over the samples that used GPU memory; NaN when none did. */
  gpuMemoryQuantile: number;
  gpuMemoryMedian: number;
  cv: number;
}

interface ResolvedOptions {
  minSamples: number;
  memoryQuantile: number;
  memoryHeadroom: number;
  maxSamplesPerKey: number;
  minDistinctBatches: number;
  maxCpu: number;
  defaults: Record<TaskCategory, CategoryDefault>;
  defaultExponents: ScalingExponents;
}

function summaryOf(w: Window, p: ResolvedOptions): Summary {
  return (w.cached ??= summarize(w, p));
}

function summarize(c: Columns, p: ResolvedOptions): Summary {
  const duration = sorted(c.duration);
  const memory = sorted(c.memory);
  const cpu = sorted(c.cpuRate.filter(Number.isFinite));
  const measured = c.gpuMemory.filter(Number.isFinite);
  const used = sorted(measured.filter((g) => g > GPU_USED_MB));
  return {
    n: duration.length,
    durationMedian: quantile(duration, 0.5),
    memoryQuantile: quantile(memory, p.memoryQuantile),
    memoryMedian: quantile(memory, 0.5),
    cpuMedian: cpu.length > 0 ? quantile(cpu, 0.5) : NaN,
    gpuMeasured: measured.length,
    gpuUsedShare: measured.length > 0 ? used.length / measured.length : 0,
    gpuMemoryQuantile: used.length > 0 ? quantile(used, p.memoryQuantile) : NaN,
    gpuMemoryMedian: used.length > 0 ? quantile(used, 0.5) : NaN,
    cv: Math.max(coefficientOfVariation(c.duration), coefficientOfVariation(c.memory)),
  };
}

function sorted(values: readonly number[]): Float64Array {
  return Float64Array.from(values).sort();
}

/** Linear interpolation between closest ranks (the common "type 7" definition); NaN for no values. */
export function quantile(sortedValues: ArrayLike<number>, q: number): number {
  const n = sortedValues.length;
  if (n === 0) return NaN;
  const pos = Math.min(1, Math.max(0, q)) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sortedValues[lo] + (sortedValues[hi] - sortedValues[lo]) * (pos - lo);
}

function coefficientOfVariation(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  if (mean <= 0) return 0;
  let sq = 0;
  for (const v of values) sq += (v - mean) * (v - mean);
  return Math.sqrt(sq / n) / mean;
}

export interface PredictorStats {
  accepted: number;
  /** Valid rows of failed attempts: kept out of the estimates (a crash's usage says little about the need). */
  failed: number;
  rejected: number;
  /** The reason of the latest rejection, for a log line. */
  lastRejection?: string;
}

export class Predictor {
  private readonly opts: ResolvedOptions;
  private readonly byName = new Map<string, Window>();
  private readonly byModel = new Map<string, Group>();
  private readonly byModelType = new Map<string, Group>();
  private readonly counts: PredictorStats = { accepted: 0, failed: 0, rejected: 0 };

  constructor(options: PredictorOptions = {}) {
    const o = { ...DEFAULT_PREDICTOR_OPTIONS, ...dropUndefined(options) };
    if (!Number.isInteger(o.minSamples) || o.minSamples < 1) throw new RangeError('minSamples must be an integer >= 1');
    if (!(o.memoryQuantile > 0 && o.memoryQuantile <= 1)) throw new RangeError('memoryQuantile must be in (0, 1]');
    if (!(o.memoryHeadroom >= 1)) throw new RangeError('memoryHeadroom must be >= 1');
    if (!Number.isInteger(o.maxSamplesPerKey) || o.maxSamplesPerKey < o.minSamples) {
      throw new RangeError('maxSamplesPerKey must be an integer >= minSamples');
    }
    if (!(o.maxCpu >= MIN_CPU)) throw new RangeError(`maxCpu must be >= ${MIN_CPU}`);
    const defaults = {} as Record<TaskCategory, CategoryDefault>;
    for (const c of Object.keys(DEFAULT_CATEGORY_ESTIMATES) as TaskCategory[]) {
      defaults[c] = { ...DEFAULT_CATEGORY_ESTIMATES[c], ...dropUndefined(options.defaults?.[c] ?? {}) };
    }
    this.opts = {
      minSamples: o.minSamples,
      memoryQuantile: o.memoryQuantile,
      memoryHeadroom: o.memoryHeadroom,
      maxSamplesPerKey: o.maxSamplesPerKey,
      minDistinctBatches: o.minDistinctBatches,
      maxCpu: o.maxCpu,
      defaults,
      defaultExponents: { ...DEFAULT_SCALING_EXPONENTS, ...dropUndefined(options.defaultExponents ?? {}) },
    };
  }

  /** Builds a predictor from stored history, oldest first by finishedAt, whatever order the rows come in. */
  static fromHistory(rows: Iterable<HistorySample>, options: PredictorOptions = {}): Predictor {
    const p = new Predictor(options);
    const ordered = [...rows].map((row, i) => ({ row, i }));
    ordered.sort((a, b) => (finishedAtOf(a.row) - finishedAtOf(b.row)) || a.i - b.i);
    for (const { row } of ordered) p.add(row);
    return p;
  }

  /** Learns from one finished attempt; an impossible row is rejected with a reason and changes nothing. */
  add(sample: HistorySample): SampleCheck {
    const check = validateSample(sample);
    if (!check.ok) {
      this.counts.rejected++;
      this.counts.lastRejection = check.reason;
      return check;
    }
    if (!sample.succeeded) {
      this.counts.failed++;
      return check;
    }
    this.counts.accepted++;
    const batch = batchKey(sample.batchSize);
    const cap = this.opts.maxSamplesPerKey;
    const name = sample.name;
    if (name) windowIn(this.byName, `${name}\u0000${batch}`, cap).push(sample);
    if (sample.modelName) groupIn(this.byModel, sample.modelName, batch, cap).push(sample);
    if (sample.modelType) groupIn(this.byModelType, sample.modelType, batch, cap).push(sample);
    return check;
  }

  stats(): PredictorStats {
    return { ...this.counts };
  }

  predict(shape: TaskShape): Prediction {
    const p = this.opts;
    const category = categoryOf(shape.modelType);
    const batch = usableBatch(shape.batchSize);
    const key = batchKey(batch);
    const enough = (s: Summary | undefined): s is Summary => s !== undefined && s.n >= p.minSamples;

    const byName = shape.name ? this.byName.get(`${shape.name}\u0000${key}`) : undefined;
    let s = byName && summaryOf(byName, p);
    if (enough(s)) return this.estimate(s, 'exact', 'name', category);

    const model = shape.modelName ? this.byModel.get(shape.modelName) : undefined;
    const modelBatch = model?.byBatch.get(key);
    s = modelBatch && summaryOf(modelBatch, p);
    if (enough(s)) return this.estimate(s, 'exact', 'model+batch', category);
    if (model && batch !== undefined && model.size() >= p.minSamples) {
      return this.estimate(model.scaledTo(batch, p), 'model_scaled', 'model', category);
    }

    const type = shape.modelType ? this.byModelType.get(shape.modelType) : undefined;
    const typeBatch = type?.byBatch.get(key);
    s = typeBatch && summaryOf(typeBatch, p);
    if (enough(s)) return this.estimate(s, 'model_type', 'modelType+batch', category);
    if (type && batch !== undefined && type.size() >= p.minSamples) {
      return this.estimate(type.scaledTo(batch, p), 'model_type_scaled', 'modelType', category);
    }

    const d = p.defaults[category];
    const r = { cpu: d.cpu, memoryMb: d.memoryMb, gpus: d.gpus, gpuMemoryMb: d.gpuMemoryMb };
    // Spelled out, not `...r`: V8 (Node 20) builds a spread followed by more properties on a slow
    // path, ~10 us here, and a submission predicts every task.
    return {
      cpu: r.cpu,
      memoryMb: r.memoryMb,
      gpus: r.gpus,
      gpuMemoryMb: r.gpuMemoryMb,
      durationMs: d.durationMs,
      expectedPeakMemoryMb: d.memoryMb,
      confidence: DEFAULT_CONFIDENCE,
      method: 'default',
      matchType: 'category',
      samples: 0,
      category,
      taskClass: classify(r),
    };
  }

  private estimate(s: Summary, method: Exclude<PredictionMethod, 'default'>, matchType: MatchType, category: TaskCategory): Prediction {
    const p = this.opts;
    const d = p.defaults[category];
    const cpuRaw = Number.isFinite(s.cpuMedian) ? s.cpuMedian : d.cpu;
    const cpu = Math.min(p.maxCpu, Math.max(MIN_CPU, Math.ceil(cpuRaw / CPU_STEP - 1e-9) * CPU_STEP));
    let gpus: number;
    let gpuMemoryMb: number;
    if (s.gpuMeasured === 0) {
      gpus = d.gpus;
      gpuMemoryMb = d.gpuMemoryMb;
    } else if (s.gpuUsedShare >= GPU_MAJORITY) {
      gpus = Math.max(1, d.gpus);
      gpuMemoryMb = Math.ceil(s.gpuMemoryQuantile * p.memoryHeadroom);
    } else {
      gpus = 0;
      gpuMemoryMb = 0;
    }
    const r = { cpu: round1(cpu), memoryMb: Math.max(1, Math.ceil(s.memoryQuantile * p.memoryHeadroom)), gpus, gpuMemoryMb };
    const confidence = SPECIFICITY[method] * (s.n / (s.n + p.minSamples)) * (1 / (1 + s.cv));
    return {
      cpu: r.cpu,
      memoryMb: r.memoryMb,
      gpus: r.gpus,
      gpuMemoryMb: r.gpuMemoryMb,
      durationMs: Math.round(s.durationMedian),
      expectedPeakMemoryMb: Math.round(s.memoryMedian),
      confidence: Math.round(Math.min(1, Math.max(0, confidence)) * 1000) / 1000,
      method,
      matchType,
      samples: s.n,
      category,
      taskClass: classify(r),
    };
  }
}

/** The resources a prediction reserves. */
export function toResources(p: Pick<Prediction, 'cpu' | 'memoryMb' | 'gpus' | 'gpuMemoryMb'>): Resources {
  return resources({ cpu: p.cpu, memoryMb: p.memoryMb, gpus: p.gpus, gpuMemoryMb: p.gpuMemoryMb });
}

function windowIn(map: Map<string, Window>, key: string, cap: number): Window {
  let w = map.get(key);
  if (!w) map.set(key, (w = new Window(cap)));
  return w;
}

/** The batch window of a group; pushing through it also drops the group's cached fits. */
function groupIn(map: Map<string, Group>, key: string, batch: string, cap: number): { push(s: HistorySample): void } {
  let g = map.get(key);
  if (!g) map.set(key, (g = new Group()));
  const group = g;
  const w = windowIn(group.byBatch, batch, cap);
  return {
    push(s) {
      w.push(s);
      group.invalidate();
    },
  };
}

function usableBatch(b: number | null | undefined): number | undefined {
  return typeof b === 'number' && Number.isFinite(b) && b > 0 ? b : undefined;
}

function batchKey(b: number | null | undefined): string {
  const u = usableBatch(b);
  return u === undefined ? NO_BATCH : String(u);
}

function finishedAtOf(s: HistorySample): number {
  return typeof s.finishedAt === 'number' && Number.isFinite(s.finishedAt) ? s.finishedAt : 0;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// Accuracy: mean absolute percentage error of predictions against what attempts really used.

export interface MapeResult {
  /** Percent (12.5 = 12.5%); null until there is a pair to measure. */
  mape: number | null;
  count: number;
}

/**
 * MAPE over (predicted, actual) pairs, in percent. Pairs without a prediction (null, undefined, not finite) are
 * ignored, and so are pairs whose actual value is 0 or invalid (the percentage error is undefined there).
 */
export function mape(pairs: Iterable<{ predicted: number | null | undefined; actual: number }>): MapeResult {
  let sum = 0;
  let count = 0;
  for (const { predicted, actual } of pairs) {
    const ape = absolutePercentageError(predicted, actual);
    if (ape === undefined) continue;
    sum += ape;
    count++;
  }
  return { mape: count > 0 ? sum / count : null, count };
}

function absolutePercentageError(predicted: number | null | undefined, actual: number): number | undefined {
  if (typeof predicted !== 'number' || !Number.isFinite(predicted)) return undefined;
  if (typeof actual !== 'number' || !Number.isFinite(actual) || actual <= 0) return undefined;
  return (Math.abs(predicted - actual) / actual) * 100;
}

export interface AccuracyReport {
  duration: MapeResult;
  memory: MapeResult;
}

/**
 * Running MAPE of duration and of peak memory. Compare `durationMs` with the actual duration and
 * `expectedPeakMemoryMb` (not the reserved `memoryMb`, which carries headroom on purpose) with the actual peak.
 */
export class AccuracyTracker {
  private readonly sums = { duration: 0, memory: 0 };
  private readonly counts = { duration: 0, memory: 0 };

  record(
    predicted: { durationMs?: number | null; memoryMb?: number | null } | null | undefined,
    actual: { durationMs: number; peakMemoryMb: number },
  ): void {
    if (!predicted) return;
    const d = absolutePercentageError(predicted.durationMs, actual.durationMs);
    if (d !== undefined) {
      this.sums.duration += d;
      this.counts.duration++;
    }
    const m = absolutePercentageError(predicted.memoryMb, actual.peakMemoryMb);
    if (m !== undefined) {
      this.sums.memory += m;
      this.counts.memory++;
    }
  }

  report(): AccuracyReport {
    const of = (k: 'duration' | 'memory'): MapeResult => ({
      mape: this.counts[k] > 0 ? this.sums[k] / this.counts[k] : null,
      count: this.counts[k],
    });
    return { duration: of('duration'), memory: of('memory') };
  }
}
