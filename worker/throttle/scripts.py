"""The Lua scripts that make every throttle decision atomic, registered once per Redis client.

Times come from the caller's clock (an argument), never from Redis, so one injected clock drives
leases, cooldowns and adaptation in tests. Times are passed as Python `repr` strings and returned as
strings because Redis turns Lua numbers into integers on the way out. Key lifetimes are real time
(milliseconds) and are only ever extended by a write, never shortened.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from redis import Redis
from redis.commands.core import Script

# Helpers shared by the slot scripts. `now_s` is the caller's clock as a string so that the
# exclusive range bound `(now` keeps full precision.
_PRELUDE = """
local function touch(key, ttl_ms)
  local ttl = tonumber(ttl_ms)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
local function effective(state, limit, min_limit)
  local floor = math.min(min_limit, limit)
  local eff = tonumber(redis.call('HGET', state, 'eff'))
  if eff == nil or eff > limit then eff = limit end
  if eff < floor then eff = floor end
  return eff
end
local function cooling(state, now)
  local c = tonumber(redis.call('HGET', state, 'cool'))
  return c ~= nil and now < c
end
local function live_count(slots, now_s)
  return redis.call('ZCOUNT', slots, '(' .. now_s, '+inf')
end
local function holds(slots, holder, now)
  local s = tonumber(redis.call('ZSCORE', slots, holder))
  return s ~= nil and s > now
end
local function push(wait, seq, id, prio)
  if redis.call('ZSCORE', wait, id) then return 0 end
  local score = prio
  if score == '' then score = redis.call('INCR', seq) end
  redis.call('ZADD', wait, score, id)
  return 1
end
local function renew(slots, holder, expiry, ttl_ms)
  if not redis.call('ZSCORE', slots, holder) then return 0 end
  redis.call('ZADD', slots, expiry, holder)
  touch(slots, ttl_ms)
  return 1
end
-- A create was accepted. Additive increase of an adapted limit: one step after `raise_after`
-- successes in a row, at most once per `raise_interval_s`. Returns the effective limit.
local function succeeded(state, now_s, limit_s, raise_after, raise_interval_s, ttl_ms)
  local now, limit = tonumber(now_s), tonumber(limit_s)
  if redis.call('HEXISTS', state, 'streak') == 1 then redis.call('HDEL', state, 'streak') end
  local eff = tonumber(redis.call('HGET', state, 'eff'))
  if eff == nil then return limit end
  if eff >= limit then
    redis.call('HDEL', state, 'eff', 'ok')
    return limit
  end
  if cooling(state, now) then return eff end
  local ok = redis.call('HINCRBY', state, 'ok', 1)
  local changed = tonumber(redis.call('HGET', state, 'changed')) or 0
  if ok >= tonumber(raise_after) and now - changed >= tonumber(raise_interval_s) then
    eff = eff + 1
    if eff >= limit then
      redis.call('HDEL', state, 'eff', 'ok')
    else
      redis.call('HSET', state, 'eff', eff, 'ok', 0)
    end
    redis.call('HSET', state, 'changed', now_s)
  end
  touch(state, ttl_ms)
  return eff
