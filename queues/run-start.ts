/**
 * Everything a worker must know before a run may reach the server, read and written in one
 * Redis round trip (a Lua script, so it is atomic too): the thread lock, the attempt number
 * (counted up here; a takeover's events are numbered after an earlier attempt's), the upstream
 * marker a lost worker left, the control stream (a cancel sent before the job started) and the
 * session's thread. The marker is set here when the run may begin, so that a worker taking the
 * job over knows it might have reached the server. The script is queues/lua/begin-run.lua.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { TTL } from './keys.js';
import { withScripts } from './scripts.js';

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
  redis: Redis,
  keys: Keys,
  sid: string,
  runId: string,
  readThread: boolean,
): Promise<RunStart> {
  const reply = await withScripts(redis).beginRun(
    keys.lock(sid),
    keys.attempt(sid, runId),
    keys.upstream(sid, runId),
    keys.control(sid, runId),
    keys.session(sid),
    runId,
    TTL.lockMs,
    TTL.runningSeconds,
    readThread ? '1' : '0',
    PENDING,
  );
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
