"""The transitions of the replicas' store (agent/slack/store.py), each one Lua script run atomically by Redis.
Every script takes the key prefix P as ARGV[1]; times are Redis's own (TIME), in milliseconds."""

# A page's record is the hash P..'page:'..key: status (queued | running | finished | resolved), at (the
# occurrence), page (its JSON while active), holder (the replica's worker that runs it), attempts (claims),
# retries (runs that raised TryLater in a row), and resolve_after/resolve_page (resolved while running: noted
# when the run ends). The queue is the list P..'queue' of page JSONs; leases are the sorted set P..'leases' of
# key → deadline, and pages kept for a retry the sorted set P..'later' of key → when (ms, Redis time).
_NOW = """local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

ADMIT = """local P, key, at, page = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local resolved, did = ARGV[5] == '1', ARGV[6]
if did ~= '' and not redis.call('SET', P .. 'delivery:' .. did, '1', 'NX', 'EX', tonumber(ARGV[7])) then
  return {0, 'a delivery seen before, ignored'}
end
local h = P .. 'page:' .. key
local status, was = redis.call('HGET', h, 'status'), redis.call('HGET', h, 'at')
if resolved then
  if (not status) or status == 'resolved' then return {0, 'resolved, nothing open'} end
  redis.call('HSET', h, 'status', 'resolved')
  redis.call('HDEL', h, 'page')
  if status == 'running' then
    redis.call('HSET', h, 'resolve_after', was, 'resolve_page', page)
  else
    redis.call('EXPIRE', h, tonumber(ARGV[8]))
  end
  if status == 'finished' then redis.call('RPUSH', P .. 'queue', page) end
  return {0, 'resolved while ' .. status}
end
if status and (status ~= 'resolved' or was == at) then
  return {0, 'already ' .. status .. ', not investigated again'}
end
local waiting = redis.call('LLEN', P .. 'queue')
redis.call('HSET', h, 'status', 'queued', 'at', at, 'page', page, 'attempts', 0, 'retries', 0)
redis.call('PERSIST', h)
redis.call('ZREM', P .. 'later', key)
redis.call('RPUSH', P .. 'queue', page)
return {1, 'queued (' .. waiting .. ' before it)'}
"""

CLAIM = _NOW + """local P, holder, lease_ms, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local q, leases = P .. 'queue', P .. 'leases'
for _, key in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', leases, key)           -- its replica stopped renewing: back to the head of the queue
  local h = P .. 'page:' .. key
  local status = redis.call('HGET', h, 'status')
  redis.call('HDEL', h, 'holder')
  if status == 'running' then
    redis.call('HSET', h, 'status', 'queued')
    redis.call('LPUSH', q, redis.call('HGET', h, 'page'))
  elseif status == 'resolved' and redis.call('HGET', h, 'resolve_after') then
    redis.call('LPUSH', q, redis.call('HGET', h, 'resolve_page'))
    redis.call('HDEL', h, 'resolve_after', 'resolve_page')
    redis.call('EXPIRE', h, keep)
  end
end
for _, key in ipairs(redis.call('ZRANGEBYSCORE', P .. 'later', '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', P .. 'later', key)     -- its retry is due: to the tail of the queue, for any replica
  local h = P .. 'page:' .. key
  local item = redis.call('HGET', h, 'page')
  if redis.call('HGET', h, 'status') == 'queued' and item then redis.call('RPUSH', q, item) end
end
while true do
  local item = redis.call('LPOP', q)
  if not item then return false end
  local e = cjson.decode(item)
  if e.resolved then return {item, 0} end     -- a resolve to note in a finished incident's thread
  local h = P .. 'page:' .. e.key
  if redis.call('HGET', h, 'status') == 'queued' and redis.call('HGET', h, 'at') == e.at then
    local n = redis.call('HINCRBY', h, 'attempts', 1)
    redis.call('HSET', h, 'status', 'running', 'holder', holder)
    redis.call('ZADD', leases, now + lease_ms, e.key)
    return {item, n}
  end                                        -- resolved before its turn, or superseded by a re-fire: skipped
end
"""

RENEW = _NOW + """local P, holder, lease_ms, lost = ARGV[1], ARGV[2], tonumber(ARGV[3]), 0
for i = 4, #ARGV do
  if redis.call('HGET', P .. 'page:' .. ARGV[i], 'holder') == holder then
    redis.call('ZADD', P .. 'leases', 'XX', now + lease_ms, ARGV[i])
  else
    lost = lost + 1
  end
end
return lost
"""

FINISH = """local P, key, at, holder, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local h = P .. 'page:' .. key
local notify = 0
if redis.call('HGET', h, 'holder') == holder then
  redis.call('ZREM', P .. 'leases', key)
  redis.call('HDEL', h, 'holder')
  if redis.call('HGET', h, 'resolve_after') == at then
    redis.call('HDEL', h, 'resolve_after', 'resolve_page')
    notify = 1
  end
  if redis.call('HGET', h, 'status') == 'running' and redis.call('HGET', h, 'at') == at then
    redis.call('HSET', h, 'status', 'finished')
    redis.call('HDEL', h, 'page')
  end
end
local status = redis.call('HGET', h, 'status')
if status == 'finished' or status == 'resolved' then
  redis.call('EXPIRE', h, keep)
  redis.call('EXPIRE', P .. 'note:' .. key, keep)
end
return notify
"""

RETRY = _NOW + """local P, key, at, holder = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local first_ms, max_ms = tonumber(ARGV[5]), tonumber(ARGV[6])
local h = P .. 'page:' .. key
if redis.call('HGET', h, 'holder') ~= holder or redis.call('HGET', h, 'status') ~= 'running'
   or redis.call('HGET', h, 'at') ~= at then
  return false                               -- resolved or re-fired meanwhile, or taken over: finished as usual
end
redis.call('ZREM', P .. 'leases', key)
redis.call('HDEL', h, 'holder')
local n = redis.call('HINCRBY', h, 'retries', 1)
local delay = math.floor(math.min(first_ms * 2 ^ (n - 1), max_ms))
redis.call('HSET', h, 'status', 'queued')
redis.call('ZADD', P .. 'later', now + delay, key)
return {n, delay}
"""

POSITION = """local P, key = ARGV[1], ARGV[2]
local h = P .. 'page:' .. key
local item = redis.call('HGET', h, 'page')
if redis.call('HGET', h, 'status') ~= 'queued' or not item then return false end
local i = redis.call('LPOS', P .. 'queue', item)
if not i then return false end
return i + 1
"""
