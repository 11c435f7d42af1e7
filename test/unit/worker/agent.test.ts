import { describe, expect, it } from 'vitest';
import { backoffDelay, defaultWorkerId, workerEndpoint } from '../../../src/worker/agent.js';

describe('workerEndpoint', () => {
  it('turns http(s) base URLs into the worker WebSocket URL', () => {
    expect(workerEndpoint('http://127.0.0.1:7070')).toBe('ws://127.0.0.1:7070/api/v1/worker');
    expect(workerEndpoint('https://drm.example.com/')).toBe('wss://drm.example.com/api/v1/worker');
    expect(workerEndpoint('http://proxy/drm/')).toBe('ws://proxy/drm/api/v1/worker');
  });

  it('keeps ws(s) URLs and an explicit worker path', () => {
    expect(workerEndpoint('ws://h:1')).toBe('ws://h:1/api/v1/worker');
    expect(workerEndpoint('wss://h/api/v1/worker')).toBe('wss://h/api/v1/worker');
  });

  it('rejects other schemes', () => {
    expect(() => workerEndpoint('ftp://h')).toThrow(/unsupported coordinator URL/);
    expect(() => workerEndpoint('not a url')).toThrow();
  });
});

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with jitter in the upper half', () => {
    expect(backoffDelay(0, 200, 5000, () => 0)).toBe(100);
    expect(backoffDelay(0, 200, 5000, () => 1)).toBe(200);
    expect(backoffDelay(3, 200, 5000, () => 1)).toBe(1600);
    expect(backoffDelay(10, 200, 5000, () => 1)).toBe(5000);
    expect(backoffDelay(1000, 200, 5000, () => 0)).toBe(2500);
  });
});

describe('defaultWorkerId', () => {
  it('is host, type and 6 hex digits', () => {
    expect(defaultWorkerId('gpu')).toMatch(/^.+-gpu-[0-9a-f]{6}$/);
    expect(defaultWorkerId('gpu')).not.toBe(defaultWorkerId('gpu'));
  });
});
