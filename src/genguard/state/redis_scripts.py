"""The Lua scripts behind the Redis state backends: one atomic script per store method.

Each script reads and writes one key's state in a single step on the server,
so replicas never race on a read-modify-write. Time comes from ``TIME`` on the
server (replicas with skewed clocks agree) unless the caller passes one (tests
drive the scripts on a fake clock that way). Server time is kept relative to
``ORIGIN`` so doubles keep sub-microsecond precision. Numbers go back to the
client as ``%.17g`` strings: Redis would truncate a Lua number to an integer.

Every key a script touches is passed in ``KEYS`` and shares one hash tag
(``{key}``), so the scripts also run on Redis Cluster.
"""

from __future__ import annotations

#: Server time origin (Unix seconds) subtracted inside the scripts.
ORIGIN = 1_700_000_000

_PRELUDE = (
    """
local ORIGIN = ORIGIN_VALUE
local function fmt(x) return string.format('%.17g', x) end
local function clock(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return (tonumber(t[1]) - ORIGIN) + tonumber(t[2]) / 1000000
end
"""
).replace("ORIGIN_VALUE", str(ORIGIN))

# -- the rate limiter (GCRA per limit, a FIFO of bookings, a 1-s admission log) -----------
#
# KEYS[1] main hash: pu (paused until), sh (shift of the queue by pauses), seq,
#         t:<limit> (theoretical arrival time: the bucket is empty then),
#         s:<limit> (units admitted in the trailing window), adm (admission counter)
# KEYS[2] list of pending booking ids, in booking order
# KEYS[3] hash id -> "state|start|shift_at|limit=free_at;..." (P pending, C cancelled);
#         an admitted booking has no record
# KEYS[4..] one sorted set per demand: admissions "seq:amount:held_until" scored by
#         admission time (seq zero-padded, so ties keep admission order)
# ARGV[1] now ('' = server TIME), ARGV[2] epsilon, ARGV[3] ttl (s), ARGV[4] window,
# ARGV[5] guard margin (a late admission is held this much longer), then per script.

_LIMITER_COMMON = """
local KH, KQ, KB = KEYS[1], KEYS[2], KEYS[3]
local now = clock(ARGV[1])
local EPS = tonumber(ARGV[2])
local TTL = tonumber(ARGV[3])
local WINDOW = tonumber(ARGV[4])
local MARGIN = tonumber(ARGV[5])

local function num(field, default)
  local v = redis.call('HGET', KH, field)
  if v then return tonumber(v) end
  return default
end

local function parse(rec)
  local st, start, sat, prevs = string.match(rec, '^(%a)|([^|]*)|([^|]*)|(.*)$')
  return st, tonumber(start), tonumber(sat), prevs
end

local function demands_from(first, count)
  local out = {}
  for i = 0, count - 1 do
    local j = first + i * 4
    out[#out + 1] = {name = ARGV[j], rate = tonumber(ARGV[j + 1]),
      cap = tonumber(ARGV[j + 2]), amount = tonumber(ARGV[j + 3]), log = KEYS[4 + i]}
  end
  return out
end

local function free_at(name)
  local t = num('t:' .. name, nil)
  if t == nil or t < now then return now end
  return t
end

local function set_free_at(name, when)
  if when < now then when = now end
  redis.call('HSET', KH, 't:' .. name, fmt(when))
end

local function prune(shift)
  while true do
    local id = redis.call('LINDEX', KQ, 0)
    if not id then return end
    local rec = redis.call('HGET', KB, id)
    if rec then
      local st, start, sat = parse(rec)
      if st == 'C' then
        redis.call('HDEL', KB, id)
      elseif start + (shift - sat) > now then
        return
      end
    end
    redis.call('LPOP', KQ)
  end
end

local function amount_of(member)
  return tonumber(string.match(member, '^[^:]*:([^:]*):'))
end

local function held_of(member)
  return tonumber(string.match(member, ':([^:]*)$'))
end

local function guard(demands)
  local wait = 0
  for _, d in ipairs(demands) do
    local sumf = 's:' .. d.name
    -- Expire from the oldest admission while it is no longer held (held_until is at
    -- least a window after admission, so only admissions older than that qualify).
    local old = redis.call('ZRANGEBYSCORE', d.log, '-inf', fmt(now - WINDOW + EPS))
    local total = num(sumf, 0)
    local gone = {}
    for _, m in ipairs(old) do
      if held_of(m) > now + EPS then break end
      total = total - amount_of(m)
      gone[#gone + 1] = m
    end
    if #gone > 0 then
      redis.call('ZREM', d.log, unpack(gone))
      if redis.call('ZCARD', d.log) == 0 then total = 0 end
      redis.call('HSET', KH, sumf, fmt(total))
    end
    local size = math.max(d.cap, d.amount)
    local cap = math.max(d.rate * WINDOW + size - 1.0, size)
    local excess = total + d.amount - cap
    if excess > EPS then
      local dropped, untl = 0, now
      local entries = redis.call('ZRANGE', d.log, 0, -1)
      for _, m in ipairs(entries) do
        dropped = dropped + amount_of(m)
        untl = math.max(untl, held_of(m))
        if dropped >= excess - EPS then
          wait = math.max(wait, untl - now)
          break
        end
      end
    end
  end
  if wait > EPS then return wait end
  return 0
end

local function admit(demands, late)
  local held = now + WINDOW
  if late then held = held + MARGIN end
  local seq = string.format('%012d', redis.call('HINCRBY', KH, 'adm', 1))
  for _, d in ipairs(demands) do
    redis.call('ZADD', d.log, fmt(now), seq .. ':' .. fmt(d.amount) .. ':' .. fmt(held))
    local total = num('s:' .. d.name, 0) + d.amount
    redis.call('HSET', KH, 's:' .. d.name, fmt(total))
  end
end

local function touch(demands)
  local horizon = 0
  local pu = num('pu', nil)
  if pu ~= nil and pu - now > horizon then horizon = pu - now end
  for _, d in ipairs(demands) do
    local t = free_at(d.name)
    if t - now > horizon then horizon = t - now end
  end
  local ms = math.ceil((TTL + horizon) * 1000)
  redis.call('PEXPIRE', KH, ms)
  redis.call('PEXPIRE', KQ, ms)
  redis.call('PEXPIRE', KB, ms)
  for _, d in ipairs(demands) do
    redis.call('PEXPIRE', d.log, math.ceil((TTL + WINDOW + MARGIN) * 1000))
  end
end
"""

