import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The suite must stay well under 10 minutes on a 2-core CI machine.
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
})
