-- leave(id): releases a permit, or takes a waiter out of the queue (a dropped acquire,
-- including one whose grant raced with the drop). Returns the count released (0 if the
-- id held nothing), or -1 if it was not known at all.
local id = ARGV[3]
local released = -1
if redis.call('HEXISTS', holders, id) == 1 then
  released = drop_holder(id)
elseif redis.call('ZSCORE', queue, id) then
  drop_waiter(id)
  released = 0
end
pump()
return released
