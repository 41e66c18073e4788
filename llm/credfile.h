/*
 * credfile.h - loading credentials.json (cJSON) into process memory.
 *
 * Secrets (api_key, or the environment variable named by api_key_env) live
 * only in the loading process and its forked workers; they are never copied to
 * the shared segment, a log or the console. Errors name the file and the field
 * ("credentials.json: credentials[1].provider: unknown provider \"foo\"").
 */
#ifndef AGENTOS_LLM_CREDFILE_H
#define AGENTOS_LLM_CREDFILE_H

#include <stddef.h>
#include <stdint.h>

#include "llm/provider.h"
#include "shm/cred.h"

#define CREDFILE_MAX_BYTES (1024 * 1024)
#define CREDFILE_BUDGET_MAX 128 /* = SHM_BUDGET_URL_MAX */

struct credential {
    char id[SHM_KEY_ID_MAX];
    char provider_name[SHM_PROVIDER_MAX]; /* "openai" / "gemini" */
    char model[SHM_MODEL_MAX];
    const struct llm_provider *proto; /* its wire protocol (llm/provider.h) */
    char *base_url;                   /* never NULL after load (gemini default filled in) */
    char *secret;                     /* process memory only */
    uint32_t roles;                   /* CRED_ROLE_* bits, both when absent */
    uint32_t concurrency;
    uint32_t rpm;
    uint32_t tpm;          /* tokens per minute, 0 = no budget */
    double price_input;    /* per million input tokens; < 0 = no price */
    double price_output;   /* per million output tokens */
    struct llm_gen gen[2]; /* generation settings resolved for draft [0] and review [1] */
};

/* The settings of credential c for role (CRED_ROLE_DRAFT / CRED_ROLE_REVIEW). */
static inline const struct llm_gen *credfile_gen(const struct credential *c, uint32_t role)
{
    return &c->gen[role == CRED_ROLE_REVIEW];
}

struct cred_file {
    struct credential *v;
    size_t n;
    int insecure_mode; /* readable by group or others: caller warns */
    /* "budget": "redis://HOST[:PORT][/DB]" at the top level (SPEC 13): the
     * shared key budget, when --budget does not say; "" = none */
    char budget[CREDFILE_BUDGET_MAX];
};

/*
 * Parse and validate path. Fields: id (string, unique, <= 47 chars),
 * provider (a protocol of llm/provider.h), model (string), base_url
 * (string; required unless the protocol has a default, as gemini does),
 * api_key or api_key_env (the named variable must be set and non-empty),
 * roles (array of "draft"/"review", or an object {"draft": {settings},
 * "review": {settings}} naming the roles with their settings), rpm (integer
 * 0..100000), tpm (integer 0..100000000), concurrency (integer
 * 1..SHM_KEY_HOLDERS_MAX), price ({"input": n, "output": n} per million
 * tokens), and the generation settings max_tokens, temperature, system,
 * timeout_s, extra (credfile_gen.c), which may also stand at the top of the
 * file, with per-role ones in a top-level "roles" object. limit > 0 keeps
 * only the first `limit` keys (AGENTOS_CREDENTIAL_LIMIT). At the top level also
 * budget (a redis://HOST[:PORT][/DB] URL, checked by budget_redis_parse_url).
 * 0, or -errno with a
 * one-line err naming the field (and the key, for settings).
 */
int credfile_load(const char *path, size_t limit, struct cred_file *out, char *err, size_t errlen);

/* Parse from a buffer (for tests/fuzzing); name is used in messages. */
int credfile_parse(const char *name, const char *text, size_t len, size_t limit,
                   struct cred_file *out, char *err, size_t errlen);

/* Zero the secrets and free. */
void credfile_free(struct cred_file *cf);

/* Fill a cred_init (no secret) for the shared slot of credential c. */
void credfile_to_init(const struct credential *c, struct cred_init *ci);

#endif
