/**
 * The Lua scripts of the Redis job queue: each state change is atomic, so a worker that
 * dies between two steps leaves either the old state or the new one, never half of both.
 * @module
 */

/**
 * KEYS: job, stream, idempotency key. ARGV: id, meta JSON, now, ttl, has-key (0/1).
 * A known idempotency key answers its first job's id (and 1 for "duplicate").
 */
const SUBMIT = `
if ARGV[5] == '1' then
  local prior = redis.call('GET', KEYS[3])
  if prior then return {prior, 1} end
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[4])
end
redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'status', 'pending', 'attempts', 0, 'updated_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
return {ARGV[1], 0}`;

/**
 * KEYS: stream, dead stream, job 1..n. ARGV: group, max deliveries, now, ttl, dead error
 * JSON, n, then entry id and request id per job. Per job answers {what, hash}: `run`
 * (marked processing, attempts + 1), `dead` (failed at the delivery limit, dead-lettered),
 * `skip` (expired, or final already: acked and dropped).
 */
const START = `
local group, max, now, ttl, deadErr, n = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local out = {}
for i = 1, n do
  local job, eid, id = KEYS[2 + i], ARGV[5 + 2 * i], ARGV[6 + 2 * i]
  local st = redis.call('HGET', job, 'status')
  if (not st) or st == 'completed' or st == 'failed' then
    redis.call('XACK', KEYS[1], group, eid)
    redis.call('XDEL', KEYS[1], eid)
    out[i] = {'skip', false}
  else
    local a = tonumber(redis.call('HGET', job, 'attempts') or '0')
    if a >= max then
      redis.call('HSET', job, 'status', 'failed', 'error', deadErr, 'updated_at', now)
      redis.call('EXPIRE', job, ttl)
      redis.call('XADD', KEYS[2], '*', 'id', id, 'attempts', a)
      redis.call('XACK', KEYS[1], group, eid)
      redis.call('XDEL', KEYS[1], eid)
      out[i] = {'dead', redis.call('HGETALL', job)}
    else
      redis.call('HSET', job, 'status', 'processing', 'attempts', a + 1, 'updated_at', now)
      redis.call('EXPIRE', job, ttl)
      out[i] = {'run', redis.call('HGETALL', job)}
    end
  end
end
return out`;

/**
 * KEYS: job, stream. ARGV: group, entry id, status, field (result|error), payload JSON, now,
 * ttl, requeue (0/1), request id. Stores the outcome unless the job is final already, then
 * acks; `requeue` puts the job back on the stream as a new entry (a retry). Answers
 * {stored 0/1, hash}.
 */
const FINISH = `
local st = redis.call('HGET', KEYS[1], 'status')
local stored = 0
if st and st ~= 'completed' and st ~= 'failed' then
  redis.call('HSET', KEYS[1], 'status', ARGV[3], ARGV[4], ARGV[5], 'updated_at', ARGV[6])
  if ARGV[3] == 'completed' then redis.call('HDEL', KEYS[1], 'error') end
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  stored = 1
end
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
if stored == 1 and ARGV[8] == '1' then redis.call('XADD', KEYS[2], '*', 'id', ARGV[9]) end
return {stored, redis.call('HGETALL', KEYS[1])}`;

/** Script name → Lua, defined on the client as commands. */
export const SCRIPTS = {
  omniserveJobSubmit: SUBMIT,
  omniserveJobStart: START,
  omniserveJobFinish: FINISH,
} as const;
