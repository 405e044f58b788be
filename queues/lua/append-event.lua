-- append-event: appends one run event to the inbox of the room waiting for it, unless a later
-- attempt of the run took it over (a fence); or, with no entry, only raises the fence: a worker
-- taking a run over does so before anything else (queues/event-publisher.ts).
--
-- KEYS[1]  <prefix>:inbox:{<uuid>}        the room process's inbox (a stream)
-- KEYS[2]  <prefix>:inbox:{<uuid>}:fence  each run's newest attempt writing there (a hash)
--
-- ARGV[1]     the run id
-- ARGV[2]     this attempt's number (1 on a first start)
-- ARGV[3]     the inbox's cap, for XADD MAXLEN ~
-- ARGV[4]     the fence's time to live, ms (the room refreshes it with its inbox)
-- ARGV[5..n]  the entry's names and values (queues/stream-codec.ts); none to only raise the fence
--
-- Returns 1 when the entry was appended (or the fence raised), 0 when a later attempt owns the
-- run, -1 when the inbox does not exist (its room is gone, or Redis lost it). Only a 1 writes.
-- Both keys carry the inbox's hash tag, so on Redis Cluster they share its slot.

if redis.call('exists', KEYS[1]) == 0 then return -1 end
local attempt = tonumber(ARGV[2])
local newest = tonumber(redis.call('hget', KEYS[2], ARGV[1]) or '0')
if newest > attempt then return 0 end
if newest < attempt then
  redis.call('hset', KEYS[2], ARGV[1], attempt)
  redis.call('pexpire', KEYS[2], ARGV[4])
end
if #ARGV > 4 then
  redis.call('xadd', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 5))
end
return 1