# ARGV[6] max_wait ('' = none), ARGV[7] demand count, ARGV[8..] name, rate, capacity, amount.
# -> {granted 0|1, wait, reason, id}
LIMITER_RESERVE = (
    _PRELUDE
    + _LIMITER_COMMON
    + """
local max_wait = ARGV[6]
local demands = demands_from(8, tonumber(ARGV[7]))
local shift = num('sh', 0)
prune(shift)
local pu = num('pu', nil)
local wait, reason = 0, 'rate'
if pu ~= nil and pu - now > EPS then wait, reason = pu - now, 'paused' end
for _, d in ipairs(demands) do
  local level = (free_at(d.name) - now) * d.rate
  local needed = math.max(0, (d.amount - math.max(d.cap, d.amount) + level) / d.rate)
  if needed > wait + EPS then wait, reason = needed, 'rate' end
end
if wait <= EPS then wait = guard(demands) end
if wait <= EPS then wait = 0 end
if max_wait ~= '' and wait > tonumber(max_wait) then
  return {0, fmt(wait), reason, ''}
end
local id = redis.call('HINCRBY', KH, 'seq', 1)
local prev = {}
for _, d in ipairs(demands) do
  local f = free_at(d.name)
  prev[#prev + 1] = d.name .. '=' .. fmt(f)
  local start = now + wait
  if f < start then f = start end
  set_free_at(d.name, f + d.amount / d.rate)
end
if wait == 0 then
  admit(demands, false)
else
  redis.call('HSET', KB, id, 'P|' .. fmt(now + wait) .. '|' .. fmt(shift) .. '|'
    .. table.concat(prev, ';'))
  redis.call('RPUSH', KQ, id)
end
touch(demands)
return {1, fmt(wait), reason, tostring(id)}
"""
)

