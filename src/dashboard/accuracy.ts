import type { Store, TaskHistoryRecord } from '../store/store.js';

// How far the predictor's estimates were from what finished attempts actually used. The predictor
// records its estimate next to each outcome in task_history (predicted_duration_ms,
// predicted_memory_mb); accuracy appears here as soon as those columns are filled.

export interface PredictionAccuracy {
  /** Mean absolute percentage error of duration, as a ratio (0.1 = 10 %); null without predictions. */
  mapeDuration: number | null;
  /** Same for peak memory. */
  mapeMemory: number | null;
  /** Finished attempts that carried a prediction (of either kind). */
  samples: number;
}

/** Returns null while nothing was predicted. May be synchronous (a predictor's own figure) or read the store. */
export type PredictionAccuracySource = () => PredictionAccuracy | null | Promise<PredictionAccuracy | null>;

/** Most recent finished attempts considered: accuracy should follow the predictor as it learns. */
const WINDOW = 500;
/** Scrapes and dashboards ask often; the store need not answer each time. */
const CACHE_MS = 5_000;

function mape(rows: readonly TaskHistoryRecord[], actual: (r: TaskHistoryRecord) => number, predicted: (r: TaskHistoryRecord) => number | null): number | null {
  let sum = 0;
  let n = 0;
  for (const r of rows) {
    const p = predicted(r);
    const a = actual(r);
    // A zero actual has no defined percentage error; skipping it keeps one instant task from dominating.
    if (p === null || !(a > 0)) continue;
    sum += Math.abs(a - p) / a;
    n++;
  }
  return n > 0 ? sum / n : null;
}

export function accuracyOf(rows: readonly TaskHistoryRecord[]): PredictionAccuracy | null {
  const mapeDuration = mape(rows, (r) => r.durationMs, (r) => r.predictedDurationMs);
  const mapeMemory = mape(rows, (r) => r.peakMemoryMb, (r) => r.predictedMemoryMb);
  const samples = rows.filter((r) => r.predictedDurationMs !== null || r.predictedMemoryMb !== null).length;
  return mapeDuration === null && mapeMemory === null ? null : { mapeDuration, mapeMemory, samples };
}

/** Accuracy over the latest task history, cached for a few seconds. */
export function historyAccuracy(store: Pick<Store, 'listTaskHistory'>, now: () => number = Date.now): PredictionAccuracySource {
  let cached: { at: number; value: Promise<PredictionAccuracy | null> } | null = null;
  return () => {
    if (!cached || now() - cached.at >= CACHE_MS) {
      const value = store.listTaskHistory({ limit: WINDOW }).then(accuracyOf);
      // A failed read is retried on the next call rather than cached.
      value.catch(() => (cached = null));
      cached = { at: now(), value };
    }
    return cached.value;
  };
}
