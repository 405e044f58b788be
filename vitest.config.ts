import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const at = (file: string) => fileURLToPath(new URL(`./${file}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests import the package by its published name, as users do.
    alias: [
      { find: /^@livekit\/agents-plugin-assistant\/testing$/, replacement: at('src/testing.ts') },
      { find: /^@livekit\/agents-plugin-assistant\/fleet$/, replacement: at('queues/index.ts') },
      { find: /^@livekit\/agents-plugin-assistant\/agent$/, replacement: at('actors/index.ts') },
      { find: /^@livekit\/agents-plugin-assistant$/, replacement: at('src/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites spawn workers and share one Redis; keep files from starving each other.
    maxWorkers: 2,
    // CI reads the JSON report to print its "N passed, N failed" line.
    reporters: process.env.CI
      ? ['default', ['json', { outputFile: '.vitest-report.json' }]]
      : ['default'],
  },
});
