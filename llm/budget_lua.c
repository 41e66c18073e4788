/*
 * budget_lua.c - the Lua scripts that keep the shared key budget in Redis.
 *
 * Each script is one decision, run atomically by Redis on Redis's own clock
 * (TIME; Redis >= 5 replicates a script's effects, so a non-deterministic
 * command is allowed). Times are integer microseconds since the epoch,
 * written with %d so that Lua's %.14g never rounds them. A key's state:
 *
 *   KEYS[1] state hash:  dis  "1" when disabled      why   the reason
 *                        rl   rate-limited until     rtat  rpm theoretical
 *                        ttat tpm theoretical arrival time   arrival time
 *   KEYS[2] lease zset:  member lease id, score its expiry
 *
 * Both buckets are GCRA: one number, the theoretical arrival time (TAT) of
 * the next request (or token), per bucket. With gap = 60 s / rate and a
 * bucket of `burst`, a charge of n is admitted when
 * max(TAT, now) + n * gap - burst * gap <= now, and moves TAT to
 * max(TAT, now) + n * gap. A TAT in the past is a full bucket. A refund moves
 * TAT back, never before now. docs/budget-redis.md says why GCRA.
 */
#include "llm/budget_lua.h"

#define LUA_NOW                                                                                    \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"

#define LUA_US "local function us(x) return string.format('%d', math.ceil(x)) end\n"

/* Keep a set's TTL at least ms, so it outlives its longest member (no GT flag before 7.0). */
#define LUA_OUTLIVE                                                                                \
    "local function outlive(key, ms)\n"                                                            \
    "  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end\n"                  \
    "end\n"

/*
 * take. KEYS: state, leases. ARGV: 1 lease id, 2 rpm, 3 rpm burst, 4 tpm,
 * 5 tpm burst, 6 concurrency, 7 lease ttl ms, 8 token estimate, 9 state keep
 * ms, 10 busy hint ms. Returns {status, why, wait ms, until unix ms, reason}:
 * status 0 OK, 1 WAIT, 2 DISABLED. Writes nothing but the purge of expired
 * leases unless everything passes.
 */
static const char lua_take[] = LUA_NOW LUA_US LUA_OUTLIVE
    "local st, ls = KEYS[1], KEYS[2]\n"
    "local rpm, rburst = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local tpm, tburst = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local conc, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "local est = tonumber(ARGV[8])\n"
    "local h = redis.call('HMGET', st, 'dis', 'why', 'rl', 'rtat', 'ttat')\n"
    "if h[1] == '1' then return {2, 0, 0, 0, h[2] or 'disabled'} end\n"
    "local why, at = 0, now\n"
    "local function hold(w, when)\n"
    "  if why == 0 then why = w end\n"
    "  if when > at then at = when end\n"
    "end\n"
    "local rl = tonumber(h[3]) or 0\n"
    "if rl > now then hold(1, rl) end\n"
    "redis.call('ZREMRANGEBYSCORE', ls, '-inf', now)\n"
    "if redis.call('ZCARD', ls) >= conc then\n"
    "  local first = redis.call('ZRANGE', ls, 0, 0, 'WITHSCORES')\n"
    "  hold(2, math.min(tonumber(first[2]), now + tonumber(ARGV[10]) * 1000))\n"
    "end\n"
    "local rtat, ttat\n"
    "if rpm > 0 then\n"
    "  local gap = 60000000 / rpm\n"
    "  rtat = math.max(tonumber(h[4]) or 0, now) + gap\n"
    "  if rtat - rburst * gap > now then hold(3, rtat - rburst * gap) end\n"
    "end\n"
    "if tpm > 0 then\n"
    "  local gap = 60000000 / tpm\n"
    "  local base = math.max(tonumber(h[5]) or 0, now)\n"
    "  ttat = base + est * gap\n"
    "  local admit = base + (math.min(est, tburst) - tburst) * gap\n"
    "  if admit > now then hold(4, admit) end\n"
    "end\n"
    "if why ~= 0 then\n"
    "  return {1, why, math.max(1, math.ceil((at - now) / 1000)), math.floor(at / 1000), ''}\n"
    "end\n"
    "redis.call('ZADD', ls, now + ttl * 1000, ARGV[1])\n"
    "outlive(ls, ttl)\n"
    "if rtat then redis.call('HSET', st, 'rtat', us(rtat)) end\n"
    "if ttat then redis.call('HSET', st, 'ttat', us(ttat)) end\n"
    "if rtat or ttat then redis.call('PEXPIRE', st, ARGV[9]) end\n"
    "return {0, 0, 0, 0, ''}\n";

/*
 * give. KEYS: state, leases. ARGV: 1 lease id, 2 outcome (enum
 * budget_outcome), 3 rpm, 4 tpm, 5 estimate, 6 tokens used (-1 unknown),
 * 7 delay ms, 8 reason, 9 state keep ms. Returns 1 if the lease was held,
 * 0 if it had expired; the outcome is applied either way.
 */
