/** One benchmark figure (DESIGN.md section 11): printed as a JSON line with --json, else as a table row. */
export interface Figure {
  bench: string;
  value: number;
  unit: string;
  /** Same-run baseline, when the figure has one; `ratio` = value / baseline. */
  baseline?: number;
  /** The baseline's unit when it differs from `unit` (a ratio figure over a throughput baseline). */
  baselineUnit?: string;
  ratio?: number;
  [context: string]: unknown;
}

export interface BenchContext {
  quick: boolean;
  log: (line: string) => void;
}

export interface Bench {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Seeded PRNG (an LCG): generated workloads and chaos victims are the same in every run. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}
