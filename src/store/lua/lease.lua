-- Registers or renews a process's read-cache lease (see src/store/redis/cache.rs).
-- KEYS: 1 the registry (hash: process id -> lease end, ms by Redis's clock), 2 when the
-- registry was born (ms)
-- ARGV: 1 the process incarnation's id, 2 the lease in ms, 3 "register" or "renew",
-- 4 for a registration, the id of the process's last incarnation ('' for none), whose
-- entry is dropped (its cache was emptied before)
-- Returns 1, or 0 for a renewal of a lease Redis no longer holds (it ended, or the
-- registry was lost): then writers may already have stopped waiting for the process.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == 'renew' then
  local ends = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
  if ends <= now then return 0 end
end
if ARGV[3] == 'register' and ARGV[4] ~= '' then redis.call('HDEL', KEYS[1], ARGV[4]) end
redis.call('SET', KEYS[2], now, 'NX')
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
return 1
