import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Leadership, LEASE_NAME } from '../../../src/coordinator/leadership.js';
import { DuckDbStore } from '../../../src/store/duckdb.js';
import type { Store } from '../../../src/store/store.js';

const log = pino({ level: 'silent' });
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn();
});

async function store(): Promise<Store> {
  const s = await DuckDbStore.open(':memory:');
  await s.migrate();
  cleanup.push(() => s.close());
  return s;
}

describe('Leadership', () => {
  it('a follower takes over when the lease it saw expires, not at its next regular tick', async () => {
    const s = await store();
    const ttlMs = 400;
    // A leader that took the lease and died: nobody renews it.
    const taken = await s.acquireLease(LEASE_NAME, 'dead@http://127.0.0.1:1', ttlMs);
    expect(taken.acquired).toBe(true);
    let electedAt = 0;
    // Regular ticks every 60 s: only the try aimed at the expiry can elect it within the test.
    const follower = new Leadership(s, 'b@http://127.0.0.1:2', { ttlMs, renewMs: 60_000 }, {
      onElected: async () => void (electedAt = Date.now()),
      onDeposed: async () => undefined,
    }, log);
    cleanup.unshift(() => follower.stop());
    await follower.start();
    expect(follower.isLeader()).toBe(false);
    expect(follower.leader()).toBe('http://127.0.0.1:1');
    const deadline = Date.now() + 10_000;
    while (!follower.isLeader() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(follower.isLeader()).toBe(true);
    // Not before the lease expired (the store refuses that), and long before a 60 s tick.
    expect(electedAt).toBeGreaterThanOrEqual(taken.expiresAt);
    expect(follower.fence()).toMatchObject({ holder: 'b@http://127.0.0.1:2', epoch: taken.epoch + 1 });
  });
});
