"""The Lua scripts that make every shared transition and counter atomic in Redis.

Each script runs as one atomic step on the server, so concurrent processes can never
both see "no probe in flight" or lose a counter increment. Times are epoch milliseconds
sent by the caller; every script refreshes the TTL of each key it writes.
"""

from __future__ import annotations

__all__ = [
    "BREAKER_ACQUIRE",
    "BREAKER_FAILURE",
    "BREAKER_RELEASE",
    "BREAKER_RESET",
    "BREAKER_SUCCESS",
    "COUNTER_RESERVE",
    "STATS_PUBLISH",
]

#: KEYS: breaker, probe. ARGV: now_ms, failure_threshold, ttl_ms, tripped (1: the failure
#: rate opened the caller's breaker), reset_timeout_ms, reset_timeout_growth,
#: max_reset_timeout_ms. Returns the failure count. Opening stores the trip count and the
#: open period (``open_for`` ms): the period grows on a trip that follows the last closing
#: within the longest period, as :meth:`BreakerPolicy.open_period` computes it.
BREAKER_FAILURE = """
local h = redis.call('HMGET', KEYS[1], 'state', 'trips', 'closed_at')
local state = h[1] or 'closed'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local now = tonumber(ARGV[1])
local function trip(repeated)
  local trips = tonumber(h[2] or '0')
  local closed = tonumber(h[3] or '0')
  local reset = tonumber(ARGV[5])
  local cap = math.max(tonumber(ARGV[7]), reset)
  if not repeated and (closed == 0 or now - closed >= cap) then trips = 0 end
  trips = trips + 1
  local period = reset
  for _ = 2, trips do
    period = period * tonumber(ARGV[6])
    if period >= cap then period = cap break end
  end
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1], 'trips', trips,
    'open_for', math.floor(period))
  redis.call('HINCRBY', KEYS[1], 'transitions', 1)
  redis.call('DEL', KEYS[2])
end
if state == 'half_open' then
  trip(true)
elseif state == 'closed' and (failures >= tonumber(ARGV[2]) or ARGV[4] == '1') then
  trip(false)
elseif state == 'open' then
  redis.call('HSET', KEYS[1], 'opened_at', ARGV[1])
else
  redis.call('HSET', KEYS[1], 'state', state)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return failures
"""

#: KEYS: breaker, probe. ARGV: ttl_ms, close (1: a probe succeeded), now_ms. Resets the
#: count; a half-open breaker closes, and so does an open one when a probe succeeded.
BREAKER_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
redis.call('HSET', KEYS[1], 'failures', 0)
if state == 'half_open' or (state == 'open' and ARGV[2] == '1') then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'closed_at', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'transitions', 1)
  redis.call('DEL', KEYS[2])
else
  redis.call('HSET', KEYS[1], 'state', state)
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

#: KEYS: breaker, probe. ARGV: now_ms, reset_timeout_ms, max_probes, lease_ms, ttl_ms,
#: early (1: a probe before the open period ends). The open period is the stored
#: ``open_for``, else reset_timeout_ms.
#: Returns {1, 0} closed (go ahead), {2, 0} probe granted, {0, opened_at_ms} still open,
#: {0, -1} every probe slot taken by someone else.
BREAKER_ACQUIRE = """
local h = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'open_for')
local state = h[1] or 'closed'
if state == 'closed' then return {1, 0} end
if state == 'open' then
  local opened = tonumber(h[2] or '0')
  local period = tonumber(h[3] or ARGV[2])
  if tonumber(ARGV[1]) - opened < period then
    if ARGV[6] ~= '1' then return {0, opened} end
  else
    redis.call('HSET', KEYS[1], 'state', 'half_open')
    redis.call('HINCRBY', KEYS[1], 'transitions', 1)
    redis.call('DEL', KEYS[2])
  end
end
local probes = tonumber(redis.call('GET', KEYS[2]) or '0')
if probes >= tonumber(ARGV[3]) then return {0, -1} end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {2, 0}
"""

#: KEYS: probe. Frees one probe slot (a cancelled probe); never goes below zero.
BREAKER_RELEASE = """
local probes = tonumber(redis.call('GET', KEYS[1]) or '0')
if probes <= 1 then redis.call('DEL', KEYS[1]) else redis.call('DECR', KEYS[1]) end
return probes
"""

#: KEYS: breaker, probe. ARGV: ttl_ms. An operator's reset: CLOSED, no failures, no trips.
BREAKER_RESET = """
redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'trips', 0)
redis.call('HDEL', KEYS[1], 'closed_at', 'open_for')
redis.call('HINCRBY', KEYS[1], 'transitions', 1)
redis.call('DEL', KEYS[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

#: KEYS: stats, latencies. ARGV: calls, successes, failures, last_failure_ms,
#: cooldown_until_ms, window, ttl_ms, then the new latencies (oldest first).
STATS_PUBLISH = """
local function bump(field, n)
  if tonumber(n) > 0 then redis.call('HINCRBY', KEYS[1], field, n) end
end
bump('calls', ARGV[1])
bump('successes', ARGV[2])
bump('failures', ARGV[3])
local function raise(field, v)
  local new = tonumber(v)
  if new > 0 and new > tonumber(redis.call('HGET', KEYS[1], field) or '0') then
    redis.call('HSET', KEYS[1], field, v)
  end
end
raise('last_failure_at', ARGV[4])
raise('cooldown_until', ARGV[5])
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], 'calls', 0) end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
if #ARGV >= 8 then
  for i = 8, #ARGV do redis.call('LPUSH', KEYS[2], ARGV[i]) end
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
end
return 1
"""

#: KEYS: counter. ARGV: amount, limit ('' for none), ttl_ms.
#: Adds ``amount`` only if the total stays within the limit. Returns {granted, total}.
COUNTER_RESERVE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if ARGV[2] ~= '' and current + amount > tonumber(ARGV[2]) then
  return {0, current}
end
local total = redis.call('INCRBY', KEYS[1], amount)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, total}
"""
