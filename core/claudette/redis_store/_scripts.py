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

#: KEYS: breaker, probe. ARGV: now_ms, failure_threshold, ttl_ms. Returns the failure count.
BREAKER_FAILURE = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'half_open' or (state == 'closed' and failures >= tonumber(ARGV[2])) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'transitions', 1)
  redis.call('DEL', KEYS[2])
elseif state == 'open' then
  redis.call('HSET', KEYS[1], 'opened_at', ARGV[1])
else
  redis.call('HSET', KEYS[1], 'state', state)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return failures
"""

#: KEYS: breaker, probe. ARGV: ttl_ms. Resets the count; a half-open breaker closes.
BREAKER_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
redis.call('HSET', KEYS[1], 'failures', 0)
if state == 'half_open' then
  redis.call('HSET', KEYS[1], 'state', 'closed')
  redis.call('HINCRBY', KEYS[1], 'transitions', 1)
  redis.call('DEL', KEYS[2])
else
  redis.call('HSET', KEYS[1], 'state', state)
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

#: KEYS: breaker, probe. ARGV: now_ms, reset_timeout_ms, max_probes, lease_ms, ttl_ms.
#: Returns {1, 0} closed (go ahead), {2, 0} probe granted, {0, opened_at_ms} still open,
#: {0, -1} every probe slot taken by someone else.
BREAKER_ACQUIRE = """
local h = redis.call('HMGET', KEYS[1], 'state', 'opened_at')
local state = h[1] or 'closed'
if state == 'closed' then return {1, 0} end
if state == 'open' then
  local opened = tonumber(h[2] or '0')
  if tonumber(ARGV[1]) - opened < tonumber(ARGV[2]) then return {0, opened} end
  redis.call('HSET', KEYS[1], 'state', 'half_open')
  redis.call('HINCRBY', KEYS[1], 'transitions', 1)
  redis.call('DEL', KEYS[2])
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

#: KEYS: breaker, probe. ARGV: ttl_ms. An operator's reset: CLOSED, no failures.
BREAKER_RESET = """
redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0)
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