end
-- Move the oldest waiters into the pool while a slot is free; a waiter that already holds a live
-- slot is handed on without using one (its submit is idempotent).
local function hand_on(slots, state, wait, now_s, expiry, limit, min_limit, n)
  local now = tonumber(now_s)
  local out = {}
  if cooling(state, now) then return out end
  local free = effective(state, limit, min_limit) - live_count(slots, now_s)
  while n <= 0 or #out < n do
    local head = redis.call('ZRANGE', wait, 0, 0)
    if #head == 0 then break end
    local id = head[1]
    if not holds(slots, id, now) then
      if free <= 0 then break end
      free = free - 1
    end
    redis.call('ZREM', wait, id)
    redis.call('ZADD', slots, expiry, id)
    out[#out + 1] = id
  end
  return out
end
"""

# KEYS: slots, state. ARGV: holder, now, expiry, limit, min_limit, slots_ttl_ms.
_ACQUIRE = """
local holder, now_s, expiry = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(now_s)
if not holds(KEYS[1], holder, now) then
  if cooling(KEYS[2], now) then return 0 end
  local eff = effective(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
  if live_count(KEYS[1], now_s) >= eff then return 0 end
end
redis.call('ZADD', KEYS[1], expiry, holder)
touch(KEYS[1], ARGV[6])
return 1
"""

# KEYS: slots. ARGV: holder, expiry, slots_ttl_ms. A late renewal (lease already past but not yet
# swept) still counts: the task it stands for is running at the provider.
_RENEW = """
return renew(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
"""

# A create was accepted: `_RENEW` and `_SUCCEEDED` in one call, the submit step's hot path.
# KEYS: slots, state. ARGV: holder, expiry, slots_ttl_ms, now, limit, raise_after,
# raise_interval_s, state_ttl_ms. Returns what `_RENEW` returns.
_CREATED = """
local renewed = renew(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
succeeded(KEYS[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
return renewed
"""

# KEYS: slots. ARGV: holder, now, expiry, slots_ttl_ms. Returns 1 when the holder was not counted.
_ADOPT = """
local was = holds(KEYS[1], ARGV[1], tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[1])
touch(KEYS[1], ARGV[4])
if was then return 0 end
return 1
"""

# KEYS: slots. ARGV: now.
_EXPIRE = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) end
return gone
"""

# KEYS: slots. ARGV: now, expiry, release_cutoff, slots_ttl_ms, live ids...
# A holder missing from `live` is released only once its lease was last set before the cutoff,
# so a job that took its slot a moment ago (and is not yet in flight in the ledger) keeps it.
_RECONCILE = """
local now = tonumber(ARGV[1])
local cutoff = tonumber(ARGV[3])
local live = {}
for i = 5, #ARGV do live[ARGV[i]] = true end
local released, adopted, present = {}, {}, {}
local cur = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #cur, 2 do
  local h, score = cur[i], tonumber(cur[i + 1])
  present[h] = score
  if not live[h] and (score <= now or score <= cutoff) then
    redis.call('ZREM', KEYS[1], h)
    released[#released + 1] = h
  end
end
local seen = {}
for i = 5, #ARGV do
  local h = ARGV[i]
  if not seen[h] then
    seen[h] = true
    local score = present[h]
    if score == nil or score <= now then adopted[#adopted + 1] = h end
    redis.call('ZADD', KEYS[1], 'GT', ARGV[2], h)
  end
end
if #ARGV >= 5 then touch(KEYS[1], ARGV[4]) end
return {released, adopted}
"""

# KEYS: slots, state. ARGV: now, limit, min_limit, wait_s, state_ttl_ms.
# Returns {seconds of cooldown left, new effective limit}. Refusals that arrive while a cooldown
# is already running belong to the same episode: they neither lower the limit by another step nor
# lengthen the backoff streak.
_REFUSED = """
local now_s = ARGV[1]
local now, limit, min_limit = tonumber(now_s), tonumber(ARGV[2]), tonumber(ARGV[3])
local floor = math.min(min_limit, limit)
local eff = effective(KEYS[2], limit, min_limit)
local in_use = live_count(KEYS[1], now_s)
local episode = cooling(KEYS[2], now)
local target = math.min(eff, in_use - 1)
if not episode then
  target = math.min(target, eff - 1)
  redis.call('HINCRBY', KEYS[2], 'streak', 1)
end
if target < floor then target = floor end
local cool = tonumber(redis.call('HGET', KEYS[2], 'cool')) or 0
local until_ = math.max(cool, now + tonumber(ARGV[4]))
redis.call('HSET', KEYS[2], 'eff', target, 'cool', string.format('%.17g', until_),
           'changed', now_s, 'ok', 0)
touch(KEYS[2], ARGV[5])
return {string.format('%.17g', until_ - now), target}
"""

# KEYS: state. ARGV: now, limit, raise_after, raise_interval_s, state_ttl_ms.
_SUCCEEDED = """
return succeeded(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
"""

# KEYS: state. ARGV: limit. A lowered configured limit caps the adapted one at once.
_SET_LIMIT = """
local eff = tonumber(redis.call('HGET', KEYS[1], 'eff'))
if eff ~= nil and eff >= tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], 'eff', 'ok') end
return 1
"""

# KEYS: slots, state, wait. ARGV: now, expiry, limit, min_limit, n (0 = no limit), slots_ttl_ms,
# wait_ttl_ms.
_HAND_ON = """
local out = hand_on(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]),
                    tonumber(ARGV[4]), tonumber(ARGV[5]))
if #out > 0 then
  touch(KEYS[1], ARGV[6])
  touch(KEYS[3], ARGV[7])
end
return out
"""

# KEYS: slots, state, wait, wait_seq. ARGV: holder, now, expiry, limit, min_limit, priority ('' for
# none), slots_ttl_ms, wait_ttl_ms. Returns {1 if holder got a slot else 0, other ids handed on...}.
# A newcomer takes a free slot directly only when nobody waits; otherwise it queues behind them.
_ACQUIRE_OR_WAIT = """
local holder, now_s, expiry = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(now_s)
local limit, min_limit = tonumber(ARGV[4]), tonumber(ARGV[5])
if holds(KEYS[1], holder, now) then
  redis.call('ZADD', KEYS[1], expiry, holder)
  redis.call('ZREM', KEYS[3], holder)
  touch(KEYS[1], ARGV[7])
  return {1}
end
if not cooling(KEYS[2], now) and redis.call('ZCARD', KEYS[3]) == 0
   and live_count(KEYS[1], now_s) < effective(KEYS[2], limit, min_limit) then
  redis.call('ZADD', KEYS[1], expiry, holder)
  touch(KEYS[1], ARGV[7])
  return {1}
end
push(KEYS[3], KEYS[4], holder, ARGV[6])
local handed = hand_on(KEYS[1], KEYS[2], KEYS[3], now_s, expiry, limit, min_limit, 0)
local result = {0}
for _, id in ipairs(handed) do
  if id == holder then result[1] = 1 else result[#result + 1] = id end
end
if #handed > 0 then touch(KEYS[1], ARGV[7]) end
touch(KEYS[3], ARGV[8])
return result
"""

# KEYS: wait, wait_seq. ARGV: wait_ttl_ms, priority ('' for none), ids... Returns how many joined.
_PUSH = """
local added = 0
for i = 3, #ARGV do added = added + push(KEYS[1], KEYS[2], ARGV[i], ARGV[2]) end
if added > 0 then touch(KEYS[1], ARGV[1]) end
return added
"""

# KEYS: wait. ARGV: n, wait_ttl_ms.
_POP = """
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
local out = {}
for i = 1, #popped, 2 do out[#out + 1] = popped[i] end
if #out > 0 and redis.call('EXISTS', KEYS[1]) == 1 then touch(KEYS[1], ARGV[2]) end
return out
"""

# KEYS: rate. ARGV: now, interval_s (1/rate), burst, margin_ms. GCRA: returns '0' when allowed,
# else the seconds until the request would be.
_RATE = """
local now = tonumber(ARGV[1])
local interval, burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then return string.format('%.17g', allow_at - now) end
local ttl = math.ceil((new_tat - now) * 1000) + tonumber(ARGV[4])
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', ttl)
return '0'
"""


@dataclass(frozen=True, slots=True)
class Scripts:
    """The registered scripts of one Redis client."""

    acquire: Script
    renew: Script
    created: Script
    adopt: Script
    expire: Script
    reconcile: Script
    refused: Script
    succeeded: Script
    set_limit: Script
    hand_on: Script
    acquire_or_wait: Script
    push: Script
    pop: Script
    rate: Script


_registered: weakref.WeakKeyDictionary[Redis, Scripts] = weakref.WeakKeyDictionary()


def scripts_for(client: Redis) -> Scripts:
    """The client's scripts, registered on first use (registration is local: it sends nothing;
    each script is loaded into the server by its first call)."""
    found = _registered.get(client)
    if found is None:

        def reg(body: str) -> Script:
            return client.register_script(_PRELUDE + body)

        found = Scripts(
            acquire=reg(_ACQUIRE),
            renew=reg(_RENEW),
            created=reg(_CREATED),
            adopt=reg(_ADOPT),
            expire=reg(_EXPIRE),
            reconcile=reg(_RECONCILE),
            refused=reg(_REFUSED),
            succeeded=reg(_SUCCEEDED),
            set_limit=reg(_SET_LIMIT),
            hand_on=reg(_HAND_ON),
            acquire_or_wait=reg(_ACQUIRE_OR_WAIT),
            push=reg(_PUSH),
            pop=reg(_POP),
            rate=reg(_RATE),
        )
        _registered[client] = found
    return found
