import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // The suite must stay well under 10 minutes on a 2-core CI machine.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'default',
          include: ['test/**/*.test.ts'],
          // Builds dist/ once for the tests that load the shipped package; looks for redis-server once.
          globalSetup: ['test/global-setup.ts', 'test/redis-setup.ts'],
        },
      },
      {
        // The MLCache and page-swapping suites again, each cache on an asynchronous wrapper of its
        // SharedDict (test/helpers/cache-factory.ts), as over a networked store:
        // every L2 call settles after real macrotask turns, so calls interleave.
        // Worker-thread tests build their caches in the workers and stay in the default run.
        extends: true,
        test: {
          name: 'async-l2',
          include: ['test/mlcache/**/*.test.ts', 'test/pages/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/mlcache/workers.test.ts', 'test/pages/swap-workers.test.ts', 'test/pages/swap-cluster.test.ts', 'test/pages/swap-relay.test.ts'],
          env: { MLCACHE_TEST_L2: 'async' },
        },
      },
      {
        // The SharedDict suites again with every L2Store read under the mutex, as on a CPU
        // without x86's memory order (LOCK_FREE_READS in dict-core.ts).
        extends: true,
        test: {
          name: 'locked-reads',
          include: ['test/l2/shared-dict/**/*.test.ts'],
          env: { MLCACHE_LOCKED_READS: '1' },
        },
      },
    ],
  },
})
