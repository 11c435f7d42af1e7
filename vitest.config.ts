import { configDefaults, defineConfig } from 'vitest/config';

// The e2e scenario (`drm e2e --quick`: a fleet of real worker processes running CPU-burning tasks on
// a schedule) runs after everything else, on its own: sharing the 2 cores with another test file
// stretched its tasks past their timeouts and its phases past their windows (seen with the code of
// both sessions so far).
const E2E = 'test/integration/e2e.test.ts';

export default defineConfig({
  test: {
    // Integration tests start real processes; a 2-core machine under load needs headroom.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, E2E], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'e2e', include: [E2E], sequence: { groupOrder: 1 } } },
    ],
  },
});
