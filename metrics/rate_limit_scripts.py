"""The Lua scripts behind `metrics.rate_limit_redis.RedisRateLimiter`.

One sliding log per subject: a sorted set with one member per charge (an admitted request or
adjusted tokens), scored by its time in milliseconds, plus a hash of running totals. Each
script first expires what left the window, then checks-and-adds (or adds) in one atomic step.
"""

from __future__ import annotations

from typing import Final

# KEYS[1]: the log (sorted set, member "<seq>:<tokens>:<1 if a request else 0>", score: ms).
# KEYS[2]: totals (hash: req, tok, seq, and lreq / ltok, the time of the newest charge of each).
# ARGV[1]: now in ms ('' = the server's TIME), ARGV[2]: window in ms.
PRELUDE: Final = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = tonumber(ARGV[2])
local cutoff = now - window
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff)
if #expired > 0 then
  local req, tok = 0, 0
  for _, member in ipairs(expired) do
    local t, r = string.match(member, ':(%d+):(%d)$')
    tok = tok + tonumber(t)
    req = req + tonumber(r)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
  -- 0 - x, not -x: Lua prints -0 as "-0", which HINCRBY refuses.
  redis.call('HINCRBY', KEYS[2], 'req', 0 - req)
  redis.call('HINCRBY', KEYS[2], 'tok', 0 - tok)
end
-- The log is the truth: empty (or expired) log, empty totals; totals lost (evicted under
-- memory pressure) while the log lives, rebuild them from it.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
elseif redis.call('HEXISTS', KEYS[2], 'seq') == 0 then
  local req, tok, seq, lreq, ltok = 0, 0, 0, cutoff, cutoff
  local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    local s, t, r = string.match(entries[i], '^(%d+):(%d+):(%d)$')
    local at = tonumber(entries[i + 1])
    seq, tok, req = math.max(seq, tonumber(s)), tok + tonumber(t), req + tonumber(r)
    if r == '1' then lreq = math.max(lreq, at) end
    if t ~= '0' then ltok = math.max(ltok, at) end
  end
  redis.call('HSET', KEYS[2], 'req', req, 'tok', tok, 'seq', seq, 'lreq', lreq, 'ltok', ltok)
end

local function add(tokens, request)
  local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
  redis.call('ZADD', KEYS[1], now, seq .. ':' .. tokens .. ':' .. request)
  redis.call('HINCRBY', KEYS[2], 'req', request)
  redis.call('HINCRBY', KEYS[2], 'tok', tokens)
  if request == 1 then redis.call('HSET', KEYS[2], 'lreq', now) end
  if tokens > 0 then redis.call('HSET', KEYS[2], 'ltok', now) end
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  redis.call('PEXPIRE', KEYS[2], window + 1000)
end
"""

# ARGV[3]: request limit (0 = off), ARGV[4]: token limit (0 = off), ARGV[5]: tokens.
# Returns {allowed, which, requests, tokens, wait ms (-1 none, -2 never), reset ms x2}.
CHECK: Final = (
    PRELUDE
    + """
local req_limit, tok_limit, tokens = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local totals = redis.call('HMGET', KEYS[2], 'req', 'tok')
local req, tok = tonumber(totals[1]) or 0, tonumber(totals[2]) or 0

-- The time of the log entry whose expiry frees `need` requests (or tokens).
local function freed_at(need, requests)
  local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  local freed = 0
  for i = 1, #entries, 2 do
    local t, r = string.match(entries[i], ':(%d+):(%d)$')
    freed = freed + tonumber(requests and r or t)
    if freed >= need then return tonumber(entries[i + 1]) end
  end
  return now
end

local wait_req, wait_tok = nil, nil
if req_limit > 0 and req + 1 > req_limit then
  wait_req = freed_at(req + 1 - req_limit, true) + window - now
end
if tok_limit > 0 and tok + tokens > tok_limit then
  if tokens > tok_limit then
    wait_tok = -2
  else
    wait_tok = freed_at(tok + tokens - tok_limit, false) + window - now
  end
end
local allowed, which, wait = 1, '', -1
if wait_tok == -2 then
  allowed, which, wait = 0, 'tokens', -2
elseif wait_req and (not wait_tok or wait_req >= wait_tok) then
  allowed, which, wait = 0, 'requests', wait_req
elseif wait_tok then
  allowed, which, wait = 0, 'tokens', wait_tok
end
if allowed == 1 then
  add(tokens, 1)
  req, tok = req + 1, tok + tokens
end
local last = redis.call('HMGET', KEYS[2], 'lreq', 'ltok')
local reset_req = math.max(0, (tonumber(last[1]) or cutoff) + window - now)
local reset_tok = math.max(0, (tonumber(last[2]) or cutoff) + window - now)
return {allowed, which, req, tok, wait, reset_req, reset_tok}
"""
)

# ARGV[3]: extra tokens (> 0).
ADJUST: Final = (
    PRELUDE
    + """
add(tonumber(ARGV[3]), 0)
return 1
"""
)
