import { describe, it, expect } from 'vitest';
import {
  add,
  DEFAULT_TASK_RESOURCES,
  fits,
  formatResources,
  needsGpu,
  parseResources,
  resources,
  shortfall,
  subtract,
  utilization,
  ZERO,
} from '../../../src/core/resources.js';

describe('resources()', () => {
  it('fills missing dimensions with 0 and copies custom', () => {
    const custom = { license: 2 };
    const r = resources({ cpu: 2, custom });
    expect(r).toEqual({ cpu: 2, memoryMb: 0, gpus: 0, gpuMemoryMb: 0, custom: { license: 2 } });
    custom.license = 5;
    expect(r.custom?.license).toBe(2);
  });

  it('omits an empty custom map', () => {
    expect(resources({ custom: {} })).not.toHaveProperty('custom');
  });

  it('has frozen constants', () => {
    expect(Object.isFrozen(ZERO)).toBe(true);
    expect(DEFAULT_TASK_RESOURCES.cpu).toBeGreaterThan(0);
  });
});

describe('fits', () => {
  const worker = resources({ cpu: 4, memoryMb: 16384, gpus: 1, gpuMemoryMb: 16384, custom: { license: 2 } });

  it('accepts an exact fit and rejects one unit more on any dimension', () => {
    expect(fits(worker, worker)).toBe(true);
    expect(fits(resources({ cpu: 4.5 }), worker)).toBe(false);
    expect(fits(resources({ memoryMb: 16385 }), worker)).toBe(false);
    expect(fits(resources({ gpus: 2 }), worker)).toBe(false);
    expect(fits(resources({ gpuMemoryMb: 16385 }), worker)).toBe(false);
  });

  it('tolerates floating point sums of fractional cpu', () => {
    const used = add(resources({ cpu: 0.1 }), resources({ cpu: 0.2 }));
    expect(used.cpu).not.toBe(0.3);
    expect(fits(used, resources({ cpu: 0.3 }))).toBe(true);
    expect(fits(resources({ cpu: 0.3 }), subtract(resources({ cpu: 1 }), resources({ cpu: 0.7 })))).toBe(true);
  });

  it('checks custom resources, treating a missing one as 0', () => {
    expect(fits(resources({ custom: { license: 2 } }), worker)).toBe(true);
    expect(fits(resources({ custom: { license: 3 } }), worker)).toBe(false);
    expect(fits(resources({ custom: { fpga: 1 } }), worker)).toBe(false);
    expect(fits(resources({ custom: { fpga: 0 } }), worker)).toBe(true);
  });
});

describe('add and subtract', () => {
  it('combine every dimension, custom ones included, without mutating inputs', () => {
    const a = resources({ cpu: 1.5, memoryMb: 1024, gpus: 1, gpuMemoryMb: 8000, custom: { license: 1 } });
    const b = resources({ cpu: 0.5, memoryMb: 512, custom: { fpga: 2 } });
    const before = structuredClone(a);
    expect(add(a, b)).toEqual({ cpu: 2, memoryMb: 1536, gpus: 1, gpuMemoryMb: 8000, custom: { license: 1, fpga: 2 } });
    expect(subtract(a, b)).toEqual({ cpu: 1, memoryMb: 512, gpus: 1, gpuMemoryMb: 8000, custom: { license: 1, fpga: -2 } });
    expect(a).toEqual(before);
  });

  it('leave custom out when neither side has it', () => {
    expect(add(resources({ cpu: 1 }), resources({ cpu: 1 }))).not.toHaveProperty('custom');
  });

  it('are inverse', () => {
    const a = resources({ cpu: 3, memoryMb: 100, custom: { x: 1 } });
    const b = resources({ cpu: 1, memoryMb: 40, custom: { x: 1 } });
    expect(add(subtract(a, b), b)).toEqual(a);
  });
});

describe('shortfall', () => {
  it('names each dimension that does not fit', () => {
    const gap = shortfall(resources({ cpu: 6, memoryMb: 1000, gpus: 1, custom: { license: 3 } }), resources({ cpu: 4, memoryMb: 2000, custom: { license: 1 } }));
    expect(gap).toEqual(['cpu 6 > 4', 'gpus 1 > 0', 'license 3 > 1']);
  });

  it('is empty when the request fits', () => {
    expect(shortfall(resources({ cpu: 1 }), resources({ cpu: 1 }))).toEqual([]);
  });

  it('rounds noisy availability', () => {
    expect(shortfall(resources({ cpu: 1 }), resources({ cpu: 0.1 + 0.2 }))).toEqual(['cpu 1 > 0.3']);
  });
});

describe('parseResources', () => {
  it('parses built-in and custom names', () => {
    expect(parseResources('cpu=4,memoryMb=16384,gpus=1,gpuMemoryMb=16384,license=2')).toEqual({
      cpu: 4,
      memoryMb: 16384,
      gpus: 1,
      gpuMemoryMb: 16384,
      custom: { license: 2 },
    });
  });

  it('accepts fractions, spaces and an empty string', () => {
    expect(parseResources(' cpu=0.5 , memoryMb=256 ')).toEqual(resources({ cpu: 0.5, memoryMb: 256 }));
    expect(parseResources('')).toEqual(resources());
  });

  it('throws a clear message on bad input', () => {
    expect(() => parseResources('cpu=four')).toThrow('invalid resource "cpu=four" (expected name=number, e.g. cpu=4)');
    expect(() => parseResources('cpu')).toThrow(/invalid resource "cpu"/);
    expect(() => parseResources('cpu=-1')).toThrow(/invalid resource/);
    expect(() => parseResources('=4')).toThrow(/invalid resource/);
  });

  it('round-trips through formatResources', () => {
    const r = resources({ cpu: 2.5, memoryMb: 4096, gpus: 1, gpuMemoryMb: 8000, custom: { license: 1 } });
    expect(formatResources(r)).toBe('cpu=2.5,memoryMb=4096,gpus=1,gpuMemoryMb=8000,license=1');
    expect(parseResources(formatResources(r))).toEqual(r);
  });
});

describe('needsGpu and utilization', () => {
  it('needsGpu looks at gpus and GPU memory', () => {
    expect(needsGpu(resources({ cpu: 8 }))).toBe(false);
    expect(needsGpu(resources({ gpus: 1 }))).toBe(true);
    expect(needsGpu(resources({ gpuMemoryMb: 1000 }))).toBe(true);
  });

  it('utilization is a fraction per dimension and 0 without capacity', () => {
    const u = utilization(resources({ cpu: 1, memoryMb: 4096 }), resources({ cpu: 4, memoryMb: 16384 }));
    expect(u).toEqual({ cpu: 0.25, memory: 0.25, gpu: 0 });
  });
});
