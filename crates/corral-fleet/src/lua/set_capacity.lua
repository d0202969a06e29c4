-- set_capacity(c): growing grants waiters that now fit; shrinking is lazy (held
-- permits are absorbed as they are released); waiters that can never fit fail.
capacity = tonumber(ARGV[3])
redis.call('HSET', meta, 'capacity', fmt(capacity))
fail_too_large()
pump()
return capacity
