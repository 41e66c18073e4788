/*
 * mockllm.h - what the parts of agentos-mockllm share; private to that tool.
 *
 * tools/agentos-mockllm.c parses the flags into mock_cfg and runs the HTTP daemon;
 * the files here serve the requests: server.c (routes, /stats, MHD callbacks),
 * completion.c (one LLM request end to end), limits.c (the simulated provider's
 * admission checks), protocol.c (OpenAI and Gemini wire formats), replies.c (the
 * drafts and reviews the mock writes), digest.c (SHA-256 counting tables), state.c
 * (the shared state and its helpers). mock_cfg is written once before the daemon
 * starts and only read afterwards; everything that changes while it runs sits in
 * mock_st behind mock_st.mu, and functions named *_locked expect that lock held.
 * Flags, markers and the /stats schema: docs/mockllm.md.
 */
#ifndef AGENTOS_TOOLS_MOCKLLM_H
#define AGENTOS_TOOLS_MOCKLLM_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define MOCK_NAME "agentos-mockllm"
#define MOCK_BODY_MAX (4u << 20)
#define MOCK_KEY_MAX 512
#define MOCK_SLEEP_MAX_MS 600000L

enum mock_style { STYLE_SECONDS, STYLE_HTTP_DATE, STYLE_GEMINI_BODY, STYLE_NONE };

struct mock_kv {
    const char *key;
    double val;
};

/* Set once by the flag parser, read-only while the server runs. */
struct mock_cfg {
    long port, latency_ms, jitter_ms;
    long long max_requests; /* -1: no limit */
    double rpm, fail_rate;
    enum mock_style style;
    const char *port_file, *log_path;
    unsigned long long seed;
    int seeded;
    struct mock_kv *key_rpm, *deny;
    const char **always_429, **daily;
    size_t n_key_rpm, n_deny, n_always_429, n_daily;
};

struct mock_key {
    struct mock_key *next;
    char *key;
    int64_t tat_ns;        /* rate limiter's theoretical arrival time */
    int64_t wait_until_ns; /* instant the last 429 told this key to wait for; 0 = none */
    uint64_t requests, http_429, early;
};

/* Open-addressing counter of SHA-256 digests (prompts seen, reviews per heading). */
struct mock_dig_slot {
    unsigned char d[32];
    uint32_t n; /* 0 = empty slot */
};
struct mock_dig_table {
    struct mock_dig_slot *s;
    size_t cap, used;
};

struct mock_counters {
    uint64_t requests, completions, drafts, reviews, h429, h5xx, h401, h403, h400, h413;
    uint64_t early, repeats;
    uint64_t delivered_repeats; /* prompts whose earlier 200 reply was fully delivered */
};

struct mock_state {
    pthread_mutex_t mu;
    pthread_cond_t stop_cv; /* broadcast at shutdown so latency sleeps end at once */
    int stopping;
    struct mock_counters c;
    int64_t in_flight, max_in_flight;
    uint64_t rng;
    struct mock_key *keys;
    struct mock_dig_table prompts, headings;
    struct mock_dig_table delivered; /* prompts whose 200 reply reached the client */
    int log_fd;
};

/* One HTTP request, from its headers to the completion callback. */
struct mock_req {
    char *body;
    size_t len, cap;
    int too_big;
    int64_t t0;
    char key_id[32];          /* what the log may show of the key */
    unsigned char digest[32]; /* of the prompt, once a 200 was built */
    int ok200;
    int fd; /* the connection's socket, to notice a client that hung up */
    int hung_up;
};

struct mock_reply {
    unsigned status;
    char *body; /* malloc'd */
    const char *ctype;
    char retry_after[64]; /* "" = no Retry-After header */
};

extern struct mock_cfg mock_cfg;
extern struct mock_state mock_st;

/* ---- state.c ---- */

