-- Appends log events to a run's event stream, only while the run exists (see
-- src/runs/mod.rs, `RunStore::log`): a run whose record expired or whose org was removed
-- gets no stream back.
-- KEYS: 1 run hash, 2 run events
-- ARGV: 1 events cap, then one event JSON per line
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i])
end
return 1
