-- state(): {capacity, available, waiters, closed (0/1), held, held by summing every
-- live holder (the observer's cross-check of the counter)}.
local sum = 0
for _, v in ipairs(redis.call('HVALS', holders)) do
  sum = sum + tonumber(v)
end
return {capacity, available(), redis.call('ZCARD', queue), closed and 1 or 0, held, sum}