# ARGV[6] booking id, ARGV[7] demand count, ARGV[8..] demands. -> {wait, reason}
LIMITER_CONFIRM = (
    _PRELUDE
    + _LIMITER_COMMON
    + """
local id = ARGV[6]
local demands = demands_from(8, tonumber(ARGV[7]))
local rec = redis.call('HGET', KB, id)
if not rec then return {'0', 'rate'} end
local st, start, sat = parse(rec)
if st ~= 'P' then return {'0', 'rate'} end
local shift = num('sh', 0)
local pu = num('pu', nil)
local due = start + (shift - sat)
if pu ~= nil and pu > due then due = pu end
local wait = due - now
local reason = 'rate'
if shift ~= sat then reason = 'paused' end
if wait <= EPS then
  wait = guard(demands)
  reason = 'rate'
  if wait > EPS then
    -- The guard held a due caller back: move the rest of the schedule with it, so
    -- later bookings are not made against a schedule running ahead of admissions.
    redis.call('HSET', KH, 'sh', fmt(shift + wait))
    for _, f in ipairs(redis.call('HKEYS', KH)) do
      local name = string.match(f, '^t:(.*)$')
      if name then set_free_at(name, free_at(name) + wait) end
    end
  end
end
if wait > EPS then return {fmt(wait), reason} end
admit(demands, now > due + EPS)
redis.call('HDEL', KB, id)
prune(shift)
touch(demands)
return {'0', reason}
"""
)

# ARGV[6] booking id. -> 1 if something was cancelled
LIMITER_CANCEL = (
    _PRELUDE
    + _LIMITER_COMMON
    + """
local id = ARGV[6]
local rec = redis.call('HGET', KB, id)
if not rec then return 0 end
local st, start, sat, prevs = parse(rec)
if st ~= 'P' then return 0 end
redis.call('HSET', KB, id, 'C' .. string.sub(rec, 2))
local shift = num('sh', 0)
-- Roll back every cancelled booking at the tail, newest first: nobody relies on
-- their slots. A cancelled booking in the middle stays a hole.
while true do
  local last = redis.call('LINDEX', KQ, -1)
  if not last then break end
  local r = redis.call('HGET', KB, last)
  if not r then break end
  local st2, start2, sat2, prevs2 = parse(r)
  if st2 ~= 'C' then break end
  redis.call('RPOP', KQ)
  redis.call('HDEL', KB, last)
  for name, value in string.gmatch(prevs2, '([^=;]+)=([^;]+)') do
    set_free_at(name, tonumber(value) + (shift - sat2))
  end
end
return 1
"""
)

# ARGV[6] seconds. -> seconds until the pause ends
LIMITER_PAUSE = (
    _PRELUDE
    + _LIMITER_COMMON
    + """
local seconds = math.max(0, tonumber(ARGV[6]))
local shift = num('sh', 0)
prune(shift)
local pu = num('pu', nil)
local untl = now + seconds
if pu == nil or untl > pu + EPS then
  pu = untl
  redis.call('HSET', KH, 'pu', fmt(untl))
  -- Move the queue back so its head starts when the pause ends; the bookings
  -- behind keep their spacing.
  local add = 0
  local head = redis.call('LINDEX', KQ, 0)
  if head then
    local rec = redis.call('HGET', KB, head)
    if rec then
      local _, start, sat = parse(rec)
      add = math.max(0, untl - (start + (shift - sat)))
    end
  end
  redis.call('HSET', KH, 'sh', fmt(shift + add))
  local fields = redis.call('HKEYS', KH)
  for _, f in ipairs(fields) do
    local name = string.match(f, '^t:(.*)$')
    if name then set_free_at(name, math.max(free_at(name) + add, untl)) end
  end
end
touch({})
return fmt(math.max(0, pu - now))
"""
)

# -> seconds until the pause ends
LIMITER_PAUSED_FOR = (
    _PRELUDE
    + """
local now = clock(ARGV[1])
local pu = redis.call('HGET', KEYS[1], 'pu')
if not pu then return '0' end
return string.format('%.17g', math.max(0, tonumber(pu) - now))
"""
)

# -- the circuit breaker (the memory store's state machine, probe slots leased) ------------------
#
# KEYS[1] hash: st (closed|open|half_open), ep (epoch), fc (consecutive failures),
#         sc (half-open successes), oa (opened at), tr (openings since the last close)
# KEYS[2] sorted set of probe slots: token scored by lease expiry
# KEYS[3] hash: the failure-ratio window (span, i<slot>/c<slot>/f<slot>)
# ARGV[1] now ('' = server TIME), ARGV[2] ttl, ARGV[3] lease, ARGV[4..10] the policy:
# fail_max, reset_timeout, half_open_probes, success_threshold, failure_ratio ('' = none),
# window, min_calls; ARGV[11] max_reset_timeout (each failed probe doubles the break).

