-- send-control: a room's control message (tool outputs, cancel) to a run, in the session's slot
-- (queues/redis-transport.ts). The run's control stream is the durable record; the caller then
-- nudges the owner's control inbox, which lives in the worker's own slot.
--
-- KEYS[1]  <prefix>:{sid}:run:<runId>:control  the run's control stream
-- KEYS[2]  <prefix>:{sid}:run:<runId>:owner    the control inbox of the worker running the run
--
-- ARGV[1]  the entry's field name ('c', queues/stream-codec.ts)
-- ARGV[2]  the message (JSON)
-- ARGV[3]  the stream's time to live, s
--
-- Returns {entry id, owner or false}: no owner yet means no worker has begun the run; the one that
-- does reads the control stream itself (begin-run.lua), so the message is not missed.

local id = redis.call('xadd', KEYS[1], 'MAXLEN', '~', '1000', '*', ARGV[1], ARGV[2])
redis.call('expire', KEYS[1], ARGV[3])
return {id, redis.call('get', KEYS[2])}