/* Readies mock_st for mock_cfg (clock of stop_cv, seed, log file); prints a failure. */
int mock_state_init(void);
/* Sets mock_st.stopping and wakes every latency sleep. */
void mock_state_stop(void);
/* Closes the log; call after the daemon stopped. */
void mock_state_close(void);
/* The next pseudo-random number (splitmix64), and one uniform in [0, 1). */
uint64_t mock_rand_locked(void);
double mock_rand01_locked(void);
/* 1 when key is one of list[0..n), else 0. */
int mock_list_has(const char **list, size_t n, const char *key);
/* The entry of kv[0..n) named key, or NULL. */
const struct mock_kv *mock_kv_find(const struct mock_kv *kv, size_t n, const char *key);
/* What a log may show of key: at most its first 6 characters (half of a short one). */
void mock_key_id(const char *key, char out[32]);
/* key's record, created on first sight; NULL when out of memory. */
struct mock_key *mock_key_get_locked(const char *key);
/*
 * Sleeps ms milliseconds without the lock, watching socket fd (-1: none); returns 1
 * as soon as the client hung up, 0 when the time is over or the server stops.
 */
int mock_sleep_watch(long ms, int fd);

/* ---- digest.c ---- */

/* SHA-256 of data (all zeroes should OpenSSL fail). */
void mock_sha256(const void *data, size_t len, unsigned char out[32]);
/* Counts one more sighting of d; returns how often it was seen before. */
uint32_t mock_dig_bump(struct mock_dig_table *t, const unsigned char d[32]);
/* How often d was counted, without counting it. */
uint32_t mock_dig_count(const struct mock_dig_table *t, const unsigned char d[32]);
/* Forgets every digest and frees the table. */
void mock_dig_clear(struct mock_dig_table *t);

/* ---- protocol.c ---- */

/* Makes rp a JSON reply with status and the text of o; frees o. */
void mock_reply_json(struct mock_reply *rp, unsigned status, cJSON *o);
/* A Gemini-shaped {"error":{...}} object; its "details" array is returned in *details. */
cJSON *mock_gemini_error(unsigned status, const char *msg, cJSON **details);
/* Makes rp an error reply shaped like the provider's (Gemini when gemini != 0). */
void mock_error(struct mock_reply *rp, int gemini, unsigned status, const char *msg);
/*
 * Joins the request's message texts into *prompt (malloc'd) and, for OpenAI, copies
 * its model into model; returns NULL, or a reason the body is malformed.
 */
const char *mock_prompt(const cJSON *doc, int gemini, char **prompt, char *model, size_t msize);
/* Makes rp a 200 carrying text as the provider's completion, with token usage. */
void mock_success(struct mock_reply *rp, int gemini, const char *model, const char *text,
                  size_t prompt_len);

/* ---- replies.c ---- */

/* A design draft for prompt, carrying on its MOCK- markers; malloc'd, NULL if no memory. */
char *mock_draft(const char *prompt, const unsigned char digest[32]);
/* A review of prompt with the verdict its markers ask for; malloc'd, NULL if no memory. */
char *mock_review(const char *prompt);

/* ---- limits.c ---- */

/* Counts k's request as early when it came before the instant a 429 told k to wait for. */
void mock_note_arrival_locked(struct mock_key *k, int64_t now);
/*
 * The simulated provider's admission checks (--max-requests, --deny-key, --daily-quota,
 * --always-429, the rate limit); 1 when rp now holds a rejection, 0 to serve.
 */
int mock_gate_locked(struct mock_reply *rp, struct mock_key *k, int gemini, int64_t now);

/* ---- completion.c ---- */

/* Serves one POST to an LLM route (gemini: the Gemini one) into rp, and counts it. */
void mock_completion(struct MHD_Connection *c, struct mock_reply *rp, struct mock_req *rq,
                     int gemini, const char *url);

/* ---- server.c ---- */

/* The MHD access handler and completion callback the daemon is started with. */
enum MHD_Result mock_handler(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *data_size, void **con_cls);
void mock_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode code);

#endif
