-- renew-locks: extends every thread lock a worker holds, in one call (queues/thread-locks.ts).
--
-- KEYS[1..n]    the thread locks, <prefix>:{sid}:lock, one per run the worker executes
--
-- ARGV[1]       the locks' new time to live, ms
-- ARGV[2..n+1]  the owner of each lock as the worker took it (<runId>:<attempt>), in KEYS order
--
-- Returns a list of n values, in the order of KEYS: 1 where the lock was still the owner's and
-- is extended; otherwise the lock's current owner, or 0 when it is gone (it is left as it is).
-- A later attempt of the same run as owner means the run was taken over.
--
-- The keys carry different sessions' hash tags: on Redis Cluster a call names only keys of one
-- slot, so thread-locks.ts makes one call per slot there (one call in all on one Redis).

local renewed = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('get', key)
  if owner == ARGV[i + 1] then
    redis.call('pexpire', key, ARGV[1])
    renewed[i] = 1
  else
    renewed[i] = owner or 0
  end
end
return renewed
