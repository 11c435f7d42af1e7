import { describe, expect, it } from 'vitest';
import { detectResources, parseNvidiaSmi } from '../../../src/worker/detect.js';

describe('parseNvidiaSmi', () => {
  it('reads index and memory of each GPU', () => {
    expect(parseNvidiaSmi('0, 81559\n1, 81559\n')).toEqual([
      { index: 0, memoryMb: 81559 },
      { index: 1, memoryMb: 81559 },
    ]);
  });

  it('tolerates CRLF, blank lines and extra spaces', () => {
    expect(parseNvidiaSmi('\r\n  0 ,  16384  \r\n\r\n')).toEqual([{ index: 0, memoryMb: 16384 }]);
  });

  it('counts a GPU whose memory is not reported, with 0 MB', () => {
    expect(parseNvidiaSmi('0, [N/A]\n')).toEqual([{ index: 0, memoryMb: 0 }]);
  });

  it('ignores error text and empty output', () => {
    expect(parseNvidiaSmi('')).toEqual([]);
    expect(parseNvidiaSmi('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.')).toEqual([]);
  });
});

describe('detectResources', () => {
  it('reports this machine with at least one core and some memory', async () => {
    const r = await detectResources();
    expect(r.cpu).toBeGreaterThanOrEqual(1);
    expect(r.memoryMb).toBeGreaterThan(64);
    expect(r.gpus).toBeGreaterThanOrEqual(0);
    expect(Number.isInteger(r.memoryMb)).toBe(true);
  });
});
