/*
 * mockllm.h - what the parts of agentos-mockllm share; private to that tool.
 *
 * tools/agentos-mockllm.c parses the flags into mock_cfg and runs the HTTP daemon;
 * the files here serve the requests: server.c (routes, MHD callbacks), stats.c
 * (GET /stats and its reset), completion.c (one LLM request end to end), limits.c
 * (the simulated provider's admission checks and its 429 replies), buckets.c (the
 * per-key request and token buckets and the rate-limit headers that report them),
 * overload.c (--capacity: serving slots and their queue), ledger.c (what tests
 * audit: requests per key in any 60 s, drafts and reviews in flight, latencies),
 * protocol.c (OpenAI and Gemini wire formats, token counts), anthropic.c (the
 * Anthropic Messages wire format), replies.c (the drafts and reviews the mock
 * writes), digest.c (SHA-256 counting tables), state.c (the shared state and its
 * helpers). mock_cfg is written once before the daemon starts and only read
 * afterwards; everything that changes while it runs sits in mock_st behind
 * mock_st.mu, and functions named *_locked expect that lock held.
 * Flags, markers and the /stats schema: docs/mockllm.md.
 */
#ifndef AGENTOS_TOOLS_MOCKLLM_H
#define AGENTOS_TOOLS_MOCKLLM_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MOCK_NAME "agentos-mockllm"
#define MOCK_BODY_MAX (4u << 20)
#define MOCK_KEY_MAX 512
#define MOCK_SLEEP_MAX_MS 600000L
/* Most timestamps a ledger keeps (per key window, latency samples): memory stays bounded. */
#define MOCK_LEDGER_MAX 100000u
#define MOCK_HDR_MAX 12
/* Arrival jitter forgiven by the request bucket and by early-request accounting. */
#define MOCK_GRACE_NS (50 * 1000000LL)

/* Order matters: the flag parser maps the names of --retry-style onto it. */
enum mock_style { STYLE_SECONDS, STYLE_HTTP_DATE, STYLE_GEMINI_BODY, STYLE_NONE, STYLE_MS };
/* Which provider's wire format a completion route speaks. */
enum mock_proto { PROTO_OPENAI, PROTO_GEMINI, PROTO_ANTHROPIC };
enum mock_kind { KIND_NONE, KIND_DRAFT, KIND_REVIEW };

struct mock_kv {
    const char *key;
    double val;
};

/* Set once by the flag parser, read-only while the server runs. */
struct mock_cfg {
    long port, latency_ms, jitter_ms;
    long long max_requests;      /* -1: no limit */
    long long max_prompt_tokens; /* 0: no context limit */
    long capacity;               /* 0: no serving-slot limit */
    double rpm, tpm, fail_rate, overloaded_rate;
    enum mock_style style;
    int no_rl_headers;
    const char *port_file, *log_path;
    unsigned long long seed;
    int seeded;
    struct mock_kv *key_rpm, *key_tpm, *deny;
    const char **always_429, **daily, **no_quota;
    size_t n_key_rpm, n_key_tpm, n_deny, n_always_429, n_daily, n_no_quota;
};

/* A ring of instants, oldest first; grows by doubling up to MOCK_LEDGER_MAX. */
struct mock_ring {
    int64_t *v;
    size_t cap, head, n;
};

struct mock_key {
    struct mock_key *next;
    char *key;
    int64_t tat_ns;        /* request bucket's theoretical arrival time (GCRA) */
    double tok_level;      /* token bucket's content at tok_at_ns (may be negative) */
    int64_t tok_at_ns;     /* 0: the token bucket was never touched (full) */
    int64_t wait_until_ns; /* instant the last 429 told this key to wait for; 0 = none */
    uint64_t requests, completions, http_429, early;
    uint64_t prompt_tokens, completion_tokens; /* of 200 replies delivered in full */
    uint64_t max_60s;                          /* most requests in any 60 s */
    struct mock_ring window;                   /* arrivals of the last 60 s */
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
    uint64_t requests, completions, drafts, reviews, h429, h5xx, h401, h403, h400, h404, h413;
    uint64_t h422, h529, h503_overload;
    uint64_t early, repeats;
    uint64_t delivered_repeats; /* prompts whose earlier 200 reply was fully delivered */
    uint64_t prompt_tokens, completion_tokens; /* of 200 replies delivered in full */
};

/* One request waiting for a --capacity slot; lives on the waiting thread's stack. */
struct mock_waiter {
    struct mock_waiter *next;
    int granted;
};

