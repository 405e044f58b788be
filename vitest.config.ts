import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const at = (file: string) => fileURLToPath(new URL(`./${file}`, import.meta.url));

/** The fleet suites that run on a Redis Cluster as well as on one Redis. */
const ON_BOTH = ['test/fleet.test.ts', 'test/fleet-faults.test.ts', 'test/fleet-soak.test.ts'];
/** Suites that need a cluster: key spread, and failovers (on a cluster of their own). */
const CLUSTER_ONLY = ['test/fleet-cluster.test.ts'];
const FAILOVER = ['test/fleet-cluster-failover.test.ts'];

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
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites spawn workers and share one Redis; keep files from starving each other.
    maxWorkers: 2,
    // CI reads the JSON report to print its "N passed, N failed" line.
    reporters: process.env.CI
      ? ['default', ['json', { outputFile: '.vitest-report.json' }]]
      : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'single',
          include: ['test/**/*.test.ts'],
          exclude: [...CLUSTER_ONLY, ...FAILOVER],
        },
      },
      {
        // The fleet suites again, on the local Redis Cluster (test/support/fleet.ts: FLEET_REDIS).
        extends: true,
        test: {
          name: 'cluster',
          include: [...ON_BOTH, ...CLUSTER_ONLY],
          env: { FLEET_REDIS: 'cluster', SOAK_SESSIONS: '100', SOAK_TURNS: '10' },
          globalSetup: ['test/support/cluster-setup.ts'],
        },
      },
      {
        // Last, alone: it kills and fails over nodes of a cluster it starts for itself.
        extends: true,
        test: {
          name: 'failover',
          include: FAILOVER,
          env: { FLEET_REDIS: 'cluster', REDIS_CLUSTER_PORT: '7010' },
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
