import { execFile } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { promisify } from 'node:util';
import si from 'systeminformation';
import { resources, type Resources } from '../core/resources.js';

// What this machine offers: logical cpu cores and total memory (systeminformation), GPUs from nvidia-smi.

const execFileAsync = promisify(execFile);

/** nvidia-smi hangs for a long time on a wedged driver; a worker must start anyway. */
const NVIDIA_SMI_TIMEOUT_MS = 10_000;

export interface GpuInfo {
  index: number;
  memoryMb: number;
}

/** Parses `nvidia-smi --query-gpu=index,memory.total --format=csv,noheader,nounits` ("0, 81559" per line). */
export function parseNvidiaSmi(text: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const line of text.split(/\r?\n/)) {
    const [index, memory] = line.split(',').map((s) => s.trim());
    if (!index || !memory) continue;
    const i = Number(index);
    // "[N/A]" or "[Not Supported]" for memory on some devices: count the GPU, memory unknown.
    const m = Number(memory);
    if (!Number.isInteger(i) || i < 0) continue;
    gpus.push({ index: i, memoryMb: Number.isFinite(m) && m > 0 ? m : 0 });
  }
  return gpus;
}

/** GPUs reported by nvidia-smi; none when it is missing, fails or times out. */
export async function detectGpus(): Promise<GpuInfo[]> {
  try {
    const { stdout } = await execFileAsync('nvidia-smi', ['--query-gpu=index,memory.total', '--format=csv,noheader,nounits'], {
      timeout: NVIDIA_SMI_TIMEOUT_MS,
      windowsHide: true,
    });
    return parseNvidiaSmi(stdout);
  } catch {
    return [];
  }
}

export async function detectResources(): Promise<Resources> {
  const [cpu, mem, gpus] = await Promise.all([
    si.cpu().catch(() => undefined),
    si.mem().catch(() => undefined),
    detectGpus(),
  ]);
  return resources({
    cpu: cpu?.cores || cpus().length,
    memoryMb: Math.floor((mem?.total || totalmem()) / (1024 * 1024)),
    gpus: gpus.length,
    gpuMemoryMb: gpus.reduce((sum, g) => sum + g.memoryMb, 0),
  });
}
