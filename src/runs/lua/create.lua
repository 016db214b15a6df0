-- Stores a new run (see src/runs/mod.rs, `RunStore::create`).
-- KEYS: 1 run hash, 2 run events, 3 org index, 4 workflow-run index, 5 idempotency key,
--       6 the org's data version
-- ARGV: 1 run id, 2 status, 3 record JSON, 4 pending request JSON, 5 retention (s),
--       6 oldest id to keep in the org index, 7 events cap, 8 status event JSON,
--       9 '1' when KEYS[4] is used, 10 '1' when KEYS[5] is used
-- Returns {the existing run id when the idempotency key was used before, else '';
--          the org's data version, or '' when it has none}.
local ttl = tonumber(ARGV[5])
if ARGV[10] == '1' then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {existing, ''} end
  redis.call('SET', KEYS[5], ARGV[1], 'EX', ttl)
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'attempts', ARGV[2] == 'running' and 1 or 0,
  'record', ARGV[3], 'request', ARGV[4])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[8])
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZREMRANGEBYLEX', KEYS[3], '-', '(' .. ARGV[6])
if ARGV[9] == '1' then
  redis.call('ZADD', KEYS[4], 0, ARGV[1])
  redis.call('EXPIRE', KEYS[4], ttl)
end
return {'', redis.call('GET', KEYS[6]) or ''}
