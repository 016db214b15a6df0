-- Starts one delivery of a queued run (see src/runs/mod.rs, `RunStore::start`).
-- KEYS: 1 run hash, 2 run events, 3 the org's data version
-- ARGV: 1 worker name, 2 max attempts, 3 events cap, 4 `running` event JSON,
--       5 the queue entry delivering it
-- Returns {'run', attempt, record, request, data version or ''}, {'final'}, {'exhausted', attempts, record},
-- {'duplicate'} (another queue entry drives this run) or {'gone'}.
local fields = redis.call('HMGET', KEYS[1], 'status', 'entry', 'attempts', 'request', 'record')
local status, entry, request, record = fields[1], fields[2], fields[4], fields[5]
if not status then return {'gone'} end
if status == 'succeeded' or status == 'failed' then return {'final'} end
if entry and entry ~= ARGV[5] then return {'duplicate'} end
local attempts = tonumber(fields[3] or '0')
if attempts >= tonumber(ARGV[2]) then
  if not entry then redis.call('HSET', KEYS[1], 'entry', ARGV[5]) end
  return {'exhausted', tostring(attempts), record}
end
-- The entry (unset, or this one), the attempt counted and the run running: one write.
attempts = attempts + 1
redis.call('HSET', KEYS[1], 'entry', ARGV[5], 'attempts', tostring(attempts),
  'status', 'running', 'worker', ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[4])
if not request then return {'gone'} end
return {'run', tostring(attempts), record, request, redis.call('GET', KEYS[3]) or ''}
