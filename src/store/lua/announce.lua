-- Announces a change to an org's data to every coherent read cache (see
-- src/store/redis/cache.rs), after the change is applied.
-- KEYS: 1 the registry (hash: process id -> lease end, ms by Redis's clock), 2 when the
-- registry was born (ms)
-- ARGV: 1 the invalidation channel, 2 the message, 3 the writer's own process id
-- Returns {now, born, then a process id and its lease end for every other process whose
-- lease has not ended}: the writer waits for each to acknowledge or for its lease to end,
-- and, when the registry was born less than a lease ago, for that lease to pass.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local born = tonumber(redis.call('GET', KEYS[2]) or '-1')
if born < 0 then
  redis.call('SET', KEYS[2], now)
  born = now
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
local out = {now, born}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ends = tonumber(all[i + 1])
  if ends <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] ~= ARGV[3] then
    out[#out + 1] = all[i]
    out[#out + 1] = ends
  end
end
return out