_BREAKER_COMMON = """
local KH, KP, KW = KEYS[1], KEYS[2], KEYS[3]
local now = clock(ARGV[1])
local TTL = tonumber(ARGV[2])
local LEASE = tonumber(ARGV[3])
local FAIL_MAX = tonumber(ARGV[4])
local RESET = tonumber(ARGV[5])
local PROBES = tonumber(ARGV[6])
local THRESHOLD = tonumber(ARGV[7])
local RATIO = nil
if ARGV[8] ~= '' then RATIO = tonumber(ARGV[8]) end
local SPAN = tonumber(ARGV[9])
local MIN_CALLS = tonumber(ARGV[10])
local MAX_RESET = math.max(tonumber(ARGV[11]), RESET)
local BUCKETS = 20

local h = {st = 'closed', ep = 0, fc = 0, sc = 0, oa = 0, tr = 0}
local raw = redis.call('HGETALL', KH)
for i = 1, #raw, 2 do
  local f, v = raw[i], raw[i + 1]
  if f == 'st' then h.st = v else h[f] = tonumber(v) end
end
local dirty = false
local out = {}

local function move(target, reason)
  out[#out + 1] = h.st
  out[#out + 1] = target
  out[#out + 1] = reason
  h.ep = h.ep + 1
  redis.call('DEL', KP)
  h.sc = 0
  if target == 'open' then
    h.oa = now
    if reason == 'probe_failed' then h.tr = h.tr + 1 else h.tr = 1 end
  elseif target == 'closed' then
    h.fc = 0
    h.tr = 0
    redis.call('DEL', KW)
  end
  h.st = target
  dirty = true
end

local function save()
  if not dirty then return end
  redis.call('HSET', KH, 'st', h.st, 'ep', h.ep, 'fc', h.fc, 'sc', h.sc, 'oa', fmt(h.oa),
    'tr', h.tr)
  redis.call('PEXPIRE', KH, math.ceil((TTL + MAX_RESET + LEASE) * 1000))
end

local function window_sync()
  if RATIO == nil then
    redis.call('DEL', KW)
    return
  end
  local span = redis.call('HGET', KW, 'span')
  if span == false or tonumber(span) ~= SPAN then
    redis.call('DEL', KW)
    redis.call('HSET', KW, 'span', fmt(SPAN))
  end
  redis.call('PEXPIRE', KW, math.ceil((TTL + SPAN) * 1000))
end

local function window_add(failed)
  local width = SPAN / BUCKETS
  local bucket = math.floor(now / width)
  local slot = bucket % BUCKETS
  local cur = redis.call('HMGET', KW, 'i' .. slot, 'c' .. slot, 'f' .. slot)
  local calls, fails = 0, 0
  if tonumber(cur[1]) == bucket then calls, fails = tonumber(cur[2]), tonumber(cur[3]) end
  calls = calls + 1
  if failed then fails = fails + 1 end
  redis.call('HSET', KW, 'i' .. slot, bucket, 'c' .. slot, calls, 'f' .. slot, fails)
end

local function window_counts()
  if RATIO == nil then return 0, 0 end
  local span = redis.call('HGET', KW, 'span')
  if span == false or tonumber(span) ~= SPAN then return 0, 0 end
  local width = SPAN / BUCKETS
  local current = math.floor(now / width)
  local oldest = current - BUCKETS
  local calls, fails = 0, 0
  for slot = 0, BUCKETS - 1 do
    local cur = redis.call('HMGET', KW, 'i' .. slot, 'c' .. slot, 'f' .. slot)
    local b = tonumber(cur[1])
    if b ~= nil and oldest < b and b <= current then
      calls = calls + tonumber(cur[2])
      fails = fails + tonumber(cur[3])
    end
  end
  return calls, fails
end

local function break_for()
  local exponent = math.min(math.max(0, h.tr - 1), 64)
  return math.min(MAX_RESET, RESET * 2 ^ exponent)
end

local function retry_after()
  if h.st ~= 'open' then return 0 end
  return math.max(0, h.oa + break_for() - now)
end
"""

