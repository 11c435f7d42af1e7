// Resource vectors: the one currency of placement, scaling and prediction.
// cpu is in cores (fractional allowed), memory in MB, gpus whole devices, gpuMemoryMb summed over a worker's GPUs.
// custom resources are named counters (for example `license: 2`) that behave like the built-in ones.

export interface Resources {
  cpu: number;
  memoryMb: number;
  gpus: number;
  gpuMemoryMb: number;
  custom?: Record<string, number>;
}

export const ZERO: Readonly<Resources> = Object.freeze({ cpu: 0, memoryMb: 0, gpus: 0, gpuMemoryMb: 0 });

/** What a task that declares nothing (and has no prediction yet) is assumed to need. */
export const DEFAULT_TASK_RESOURCES: Readonly<Resources> = Object.freeze({ cpu: 1, memoryMb: 512, gpus: 0, gpuMemoryMb: 0 });

// Floating point sums of fractional cpu (0.1 + 0.2) must not make an exact fit fail.
const EPSILON = 1e-9;

export type ResourceName = 'cpu' | 'memoryMb' | 'gpus' | 'gpuMemoryMb';
export const RESOURCE_NAMES: readonly ResourceName[] = ['cpu', 'memoryMb', 'gpus', 'gpuMemoryMb'];

export function resources(partial: Partial<Resources> = {}): Resources {
  const r: Resources = {
    cpu: partial.cpu ?? 0,
    memoryMb: partial.memoryMb ?? 0,
    gpus: partial.gpus ?? 0,
    gpuMemoryMb: partial.gpuMemoryMb ?? 0,
  };
  if (partial.custom && Object.keys(partial.custom).length > 0) r.custom = { ...partial.custom };
  return r;
}

function customKeys(a: Resources, b: Resources): string[] {
  if (!a.custom && !b.custom) return [];
  return [...new Set([...Object.keys(a.custom ?? {}), ...Object.keys(b.custom ?? {})])];
}

function combine(a: Resources, b: Resources, sign: 1 | -1): Resources {
  const out: Resources = {
    cpu: a.cpu + sign * b.cpu,
    memoryMb: a.memoryMb + sign * b.memoryMb,
    gpus: a.gpus + sign * b.gpus,
    gpuMemoryMb: a.gpuMemoryMb + sign * b.gpuMemoryMb,
  };
  const keys = customKeys(a, b);
  if (keys.length > 0) {
    out.custom = {};
    for (const k of keys) out.custom[k] = (a.custom?.[k] ?? 0) + sign * (b.custom?.[k] ?? 0);
  }
  return out;
}

export function add(a: Resources, b: Resources): Resources {
  return combine(a, b, 1);
}

export function subtract(a: Resources, b: Resources): Resources {
  return combine(a, b, -1);
}

/** True when `request` fits into `available` on every dimension, custom ones included. */
export function fits(request: Resources, available: Resources): boolean {
  if (request.cpu > available.cpu + EPSILON) return false;
  if (request.memoryMb > available.memoryMb + EPSILON) return false;
  if (request.gpus > available.gpus + EPSILON) return false;
  if (request.gpuMemoryMb > available.gpuMemoryMb + EPSILON) return false;
  if (request.custom) {
    for (const [k, v] of Object.entries(request.custom)) {
      if (v > (available.custom?.[k] ?? 0) + EPSILON) return false;
    }
  }
  return true;
}

/** The dimensions on which `request` exceeds `available`, for "why is this pending" reasons. */
export function shortfall(request: Resources, available: Resources): string[] {
  const out: string[] = [];
  for (const name of RESOURCE_NAMES) {
    if (request[name] > available[name] + EPSILON) out.push(`${name} ${request[name]} > ${round(available[name])}`);
  }
  for (const [k, v] of Object.entries(request.custom ?? {})) {
    const have = available.custom?.[k] ?? 0;
    if (v > have + EPSILON) out.push(`${k} ${v} > ${round(have)}`);
  }
  return out;
}

export function needsGpu(r: Resources): boolean {
  return r.gpus > 0 || r.gpuMemoryMb > 0;
}

/** Fraction of capacity used per dimension (0 when the capacity is 0). */
export function utilization(used: Resources, capacity: Resources): { cpu: number; memory: number; gpu: number } {
  const ratio = (u: number, c: number) => (c > 0 ? u / c : 0);
  return { cpu: ratio(used.cpu, capacity.cpu), memory: ratio(used.memoryMb, capacity.memoryMb), gpu: ratio(used.gpus, capacity.gpus) };
}

export function formatResources(r: Resources): string {
  const parts = [`cpu=${round(r.cpu)}`, `memoryMb=${round(r.memoryMb)}`];
  if (r.gpus) parts.push(`gpus=${r.gpus}`);
  if (r.gpuMemoryMb) parts.push(`gpuMemoryMb=${round(r.gpuMemoryMb)}`);
  for (const [k, v] of Object.entries(r.custom ?? {})) parts.push(`${k}=${round(v)}`);
  return parts.join(',');
}

/** Parses `cpu=4,memoryMb=16384,gpus=1,gpuMemoryMb=16384,license=2` (unknown names become custom). */
export function parseResources(text: string): Resources {
  const r = resources();
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z][\w.-]*)=(\d+(?:\.\d+)?)$/.exec(part);
    if (!m) throw new Error(`invalid resource "${part}" (expected name=number, e.g. cpu=4)`);
    const [, name, value] = m;
    const n = Number(value);
    if (name in Object.prototype) throw new Error(`invalid resource name "${name}" (reserved)`);
    if ((RESOURCE_NAMES as readonly string[]).includes(name)) r[name as ResourceName] = n;
    else (r.custom ??= {})[name] = n;
  }
  return r;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
