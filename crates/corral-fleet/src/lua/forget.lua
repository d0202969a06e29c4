-- forget(id): the permit leaves without returning its count: the capacity shrinks by
-- it. Returns the count forgotten, or -1 if the server holds no such permit.
local id = ARGV[3]
if redis.call('HEXISTS', holders, id) == 0 then
  return -1
end
local n = drop_holder(id)
capacity = capacity - n
redis.call('HSET', meta, 'capacity', fmt(capacity))
fail_too_large()
pump()
return n
