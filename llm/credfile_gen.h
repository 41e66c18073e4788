/*
 * credfile_gen.h - private to credfile.c and credfile_gen.c: parsing the
 * generation settings of one level of credentials.json and resolving the
 * levels into one key's settings for one role (see credfile_gen.c).
 */
#ifndef AGENTOS_LLM_CREDFILE_GEN_H
#define AGENTOS_LLM_CREDFILE_GEN_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "llm/provider.h"

#define CREDGEN_MAX_TOKENS_MAX 1000000
#define CREDGEN_TIMEOUT_MAX_S 86400
#define CREDGEN_SYSTEM_MAX (256 * 1024)

/* One level's settings as written (pointers into the parsed tree); "not set" as in llm_gen. */
struct credgen_level {
    int64_t max_tokens;
    double temperature;
    long timeout_s;
    const char *system;
    const cJSON *extra;
};

/*
 * Read the settings fields of obj. path prefixes field names in messages
 * ("roles.draft."); strict: any other field is an error. 0, or -EINVAL with
 * "<path><field>: <why>" in err.
 */
int credgen_parse(const cJSON *obj, const char *path, int strict, struct credgen_level *out,
                  char *err, size_t errlen);

/*
 * The object form of `roles` ({"draft": {...}, "review": {...}}): the roles
 * it names in *mask, each one's settings in out[0] (draft) / out[1] (review).
 * 0 or -EINVAL with a message as credgen_parse's.
 */
int credgen_roles_object(const cJSON *roles, const char *path, uint32_t *mask,
                         struct credgen_level out[2], char *err, size_t errlen);

/* Resolve levels[0..n) (least specific first; NULL entries skipped) into out. 0 or -ENOMEM. */
int credgen_resolve(const struct credgen_level *const levels[], size_t n, struct llm_gen *out);

/* Free what credgen_resolve allocated. */
void credgen_free(struct llm_gen *g);

#endif
