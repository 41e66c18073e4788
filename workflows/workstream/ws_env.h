/*
 * ws_env.h - ${env...} in a workstream's `execution` block (SPEC 8).
 *
 * Users bring workstream files that take their settings from the environment:
 *
 *   "execution": {"max_workers": "${env.MAXW:-3}",
 *                 "parallel": "${env.CI == 'true'}",
 *                 "note": "built by ${env.USER}"}
 *
 * ws_env_expand() walks a cJSON value (objects and arrays to any depth) and
 * rewrites every string in it:
 *
 *   ${env.NAME}            the variable's value; unset is an error naming it
 *                          (set but empty gives "")
 *   ${env.NAME:-default}   the value, or default when unset or empty (as in
 *                          sh); default is literal text up to the first '}'
 *   ${env.NAME == 'v'}     only as the whole string: a JSON true or false
 *   ${env.NAME != 'v'}     (quotes ' or "; spaces around the operator are
 *                          allowed; an unset NAME compares as "")
 *   $${                    a literal "${" (the one escape; any other '$' is
 *                          literal, so "$env.X", "$$" and "cost: 5$" stay)
 *
 * NAME is [A-Za-z_][A-Za-z0-9_]*. Anything else that starts with "${" is an
 * error naming the field, so a typo never reaches a command or a number as
 * text. Values are inserted as they are and never expanded again. Object keys
 * are not expanded, numbers and booleans are left alone, and a string that
 * expands to "3" stays the string "3": the caller converts it where it wants
 * a number, with ws_env_number().
 *
 * The environment is a lookup callback: tests pass a table, the runtime
 * passes ws_env_getenv. Nothing here reads the environment by itself.
 */
#ifndef AGENTOS_WORKFLOWS_WORKSTREAM_WS_ENV_H
#define AGENTOS_WORKFLOWS_WORKSTREAM_WS_ENV_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define WS_ENV_VALUE_MAX 65536 /* longest string an expansion may produce */

/* The value of variable name, or NULL when it is not set. */
typedef const char *(*ws_env_lookup_fn)(const char *name, void *ctx);

/* The production lookup: getenv(name); ctx is unused. */
const char *ws_env_getenv(const char *name, void *ctx);

/*
 * Expand every string in v, in place. path names v in messages ("execution");
 * members are path.key, array entries path[i]. Returns 0, or -EINVAL with one
 * line in err ("execution.max_workers: ${env.MAXW} is not set and has no
 * default"), or -ENOMEM. On error v may be partly expanded: the caller
 * discards the document.
 */
int ws_env_expand(cJSON *v, const char *path, ws_env_lookup_fn lookup, void *ctx, char *err,
                  size_t errlen);

/*
 * A number, or a string that is exactly a decimal number ("3", "-2.5",
 * "1e3"; no spaces, hex, inf or nan), into *out. 0, or -EINVAL.
 */
int ws_env_number(const cJSON *v, double *out);

#endif
