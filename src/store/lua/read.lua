-- Reads fields of one org and its data version at one instant (see src/store/redis.rs,
-- `read_through`): on a Redis Cluster, where a MULTI/EXEC redirected by a failover or a
-- slot migration is not retried by the client, and a script is.
-- KEYS: 1 the org's data version (string), then one table hash per run of fields
-- ARGV: per table key after the first: the number of fields, then the fields
-- Returns {version or false, then each field's value or false, in order}.
local out = {redis.call('GET', KEYS[1])}
local i = 1
for k = 2, #KEYS do
  local n = tonumber(ARGV[i])
  local values = redis.call('HMGET', KEYS[k], unpack(ARGV, i + 1, i + n))
  for j = 1, n do out[#out + 1] = values[j] end
  i = i + n + 1
end
return out
