import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, DEFAULT_SETTINGS, resolveSettings, SettingsFileSchema, settingsFromFile } from '../../../src/coordinator/config.js';

describe('coordinator settings', () => {
  it('merges partial limits and retry policy over the defaults', () => {
    const s = resolveSettings({ heartbeatMs: 500, limits: { tasksPerSubmission: 50 }, retry: { infraRetries: 1 } });
    expect(s.heartbeatMs).toBe(500);
    expect(s.limits).toEqual({ ...DEFAULT_LIMITS, tasksPerSubmission: 50 });
    expect(s.retry).toEqual({ ...DEFAULT_SETTINGS.retry, infraRetries: 1 });
    expect(DEFAULT_LIMITS).toEqual({ bodyBytes: 16 * 1024 * 1024, frameBytes: 8 * 1024 * 1024, tasksPerSubmission: 10_000, connectionsPerAddress: 64, exemptLoopback: true });
  });

  it('validates a settings file: unknown keys, wrong types and out-of-range values are refused', () => {
    expect(SettingsFileSchema.safeParse({ heartbeatMs: 500, limits: { connectionsPerAddress: 8 } }).success).toBe(true);
    for (const bad of [{ heartbeatMS: 500 }, { heartbeatMs: '500' }, { limits: { tasksPerSubmission: 0 } }, { limits: { bogus: 1 } }, { infeasible: 'maybe' }, { workerTypes: [{ name: 'x', resources: { cpu: -1 } }] }]) {
      expect(SettingsFileSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    const file = SettingsFileSchema.parse({ workerTypes: [{ name: 'tiny', resources: { cpu: 1 } }] });
    expect(settingsFromFile(file).workerTypes).toEqual([{ name: 'tiny', resources: { cpu: 1, memoryMb: 0, gpus: 0, gpuMemoryMb: 0 } }]);
  });
});
