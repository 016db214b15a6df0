-- Applies one hush transaction atomically (see src/store/mod.rs, `Txn`).
-- KEYS: one hash per table in `Table::ALL` order (6 is names), then the names index (zset),
--       the audit trail (stream) and the org's data version (string): the last three keys,
--       whatever the number of tables
-- ARGV: n_expect, then n_expect × (table, field, present, value),
--       n_write,  then n_write  × (table, field, present, value),
--       audit entry ('' for none), audit cap, the new data version
-- Returns 1 when applied (the version replaced), 0 when a precondition failed (nothing
-- written).
local i = 1
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local current = redis.call('HGET', KEYS[tonumber(ARGV[i])], ARGV[i + 1])
  if ARGV[i + 2] == '1' then
    if current ~= ARGV[i + 3] then return 0 end
  elseif current then
    return 0
  end
  i = i + 4
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local t = tonumber(ARGV[i])
  if ARGV[i + 2] == '1' then
    redis.call('HSET', KEYS[t], ARGV[i + 1], ARGV[i + 3])
    if t == 6 then redis.call('ZADD', KEYS[#KEYS - 2], 0, ARGV[i + 1]) end
  else
    redis.call('HDEL', KEYS[t], ARGV[i + 1])
    if t == 6 then redis.call('ZREM', KEYS[#KEYS - 2], ARGV[i + 1]) end
  end
  i = i + 4
end
if ARGV[i] ~= '' then
  redis.call('XADD', KEYS[#KEYS - 1], 'MAXLEN', '~', ARGV[i + 1], '*', 'e', ARGV[i])
end
redis.call('SET', KEYS[#KEYS], ARGV[i + 2])
return 1
