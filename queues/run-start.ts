/**
 * Everything a worker must know before a run may reach the server, read and written in one
 * Redis round trip (a Lua script, so it is atomic too): the thread lock, the attempt number
 * (counted up here; a takeover's events are numbered after an earlier attempt's), the upstream
 * marker a lost worker left, the control stream (a cancel sent before the job started) and the
 * session's thread; and it records this worker's control inbox as the run's owner, where the
 * room nudges it about new control messages. The marker is set here when the run may begin, so that a worker taking the
 * job over knows it might have reached the server. The script is queues/lua/begin-run.lua.
 */
import { Cluster, type Redis } from 'ioredis';
import { keySlot, type FleetRedis } from './connection.js';
import type { Keys } from './keys.js';
import { TTL } from './keys.js';
import { withScripts, type BeginRunReply } from './scripts.js';

/** The upstream marker of a run begun whose upstream id is not known yet. */
export const PENDING = 'pending';

export type RunStart =
  | { begun: false }
  | {
      begun: true;
      /** 1 on the first start, 2 on the first takeover, ... */
      attempt: number;
      /** What a lost worker left: PENDING or the upstream run id; null on a first start. */
      marker: string | null;
      /** A cancel was sent before the run began: it must not start (the marker is not set). */
      cancelled: boolean;
      /** The id of the last control message so far ('0' if none): the worker reads after it. */
      controlReadFrom: string;
      /** The session's thread id, when asked for. */
      threadId: string | null;
    };

/**
 * Takes the thread lock for `runId` (or finds it already ours) and reads the run's state.
 * `begun: false` when another run holds the session's thread.
 */
export async function beginRun(
  redis: FleetRedis,
  keys: Keys,
  sid: string,
  runId: string,
  readThread: boolean,
  controlInbox: string,
): Promise<RunStart> {
  const args = [
    keys.lock(sid),
    keys.attempt(sid, runId),
    keys.upstream(sid, runId),
    keys.control(sid, runId),
    keys.session(sid),
    keys.owner(sid, runId),
    runId,
    TTL.lockMs,
    TTL.runningSeconds,
    readThread ? '1' : '0',
    PENDING,
    controlInbox,
  ];
  const reply =
    redis instanceof Cluster
      ? await beginReplicated(redis, args, keys.lock(sid))
      : await withScripts(redis).beginRun(...args);
  if (reply[0] === 0) return { begun: false };
  const [, attempt, marker, cancelled, lastControl, threadId] = reply;
  return {
    begun: true,
    attempt,
    marker: marker || null,
    cancelled: cancelled === 1,
    controlReadFrom: lastControl || '0',
    threadId: threadId || null,
  };
}

/** How long begin-run waits for a replica to have its writes, on a cluster. */
export const REPLICA_WAIT_MS = 100;

/**
 * On a Redis Cluster, begin-run and then WAIT on the session's primary: the lock, the marker and
 * the owner are on a replica before the run may reach the server, so a failover right after does
 * not forget that the run began. A primary without a replica in sync answers 0 after
 * REPLICA_WAIT_MS, and the run goes on all the same (it cannot do better).
 */
async function beginReplicated(
  redis: Cluster,
  args: Array<string | number>,
  lockKey: string,
): Promise<BeginRunReply> {
  const reply = await withScripts(redis).beginRun(...args);
  const primary = primaryFor(redis, lockKey);
  if (primary) {
    // Not knowing whether a replica has the writes changes nothing for this run: a failed WAIT
    // (the primary just failed over) is safe to leave, and the run goes on.
    await primary.wait(1, REPLICA_WAIT_MS).catch(() => undefined);
  }
  return reply;
}

/** The connection to the primary that holds `key`'s slot, as the Cluster client knows it. */
function primaryFor(redis: Cluster, key: string): Redis | undefined {
  const address = redis.slots[keySlot(key)]?.[0];
  if (!address) return undefined;
  return redis
    .nodes('master')
    .find((node) => `${node.options.host}:${node.options.port}` === address);
}