struct mock_state {
    pthread_mutex_t mu;
    pthread_cond_t stop_cv; /* broadcast at shutdown so latency sleeps end at once */
    pthread_cond_t slot_cv; /* broadcast when a --capacity slot is handed on */
    int stopping;
    struct mock_counters c;
    int64_t in_flight, max_in_flight;
    int64_t drafts_in_flight, reviews_in_flight, max_drafts_in_flight, max_reviews_in_flight;
    int64_t serving, queued, max_queued; /* --capacity slots taken, requests waiting */
    struct mock_waiter *q_head, *q_tail;
    struct mock_ring latency_us; /* of 200 replies, receipt to reply */
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
    struct mock_key *key; /* whose token totals a delivered 200 adds to */
    uint64_t ptok, ctok;  /* the usage a 200 reported */
};

struct mock_hdr {
    char name[48];
    char val[64];
};

struct mock_reply {
    unsigned status;
    char *body; /* malloc'd */
    const char *ctype;
    struct mock_hdr hdr[MOCK_HDR_MAX]; /* extra headers (Retry-After, rate limits) */
    int nhdr;
};

/* One parsed completion request: what the checks and the reply need to know of it. */
struct mock_job {
    enum mock_proto proto;
    const char *key;
    char model[128];
    char *prompt;    /* message texts, each followed by '\n'; malloc'd */
    const char *bad; /* why the body is malformed, or NULL */
    unsigned reject; /* 4xx asked for by a marker or --max-prompt-tokens; 0 = none */
    int over_ctx;    /* the 400 is --max-prompt-tokens' */
    enum mock_kind kind;
    uint64_t ptok;     /* prompt tokens */
    char *text;        /* the reply it will get, as far as it is known beforehand */
    uint64_t ctok_est; /* completion tokens of that predicted text */
    unsigned char digest[32];
};

extern struct mock_cfg mock_cfg;
extern struct mock_state mock_st;

/* ---- state.c ---- */

/* Readies mock_st for mock_cfg (clock of the condition variables, seed, log file);
 * prints a failure and returns -errno. */
int mock_state_init(void);
/* Sets mock_st.stopping and wakes every latency sleep and slot wait. */
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
/* The monotonic instant ms milliseconds from now, as a timespec for the cond waits. */
struct timespec mock_deadline(long ms);
/*
 * Sleeps ms milliseconds without the lock, watching socket fd (-1: none); returns 1
 * as soon as the client hung up, 0 when the time is over or the server stops.
 */
int mock_sleep_watch(long ms, int fd);
/* 1 when the client on socket fd (-1: none) has hung up. */
int mock_hung_up(int fd);

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

