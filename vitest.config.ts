import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ once for the tests that load the shipped package.
    globalSetup: ['test/global-setup.ts'],
    // The suite must stay well under 10 minutes on a 2-core CI machine.
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
})
