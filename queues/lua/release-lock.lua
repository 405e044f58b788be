-- release-lock: frees a session's thread lock if the run still owns it (queues/thread-locks.ts).
--
-- KEYS[1]  <prefix>:{sid}:lock
--
-- ARGV[1]  the owner that took the lock (<runId>:<attempt>)
--
-- Returns 1 when the lock was the owner's and is deleted, 0 when it is gone or names another owner
-- (it is left as it is).

if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
