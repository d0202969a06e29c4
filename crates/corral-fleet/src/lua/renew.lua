-- renew(id, lease_ms): extends a held lease from now. Returns lease_ms, or -1 if the
-- server holds no such permit (its lease ran out and was reaped, or the data was lost).
local id = ARGV[3]
local lease = tonumber(ARGV[4])
if redis.call('HEXISTS', holders, id) == 0 then
  return -1
end
redis.call('ZADD', leases, now + lease, id)
return lease
