-- renew-locks: extends every thread lock a worker holds, in one call (queues/thread-locks.ts).
--
-- KEYS[1..n]    the thread locks, <prefix>:{sid}:lock, one per run the worker executes
--
-- ARGV[1]       the locks' new time to live, ms
-- ARGV[2..n+1]  the run id that owns each lock, in the order of KEYS
--
-- Returns a list of n integers, in the order of KEYS: 1 where the lock was still the run's and
-- is extended, 0 where it is gone or names another run (it is left as it is).
--
-- The keys carry different sessions' hash tags: on Redis Cluster they would need one node, the
-- same constraint as the worker's control reader (see "Redis keys" in the README).

local renewed = {}
for i, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[i + 1] then
    redis.call('pexpire', key, ARGV[1])
    renewed[i] = 1
  else
    renewed[i] = 0
  end
end
return renewed
