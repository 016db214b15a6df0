-- Stores an ended run, if this attempt is still its latest and it has not ended
-- (see src/runs/mod.rs, `RunStore::finish`).
-- KEYS: 1 run hash, 2 run events
-- ARGV: 1 attempt, 2 final status, 3 record JSON, 4 retention (s), 5 events cap,
--       6 status event JSON, then the run's last log events not yet in its events
-- Returns 1 when stored, 0 when another attempt owns the run or it has ended.
local fields = redis.call('HMGET', KEYS[1], 'status', 'attempts')
local status = fields[1]
if not status or status == 'succeeded' or status == 'failed' then return 0 end
if fields[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'record', ARGV[3])
redis.call('HDEL', KEYS[1], 'request', 'worker')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
for i = 7, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[i])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[6])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return 1
