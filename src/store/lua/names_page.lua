-- One page of an org's secrets in case-folded name order, in one round trip.
-- KEYS: 1 names (hash name → id), 2 names index (zset), 3 secrets (hash id → metadata)
-- ARGV: after ('' to start at the beginning), limit
-- Returns a flat list: name, metadata, name, metadata, ...
local min = '-'
if ARGV[1] ~= '' then min = '(' .. ARGV[1] end
local names = redis.call('ZRANGEBYLEX', KEYS[2], min, '+', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, name in ipairs(names) do
  local id = redis.call('HGET', KEYS[1], name)
  if id then
    local meta = redis.call('HGET', KEYS[3], id)
    if meta then
      out[#out + 1] = name
      out[#out + 1] = meta
    end
  end
end
return out