static const char lua_give[] = LUA_NOW LUA_US
    "local st, ls = KEYS[1], KEYS[2]\n"
    "local outcome = tonumber(ARGV[2])\n"
    "local rpm, tpm = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local est, used = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local held = redis.call('ZREM', ls, ARGV[1])\n"
    "local h = redis.call('HMGET', st, 'rtat', 'ttat', 'rl')\n"
    "if outcome == 4 then\n"
    "  if rpm > 0 and h[1] then\n"
    "    redis.call('HSET', st, 'rtat', us(math.max(tonumber(h[1]) - 60000000 / rpm, now)))\n"
    "  end\n"
    "  used = 0\n"
    "end\n"
    "if tpm > 0 and used >= 0 and used ~= est then\n"
    "  local tat = math.max(tonumber(h[2]) or 0, now) + (used - est) * 60000000 / tpm\n"
    "  redis.call('HSET', st, 'ttat', us(math.max(tat, now)))\n"
    "end\n"
    "if outcome == 2 then\n"
    "  local untl = now + tonumber(ARGV[7]) * 1000\n"
    "  if untl > (tonumber(h[3]) or 0) then redis.call('HSET', st, 'rl', us(untl)) end\n"
    "elseif outcome == 3 then\n"
    "  redis.call('HSET', st, 'dis', '1', 'why', ARGV[8])\n"
    "end\n"
    "redis.call('PEXPIRE', st, ARGV[9])\n"
    "return held\n";

/*
 * renew. KEYS: leases. ARGV: 1 lease id, 2 ttl ms. Returns 1 when renewed,
 * 0 when the lease had expired (it is not brought back).
 */
static const char lua_renew[] =
    LUA_NOW LUA_OUTLIVE "local ls, ttl = KEYS[1], tonumber(ARGV[2])\n"
                        "redis.call('ZREMRANGEBYSCORE', ls, '-inf', now)\n"
                        "if not redis.call('ZSCORE', ls, ARGV[1]) then return 0 end\n"
                        "redis.call('ZADD', ls, now + ttl * 1000, ARGV[1])\n"
                        "outlive(ls, ttl)\n"
                        "return 1\n";

/*
 * heartbeat. KEYS: coordinators. ARGV: 1 coordinator id, 2 ttl ms. Returns
 * how many coordinators are live, this one included.
 */
static const char lua_heartbeat[] =
    LUA_NOW LUA_OUTLIVE "local cs, ttl = KEYS[1], tonumber(ARGV[2])\n"
                        "redis.call('ZREMRANGEBYSCORE', cs, '-inf', now)\n"
                        "redis.call('ZADD', cs, now + ttl * 1000, ARGV[1])\n"
                        "outlive(cs, ttl)\n"
                        "return redis.call('ZCARD', cs)\n";

/*
 * view. KEYS: state, leases. ARGV: 1 rpm, 2 rpm burst, 3 tpm, 4 tpm burst.
 * Read-only. Returns {disabled, reason, rate-limited until unix ms (0 when
 * past), live leases, rpm left, tpm left, now unix ms}.
 */
static const char lua_view[] =
    LUA_NOW "local st, ls = KEYS[1], KEYS[2]\n"
            "local rpm, rburst = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
            "local tpm, tburst = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
            "local h = redis.call('HMGET', st, 'dis', 'why', 'rl', 'rtat', 'ttat')\n"
            "local held = redis.call('ZCOUNT', ls, string.format('(%d', now), '+inf')\n"
            "local rl = tonumber(h[3]) or 0\n"
            "if rl <= now then rl = 0 end\n"
            "local function left(tat, rate, burst)\n"
            "  if rate <= 0 then return 0 end\n"
            "  local gap = 60000000 / rate\n"
            "  return math.floor(burst - (math.max(tonumber(tat) or 0, now) - now) / gap)\n"
            "end\n"
            "return {h[1] == '1' and 1 or 0, h[2] or '', math.floor(rl / 1000), held,\n"
            "        left(h[4], rpm, rburst), left(h[5], tpm, tburst), math.floor(now / 1000)}\n";

const char *const budget_lua_src[BUDGET_LUA_COUNT] = {
    [BUDGET_LUA_TAKE] = lua_take,   [BUDGET_LUA_GIVE] = lua_give,
    [BUDGET_LUA_RENEW] = lua_renew, [BUDGET_LUA_HEARTBEAT] = lua_heartbeat,
    [BUDGET_LUA_VIEW] = lua_view,
};

const char *const budget_lua_name[BUDGET_LUA_COUNT] = {
    [BUDGET_LUA_TAKE] = "take",           [BUDGET_LUA_GIVE] = "give", [BUDGET_LUA_RENEW] = "renew",
    [BUDGET_LUA_HEARTBEAT] = "heartbeat", [BUDGET_LUA_VIEW] = "view",
};
