/**
 * `@livekit/agents-plugin-assistant/fleet`: fleet mode's parts, for custom hosts. Importing it
 * needs bullmq and ioredis; a RunWorker also needs prom-client, and startBoard needs express,
 * `@bull-board/api` and `@bull-board/express` (each loaded only when used).
 */
import type { FleetEntry } from '../src/fleet-mode.js';
import { importOptional, missingPackagesMessage } from '../src/util/optional-packages.js';
import type { Board, BoardOptions } from './board.js';
import { createRedisTransport } from './redis-transport.js';

export { RedisTransport, createRedisTransport } from './redis-transport.js';
export type { RedisTransportOptions } from './redis-transport.js';
export type { RedisClusterConnection, RedisConnection } from './connection.js';
export { RunWorker } from './run-worker.js';
export type { RunWorkerOptions } from './run-worker.js';
export type { WorkerMetrics } from './worker-metrics.js';
export type { Board, BoardAuth, BoardOptions, RunSummary } from './board.js';
export { Keys, TTL, DEFAULT_PREFIX, DEFAULT_QUEUE } from './keys.js';
export { sessionId } from '../src/session.js';
export type { SessionIdentity } from '../src/session.js';

/** The packages startBoard loads. */
export const BOARD_PACKAGES = ['express', '@bull-board/api', '@bull-board/express'] as const;

/**
 * Serves Bull Board for the run queues. Its web packages are loaded now, not with this entry:
 * a clear error names the ones to install when they are missing.
 */
export async function startBoard(options: BoardOptions): Promise<Board> {
  const board = await importOptional(
    () => import('./board.js'),
    BOARD_PACKAGES,
    (missing, cause) => new Error(missingPackagesMessage('the board', missing), { cause }),
  );
  return board.startBoard(options);
}

// The core loads this entry for `transport: { redis }`; this line keeps the two in step.
const _entry: FleetEntry = { createRedisTransport };
