/**
 * How the fleet's BullMQ queues are named and connected. On one Redis, as always: queue `<queue>`,
 * BullMQ's own prefix `bull`, so keys `bull:<queue>:*`. On a Redis Cluster, BullMQ's scripts touch
 * many keys of a queue at once, so (as BullMQ documents for clusters) the prefix carries a hash
 * tag: `bull:{<queue>}`, keys `bull:{<queue>}:<queue>:*`, one slot per queue.
 *
 * Queue shards: with `queues: N` (N > 1) a fleet has N queues, `<queue>-0` to `<queue>-<N-1>`; a
 * session always goes to the same one (a hash of its id), and every worker consumes all of them.
 * Each queue is one slot, so on a cluster the shards spread the run starts over the primaries.
 */
import type { ConnectionOptions, QueueOptions } from 'bullmq';
import { connect, type FleetRedis, type ResolvedConnection } from './connection.js';

/** The largest number of queue shards a fleet may have. */
export const MAX_QUEUE_SHARDS = 256;

/** The queue names of a fleet with `shards` queues. */
export function shardQueues(queue: string, shards = 1): string[] {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_QUEUE_SHARDS) {
    throw new Error(
      `queues: expected a whole number from 1 to ${MAX_QUEUE_SHARDS}, got ${JSON.stringify(shards)}`,
    );
  }
  if (shards === 1) return [queue];
  return Array.from({ length: shards }, (_, i) => `${queue}-${i}`);
}

/** The queue of a session (its id is 32 hex digits): the same one every time. */
export function queueOf(queues: readonly string[], sid: string): string {
  if (queues.length === 1) return queues[0]!;
  return queues[Number.parseInt(sid.slice(0, 8), 16) % queues.length]!;
}

/** BullMQ's prefix for `queue`: its default on one Redis, a hash-tagged one on a cluster. */
export function bullPrefix(connection: ResolvedConnection, queue: string): string | undefined {
  return connection.kind === 'cluster' ? `bull:{${queue}}` : undefined;
}

/**
 * BullMQ's connection and prefix for `queue`. On a cluster BullMQ gets a Cluster instance made by
 * connect(), `shared`, which the caller closes after the queue or worker (BullMQ does not).
 */
export function bullOptions(
  connection: ResolvedConnection,
  queue: string,
  shared?: FleetRedis,
): Pick<QueueOptions, 'connection' | 'prefix'> {
  const prefix = bullPrefix(connection, queue);
  if (connection.kind === 'single') return { connection: connection.options as ConnectionOptions };
  return {
    connection: (shared ?? connect(connection)) as ConnectionOptions,
    ...(prefix ? { prefix } : {}),
  };
}
