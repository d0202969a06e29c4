-- acquire(id, n, lease_ms, mode, waiter_ttl_ms): mode 'try' or 'wait'. Also the
-- waiter's heartbeat: a queued id refreshes its entry; a granted id learns its grant;
-- an id the server forgot (restart, expired entry) queues again.
-- Returns {'G', fence, lease_ms_left, count} | {'Q'} | {'C'} | {'T', capacity} |
-- {'N', available}.
local id = ARGV[3]
local n = tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
local mode = ARGV[6]
local wttl = tonumber(ARGV[7])

local h = redis.call('HGET', holders, id)
if h then
  local exp = tonumber(redis.call('ZSCORE', leases, id))
  return {'G', redis.call('HGET', fences, id), exp - now, tonumber(h)}
end
if redis.call('ZSCORE', queue, id) then
  redis.call('ZADD', qexp, now + wttl, id)
  return {'Q'}
end
if closed then
  return {'C'}
end
if n > capacity then
  return {'T', capacity}
end
if n == 0 or (redis.call('ZCARD', queue) == 0 and n <= capacity - held) then
  local fence = grant(id, n, lease)
  return {'G', fmt(fence), lease, n}
end
if mode == 'try' then
  return {'N', available()}
end
local seq = redis.call('HINCRBY', meta, 'seq', 1)
redis.call('ZADD', queue, seq, id)
redis.call('HSET', qreq, id, fmt(n) .. ':' .. fmt(lease))
redis.call('ZADD', qexp, now + wttl, id)
return {'Q'}
