/**
 * Everything a worker must know before a run may reach the server, read and written in one
 * Redis round trip (a Lua script, so it is atomic too): the thread lock, the attempt number
 * (counted up here; a takeover's events are numbered after an earlier attempt's), the upstream
 * marker a lost worker left, the control stream (a cancel sent before the job started) and the
 * session's thread. The marker is set here when the run may begin, so that a worker taking the
 * job over knows it might have reached the server.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { TTL } from './keys.js';

/** The upstream marker of a run begun whose upstream id is not known yet. */
export const PENDING = 'pending';

// KEYS: lock, attempt, upstream, control, session.
// ARGV: runId, lock ms, marker seconds, '1' to read the session's thread id, PENDING.
const BEGIN_RUN = `
local owner = redis.call('get', KEYS[1])
if owner and owner ~= ARGV[1] then return {0} end
if not owner then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
local attempt = redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], ARGV[3])
local marker = redis.call('get', KEYS[3])
local control = redis.call('xrange', KEYS[4], '-', '+')
local thread = false
if ARGV[4] == '1' then thread = redis.call('hget', KEYS[5], 'threadId') end
local cancelled = 0
local lastControl = false
for _, entry in ipairs(control) do
  lastControl = entry[1]
  local ok, message = pcall(cjson.decode, entry[2][2])
  if ok and type(message) == 'table' and message['type'] == 'cancel' then cancelled = 1 end
end
if not marker and cancelled == 0 then
  redis.call('set', KEYS[3], ARGV[5], 'EX', ARGV[3])
end
return {1, attempt, marker, cancelled, lastControl, thread}
`;

type Reply = [0] | [1, number, string | null, 0 | 1, string | null, string | null];

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

type WithBeginRun = Redis & {
  beginRun(...args: Array<string | number>): Promise<Reply>;
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
  const scripted = redis as WithBeginRun;
  // EVALSHA after the first call; ioredis loads the script again if Redis lost it.
  if (typeof scripted.beginRun !== 'function') {
    redis.defineCommand('beginRun', { numberOfKeys: 5, lua: BEGIN_RUN });
  }
  const reply = await scripted.beginRun(
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
