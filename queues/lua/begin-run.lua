-- begin-run: everything a worker must know before a run may reach the server, read and written
-- in one atomic step (see queues/run-start.ts).
--
-- KEYS[1]  <prefix>:{sid}:lock                the session's thread lock
-- KEYS[2]  <prefix>:{sid}:run:<runId>:attempt  how many times a worker began the run
-- KEYS[3]  <prefix>:{sid}:run:<runId>:upstream the upstream marker a lost worker left
-- KEYS[4]  <prefix>:{sid}:run:<runId>:control  the run's control stream (tool outputs, cancel)
-- KEYS[5]  <prefix>:{sid}:session              the session's hash (threadId)
-- KEYS[6]  <prefix>:{sid}:run:<runId>:owner    the control inbox of the worker running the run
--
-- ARGV[1]  the run id; the lock's owner is <runId>:<attempt>, so a later attempt of the same run
--          takes the lock over from an earlier one, and the earlier one can tell
-- ARGV[2]  the lock's time to live, ms
-- ARGV[3]  the attempt counter's and the marker's time to live, s
-- ARGV[4]  '1' to read the session's thread id, '0' not to
-- ARGV[5]  the marker of a run begun whose upstream id is not known yet ('pending')
-- ARGV[6]  this worker's control inbox, <prefix>:worker:{<uuid>}:control: where the room nudges
--          it when a control message comes (send-control.lua reads it)
--
-- Returns {0} when another run holds the lock (nothing is written), otherwise
-- {1, attempt, marker or false, 1 if a cancel was sent else 0, last control id or false,
--  thread id or false}. The marker is set here only when none exists and no cancel came.
--
-- Control entries are read as the control codec writes them (queues/stream-codec.ts): the
-- payload is the entry's second value.

local owner = redis.call('get', KEYS[1])
local ours = ARGV[1] .. ':'
if owner and string.sub(owner, 1, #ours) ~= ours then return {0} end

local attempt = redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], ARGV[3])
redis.call('set', KEYS[1], ours .. attempt, 'PX', ARGV[2])
local marker = redis.call('get', KEYS[3])

local thread = false
if ARGV[4] == '1' then thread = redis.call('hget', KEYS[5], 'threadId') end

local cancelled = 0
local lastControl = false
for _, entry in ipairs(redis.call('xrange', KEYS[4], '-', '+')) do
  lastControl = entry[1]
  local ok, message = pcall(cjson.decode, entry[2][2])
  if ok and type(message) == 'table' and message['type'] == 'cancel' then cancelled = 1 end
end

if not marker and cancelled == 0 then
  redis.call('set', KEYS[3], ARGV[5], 'EX', ARGV[3])
end
-- A takeover's worker replaces the lost one's inbox; the worker reads the control stream itself
-- after this, so a message sent before the owner changed is not missed.
redis.call('set', KEYS[6], ARGV[6], 'EX', ARGV[3])
return {1, attempt, marker, cancelled, lastControl, thread}
