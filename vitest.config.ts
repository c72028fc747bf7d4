import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'e2e/**/*.test.ts'],
    // Each e2e file starts its own test cluster with real processes; forks keep them apart.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 90_000,
    // The CLI tests run the built `localizer`, built once here from the sources.
    globalSetup: ['e2e/support/test-run-temp.ts', 'e2e/support/built-localizer.ts'],
  },
});
