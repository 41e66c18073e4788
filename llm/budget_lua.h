/*
 * budget_lua.h - the Lua scripts of the Redis key budget (budget_lua.c), by
 * index. Internal to llm/budget_*.c: the argument order of each script is
 * written above its source and must match its caller in budget_redis.c.
 */
#ifndef AGENTOS_LLM_BUDGET_LUA_H
#define AGENTOS_LLM_BUDGET_LUA_H

enum budget_script {
    BUDGET_LUA_TAKE,
    BUDGET_LUA_GIVE,
    BUDGET_LUA_RENEW,
    BUDGET_LUA_HEARTBEAT,
    BUDGET_LUA_VIEW,
    BUDGET_LUA_COUNT
};

extern const char *const budget_lua_src[BUDGET_LUA_COUNT];
extern const char *const budget_lua_name[BUDGET_LUA_COUNT];

#endif
