-- One page of an ordered table with a one-hop lookup, in one round trip (see
-- src/store/mod.rs, `Backend::page`): for listing secrets, names → ids → metadata.
-- KEYS: 1 the ordered table (hash field → a field of the joined table), 2 its index
--       (zset of its fields), 3 the joined table (hash)
-- ARGV: after ('' to start at the beginning), limit
-- Returns a flat list: field, joined value, field, joined value, ...
local min = '-'
if ARGV[1] ~= '' then min = '(' .. ARGV[1] end
local names = redis.call('ZRANGEBYLEX', KEYS[2], min, '+', 'LIMIT', 0, tonumber(ARGV[2]))
if #names == 0 then return {} end
local ids = redis.call('HMGET', KEYS[1], unpack(names))
local present_names, present_ids = {}, {}
for i, id in ipairs(ids) do
  if id then
    present_names[#present_names + 1] = names[i]
    present_ids[#present_ids + 1] = id
  end
end
if #present_ids == 0 then return {} end
local metas = redis.call('HMGET', KEYS[3], unpack(present_ids))
local out = {}
for i, meta in ipairs(metas) do
  if meta then
    out[#out + 1] = present_names[i]
    out[#out + 1] = meta
  end
end
return out