# ARGV[12] probe token. -> {allowed 0|1, state, retry_after, epoch, probe 0|1, transitions...}
BREAKER_ACQUIRE = (
    _PRELUDE
    + _BREAKER_COMMON
    + """
local token = ARGV[12]
local function answer(allowed, wait, probe)
  save()
  local reply = {allowed, h.st, fmt(wait), tostring(h.ep), probe}
  for _, v in ipairs(out) do reply[#reply + 1] = v end
  return reply
end
window_sync()
if h.st == 'open' then
  local wait = retry_after()
  if wait > 0 then return answer(0, wait, 0) end
  move('half_open', 'reset_timeout')
end
if h.st == 'half_open' then
  redis.call('ZREMRANGEBYSCORE', KP, '-inf', fmt(now))
  if redis.call('ZCARD', KP) >= PROBES then return answer(0, 0, 0) end
  redis.call('ZADD', KP, fmt(now + LEASE), token)
  redis.call('PEXPIRE', KP, math.ceil((TTL + LEASE) * 1000))
  return answer(1, 0, 1)
end
return answer(1, 0, 0)
"""
)

# ARGV[12] epoch, ARGV[13] probe 0|1, ARGV[14] token, ARGV[15] outcome. -> transitions
BREAKER_RECORD = (
    _PRELUDE
    + _BREAKER_COMMON
    + """
local epoch, probe, token, outcome = tonumber(ARGV[12]), ARGV[13] == '1', ARGV[14], ARGV[15]
if h.ep ~= epoch then return {} end
window_sync()
if probe then
  redis.call('ZREM', KP, token)
  if outcome == 'failure' then
    move('open', 'probe_failed')
  elseif outcome == 'success' then
    h.sc = h.sc + 1
    dirty = true
    if h.sc >= THRESHOLD then move('closed', 'probes_succeeded') end
  end
  save()
  return out
end
if outcome == 'ignored' or h.st ~= 'closed' then return {} end
local failed = outcome == 'failure'
if RATIO ~= nil then window_add(failed) end
if not failed then
  if h.fc ~= 0 then
    h.fc = 0
    dirty = true
  end
  save()
  return {}
end
h.fc = h.fc + 1
dirty = true
if h.fc >= FAIL_MAX then
  move('open', 'consecutive_failures')
elseif RATIO ~= nil then
  local calls, fails = window_counts()
  if calls >= MIN_CALLS and fails >= RATIO * calls then move('open', 'failure_ratio') end
end
save()
return out
"""
)

# -> {state, consecutive_failures, half_open_successes, probes, calls, failures, retry_after}
BREAKER_SNAPSHOT = (
    _PRELUDE
    + _BREAKER_COMMON
    + """
local probes = 0
if h.st == 'half_open' then probes = redis.call('ZCOUNT', KP, '(' .. fmt(now), '+inf') end
local calls, fails = window_counts()
return {h.st, tostring(h.fc), tostring(h.sc), tostring(probes), tostring(calls),
  tostring(fails), fmt(retry_after())}
"""
)

#: An admitted attempt the provider refused generated nothing: each limit's bucket gives
#: back its amount (never below empty). ARGV[6] is the demand count, demands from ARGV[7].
LIMITER_REFUND = (
    _PRELUDE
    + _LIMITER_COMMON
    + """
if redis.call('EXISTS', KH) == 0 then return 0 end
local demands = demands_from(7, tonumber(ARGV[6]))
for _, d in ipairs(demands) do
  local t = num('t:' .. d.name, nil)
  if t ~= nil then set_free_at(d.name, t - d.amount / d.rate) end
end
return 1
"""
)

LIMITER_SCRIPTS = {
    "refund": LIMITER_REFUND,
    "reserve": LIMITER_RESERVE,
    "confirm": LIMITER_CONFIRM,
    "cancel": LIMITER_CANCEL,
    "pause": LIMITER_PAUSE,
    "paused_for": LIMITER_PAUSED_FOR,
}
BREAKER_SCRIPTS = {
    "acquire": BREAKER_ACQUIRE,
    "record": BREAKER_RECORD,
    "snapshot": BREAKER_SNAPSHOT,
}

__all__ = ["BREAKER_SCRIPTS", "LIMITER_SCRIPTS", "ORIGIN"]
