-- close(): every waiter fails with Closed, every later acquire too; held permits stay
-- valid (and keep renewing).
redis.call('HSET', meta, 'closed', '1')
for _, id in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
  drop_waiter(id)
  notify(id, 'C ' .. id)
end
return 1
