-- corral-fleet: the prelude every script starts with (src/redis/scripts.rs puts it in
-- front of each script body). One script runs at a time on the server, so each one is
-- an atomic state change.
--
-- KEYS (all with the same hash tag, so a cluster keeps them on one node):
--   1 meta     hash: capacity, held, closed, fence, seq
--   2 holders  hash: permit id -> count
--   3 leases   zset: permit id -> lease expiry (server ms)
--   4 fences   hash: permit id -> fencing token
--   5 queue    zset: waiter id -> arrival number (FIFO order)
--   6 qreq     hash: waiter id -> "count:lease_ms"
--   7 qexp     zset: waiter id -> expiry of the waiter's entry (server ms)
-- ARGV[1] the notification channel prefix (the owner's id prefix is appended),
-- ARGV[2] the capacity to start from when the semaphore does not exist (yet, or any
-- more after a restart that lost the data). The script's own arguments follow.
--
-- Invariants, after every script:
--   held == sum of holders' counts; every holder has a lease and a fence; every waiter
--   has a qreq and a qexp entry; no expired lease or waiter entry was seen by any
--   decision (reap() runs first); the queue head does not fit (pump() ran last).
local meta, holders, leases, fences = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local queue, qreq, qexp = KEYS[5], KEYS[6], KEYS[7]
local chan = ARGV[1]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])

local m = redis.call('HMGET', meta, 'capacity', 'held', 'closed')
if not m[1] then
  -- New, or lost with the server's data: start from the handle's capacity.
  redis.call('HSET', meta, 'capacity', ARGV[2])
  m[1] = ARGV[2]
end
local capacity = tonumber(m[1])
local held = tonumber(m[2] or '0')
local closed = m[3] == '1'

-- The process that owns an id listens on chan .. its prefix (ids are "prefix.n").
local function notify(id, msg)
  local owner = string.match(id, '^([^.]+)%.')
  if owner then
    redis.call('PUBLISH', chan .. owner, msg)
  end
end

local function add_held(delta)
  held = held + delta
  redis.call('HSET', meta, 'held', held)
end

local function drop_holder(id)
  local n = tonumber(redis.call('HGET', holders, id) or '0')
  redis.call('HDEL', holders, id)
  redis.call('HDEL', fences, id)
  redis.call('ZREM', leases, id)
  add_held(-n)
  return n
end

local function drop_waiter(id)
  redis.call('ZREM', queue, id)
  redis.call('HDEL', qreq, id)
  redis.call('ZREM', qexp, id)
end

local function waiter_req(id)
  local v = redis.call('HGET', qreq, id)
  if not v then
    return nil, nil
  end
  local n, lease = string.match(v, '^(%d+):(%d+)$')
  return tonumber(n), tonumber(lease)
end

-- Expired leases and waiter entries leave first, so no decision sees them. Bounded per
-- script (a longer backlog is reaped by the next scripts; an unreaped lease only
-- counts as held, never as free).
local function reap()
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 256)) do
    drop_holder(id)
    notify(id, 'L ' .. id)
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', qexp, '-inf', now, 'LIMIT', 0, 256)) do
    drop_waiter(id)
  end
end

-- Fencing tokens only grow: one more than the last, and never below the server's clock
-- in microseconds, so they keep growing across a restart that lost the counter (as long
-- as the server's clock does not step back).
local function grant(id, n, lease)
  local fence = tonumber(redis.call('HGET', meta, 'fence') or '0') + 1
  if fence < now_us then
    fence = now_us
  end
  redis.call('HSET', meta, 'fence', string.format('%d', fence))
  redis.call('HSET', holders, id, n)
  redis.call('HSET', fences, id, string.format('%d', fence))
  redis.call('ZADD', leases, now + lease, id)
  add_held(n)
  return fence
end

local function fmt(x)
  return string.format('%d', x)
end

-- Grants waiters from the head of the queue, in arrival order, while the head fits.
local function pump()
  while true do
    local head = redis.call('ZRANGE', queue, 0, 0)
    if #head == 0 then
      return
    end
    local id = head[1]
    local n, lease = waiter_req(id)
    if n == nil then
      drop_waiter(id)
    elseif n > capacity then
      drop_waiter(id)
      notify(id, 'T ' .. id .. ' ' .. fmt(capacity))
    elseif n <= capacity - held then
      drop_waiter(id)
      local fence = grant(id, n, lease)
      notify(id, 'G ' .. id .. ' ' .. fmt(fence) .. ' ' .. fmt(lease))
    else
      return
    end
  end
end

-- Every waiter that can never fit fails (after the capacity shrank).
local function fail_too_large()
  for _, id in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
    local n = waiter_req(id)
    if n == nil or n > capacity then
      drop_waiter(id)
      notify(id, 'T ' .. id .. ' ' .. fmt(capacity))
    end
  end
end

local function available()
  if held >= capacity then
    return 0
  end
  return capacity - held
end

reap()
pump()