/* Tokens of a text of len bytes: ceil(len / 4), the stand-in's one counting rule. */
uint64_t mock_tokens(size_t len);
/* Makes rp a JSON reply with status and the text of o; frees o. */
void mock_reply_json(struct mock_reply *rp, unsigned status, cJSON *o);
/* Adds header name: printf(fmt, ...) to rp; silently drops it past MOCK_HDR_MAX. */
void mock_reply_header(struct mock_reply *rp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A Gemini-shaped {"error":{...}} object; its "details" array is returned in *details. */
cJSON *mock_gemini_error(unsigned status, const char *msg, cJSON **details);
/* An OpenAI-shaped {"error":{"message","type","param":null,"code"}} (code NULL: null). */
cJSON *mock_openai_error(const char *msg, const char *type, const char *code);
/* Makes rp an error reply shaped like the provider's of proto, with a code of its own
 * on the OpenAI route (NULL: the usual one for status). */
void mock_error_code(struct mock_reply *rp, enum mock_proto proto, unsigned status, const char *msg,
                     const char *code);
/* mock_error_code with the usual code for status. */
void mock_error(struct mock_reply *rp, enum mock_proto proto, unsigned status, const char *msg);
/*
 * Joins the request's message texts into *prompt (malloc'd) and copies its model into
 * model (OpenAI, Anthropic); returns NULL, or a reason the body is malformed.
 */
const char *mock_prompt(const cJSON *doc, enum mock_proto proto, char **prompt, char *model,
                        size_t msize);
/* Appends the text of a string or an array of {"text":..} parts to *buf, plus '\n';
 * skip_typed skips parts whose "type" is not "text" (Anthropic's image blocks). */
int mock_add_text(char **buf, size_t *len, const cJSON *v, int skip_typed);
/* Makes rp a 200 carrying text as the provider's completion, with token usage. */
void mock_success(struct mock_reply *rp, enum mock_proto proto, const char *model, const char *text,
                  uint64_t ptok, uint64_t ctok);

/* ---- anthropic.c ---- */

/* The Anthropic {"type":"error","error":{"type","message"}} reply for status. */
void mock_anthropic_error(struct mock_reply *rp, unsigned status, const char *msg);
/* mock_prompt for a Messages API body: system, messages, model, max_tokens. */
const char *mock_anthropic_prompt(const cJSON *doc, char **prompt, char *model, size_t msize);
/* Makes rp a 200 Messages reply carrying text, with usage. */
void mock_anthropic_success(struct mock_reply *rp, const char *model, const char *text,
                            uint64_t ptok, uint64_t ctok);

/* ---- replies.c ---- */

/* A design draft for prompt, carrying on its MOCK- markers; malloc'd, NULL if no memory. */
char *mock_draft(const char *prompt, const unsigned char digest[32]);
/*
 * A review of prompt with the verdict its markers ask for; malloc'd, NULL if no memory.
 * commit 0 only predicts MOCK-REVISE-ONCE's verdict; 1 also counts the review.
 */
char *mock_review(const char *prompt, int commit);
/* The reply j gets (draft, review, MOCK-EMPTY, MOCK-QUOTE-KEY); see mock_review for
 * commit. malloc'd, NULL if no memory. */
char *mock_reply_text(const struct mock_job *j, int commit);
/* The 4xx status a MOCK-HTTP-4xx marker of prompt asks for, or 0. */
unsigned mock_marker_status(const char *prompt);

/* ---- buckets.c ---- */

/* The requests/minute and tokens/minute limits of k (0: none). */
double mock_key_rpm(const struct mock_key *k);
double mock_key_tpm(const struct mock_key *k);
/* How long until k's request bucket admits a request (0: now). */
int64_t mock_rpm_wait_locked(const struct mock_key *k, double rpm, int64_t now);
/* How long until k's token bucket admits cost tokens (0: now, -1: never, cost > tpm). */
int64_t mock_tpm_wait_locked(struct mock_key *k, double tpm, double cost, int64_t now);
/* Takes one request and cost tokens from k's buckets (a limit of 0: that bucket is off). */
void mock_buckets_take_locked(struct mock_key *k, double rpm, double tpm, double cost, int64_t now);
/* Adds the x-ratelimit-* (OpenAI) or anthropic-ratelimit-* headers of k's buckets as
 * they are at now to rp; nothing for a key without limits or for Gemini. */
void mock_rl_headers_locked(struct mock_reply *rp, struct mock_key *k, enum mock_proto proto,
                            int64_t now);
/* ns as a Go duration rounded up to the millisecond: "20ms", "1s", "6m0s", "1m30.5s". */
void mock_go_duration(int64_t ns, char *out, size_t size);

/* ---- limits.c ---- */

/* Counts k's request as early when it came before the instant a 429 told k to wait for. */
void mock_note_arrival_locked(struct mock_key *k, int64_t now);
/*
 * The simulated provider's admission checks (--max-requests, --deny-key, --daily-quota,
 * --insufficient-quota, --always-429, the request and token buckets), for a request
 * costing cost tokens; 1 when rp now holds a rejection, 0 to serve (the buckets were
 * charged). *limited is set once the request reached the buckets.
 */
int mock_gate_locked(struct mock_reply *rp, struct mock_key *k, enum mock_proto proto, double cost,
                     int64_t now, int *limited);

/* ---- overload.c ---- */

/*
 * Takes one of the --capacity slots, queueing behind earlier requests while all are
 * busy; 0 once taken (or with no --capacity), -EBUSY at once when 2 x capacity
 * requests already hold or wait for one, -ECANCELED when the client on socket fd hung
 * up or the server stops while waiting.
 */
int mock_slot_take(int fd);
/* Gives back a slot mock_slot_take granted, to the longest waiter if any. */
void mock_slot_give(void);

/* ---- ledger.c ---- */

/* Records a request of k at now in its 60 s window and updates k->max_60s. */
void mock_window_note_locked(struct mock_key *k, int64_t now);
/* Forgets k's window and its maximum. */
void mock_window_clear_locked(struct mock_key *k);
/* One more (delta 1) or one less (-1) draft or review in flight; tracks the most. */
void mock_kind_flight_locked(enum mock_kind kind, int delta);
/* Records the latency of one 200 reply. */
void mock_latency_note_locked(int64_t ns);
/* out[i] = the q[i]-quantile (0..1, nearest rank) of the recorded latencies in ms;
 * 0 with none recorded. */
void mock_latency_ms_locked(const double *q, double *out, size_t nq);
/* Frees a ring's storage and empties it. */
void mock_ring_free(struct mock_ring *r);

/* ---- completion.c ---- */

/* Serves one POST to an LLM route of protocol proto into rp, and counts it. */
void mock_completion(struct MHD_Connection *c, struct mock_reply *rp, struct mock_req *rq,
                     enum mock_proto proto, const char *url);

/* ---- stats.c ---- */

/* The /stats document (malloc'd JSON text; NULL if out of memory). */
char *mock_stats_json(void);
/* Zeroes what /stats reports; behaviour (buckets, deadlines, REVISE-ONCE) stays. */
void mock_stats_reset(void);

/* ---- server.c ---- */

/* The MHD access handler and completion callback the daemon is started with. */
enum MHD_Result mock_handler(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *data_size, void **con_cls);
void mock_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode code);

#endif
