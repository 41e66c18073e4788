/*
 * agentos-mockllm.c - the bundled local LLM stand-in (SPEC section 10): its main.
 *
 * A libmicrohttpd server on 127.0.0.1 that speaks the OpenAI chat-completions, the
 * Gemini generateContent and the Anthropic Messages protocols, with token usage. It
 * drafts and reviews by simple rules (markers in the prompt steer the reviewer's
 * verdict) and simulates provider trouble: latency, per-key request and token
 * budgets answered with 429 + Retry-After and reported in rate-limit headers,
 * random 5xx and 529s, a server with few slots, denied keys, exhausted quotas and
 * real 4xx bodies. It counts what it served (GET /stats), including every request
 * that reached a key before the time it was told to wait. One thread per
 * connection, so the latency sleeps of concurrent requests overlap; all shared state
 * sits behind one mutex. This file parses the flags, binds the socket and starts and
 * stops the daemon; tools/mockllm/ serves the requests (mockllm.h says which file does
 * what). Flags, markers and the /stats schema: docs/mockllm.md.
 */
#include "tools/mockllm/mockllm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shm/util.h"

static const char mock_usage[] =
    "usage: " MOCK_NAME " [options]\n"
    "Local LLM stand-in on 127.0.0.1 (OpenAI chat-completions, Gemini generateContent,\n"
    "Anthropic Messages). Prints '" MOCK_NAME " listening on 127.0.0.1:PORT' once ready;\n"
    "SIGINT/SIGTERM stop it.\n"
    "  --port P                 port to listen on; 0 picks a free one (default 0)\n"
    "  --port-file F            also write the port to F (atomically) once listening\n"
    "  --latency-ms L           fixed latency per served request (default 0)\n"
    "  --latency-jitter-ms J    plus a uniform random 0..J ms\n"
    "  --rpm R                  per-key requests/minute (token bucket); 0 = no limit\n"
    "  --key-rpm KEY=R          per-key override of --rpm (repeatable)\n"
    "  --tpm T                  per-key tokens/minute (prompt + completion tokens); 0 = none\n"
    "  --key-tpm KEY=T          per-key override of --tpm (repeatable)\n"
    "  --no-ratelimit-headers   send no x-ratelimit-* / anthropic-ratelimit-* headers\n"
    "  --retry-style S          429 delay as: seconds (default), http-date, ms (retry-after-ms\n"
    "                           plus Retry-After), gemini-body, none\n"
    "  --fail-rate F            share 0..1 of served requests answered 503\n"
    "  --overloaded-rate F      share 0..1 of Anthropic requests answered 529 overloaded_error\n"
    "  --capacity C             serve at most C requests at a time, queue up to C more,\n"
    "                           answer 503 at once beyond that (a server with C slots)\n"
    "  --max-prompt-tokens N    a prompt over N tokens gets llama.cpp's 400\n"
    "                           exceed_context_size_error\n"
    "  --always-429 KEY         KEY always gets 429 with a 1 s delay (repeatable)\n"
    "  --deny-key KEY=401|403   KEY always gets that status (repeatable)\n"
    "  --daily-quota KEY        KEY gets Gemini's per-day quota 429, no Retry-After (repeatable)\n"
    "  --insufficient-quota KEY KEY gets OpenAI's insufficient_quota 429, no Retry-After\n"
    "                           (repeatable)\n"
    "  --max-requests N         answer 503 to every request after the first N\n"
    "  --seed S                 seed of the random choices (jitter, --fail-rate,\n"
    "                           --overloaded-rate)\n"
    "  --log FILE               one line per request (keys shown as 6 chars + ...)\n"
    "  -h, --help               this text\n"
    "Tokens: ceil(bytes / 4) of the prompt text and of the reply text.\n"
    "Prompt markers: AGENTOS-ROLE: review, MOCK-REVISE-ONCE, MOCK-REVISE-ALWAYS, MOCK-BLOCKED,\n"
    "MOCK-NO-VERDICT, MOCK-CHECKBOX, MOCK-FAIL-5XX, MOCK-SLOW-MS=N, MOCK-HTTP-400,\n"
    "MOCK-HTTP-404, MOCK-HTTP-422, MOCK-EMPTY, MOCK-QUOTE-KEY. Routes: POST\n"
    "/v1/chat/completions, /chat/completions, /v1beta/models/M:generateContent, /v1/messages;\n"
    "GET /stats, /healthz; POST /stats/reset. See docs/mockllm.md.\n";

static _Noreturn void mock_die_usage(const char *flag, const char *what)
{
    fprintf(stderr, MOCK_NAME ": %s %s (see --help)\n", flag, what);
    exit(2);
}

static double mock_num(const char *flag, const char *s, double lo, double hi, int integer)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi) || (integer && v != (double)(long long)v)) {
        char what[128];
        snprintf(what, sizeof(what), "needs %s in %g..%g", integer ? "an integer" : "a number", lo,
                 hi);
        mock_die_usage(flag, what);
    }
    return v;
}

/* KEY=N with N from the allowed range; the key itself is never echoed in an error. */
static struct mock_kv mock_kv_parse(const char *flag, const char *s, double lo, double hi)
{
    const char *eq = strrchr(s, '=');
    if (!eq || eq == s)
        mock_die_usage(flag, "needs KEY=VALUE");
    struct mock_kv kv = {strndup(s, (size_t)(eq - s)), 0};
    char *end;
    kv.val = strtod(eq + 1, &end);
    if (!kv.key || !eq[1] || *end || !(kv.val >= lo && kv.val <= hi))
        mock_die_usage(flag, "has a bad VALUE after '='");
    return kv;
}

/* 1 for a flag that takes a value, 2 for a switch, 0 for an unknown one. */
static int mock_known_flag(const char *flag)
{
    static const char *const known[] = {"--port",
                                        "--port-file",
                                        "--latency-ms",
                                        "--latency-jitter-ms",
                                        "--rpm",
                                        "--key-rpm",
                                        "--tpm",
                                        "--key-tpm",
                                        "--retry-style",
                                        "--fail-rate",
                                        "--always-429",
                                        "--deny-key",
                                        "--daily-quota",
                                        "--max-requests",
                                        "--insufficient-quota",
                                        "--max-prompt-tokens",
                                        "--capacity",
                                        "--overloaded-rate",
                                        "--seed",
                                        "--log"};
    if (strcmp(flag, "--no-ratelimit-headers") == 0)
        return 2;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(flag, known[i]) == 0)
            return 1;
    return 0;
}

static void mock_set_style(const char *flag, const char *v)
{
    /* in the order of enum mock_style */
    const char *names[] = {"seconds", "http-date", "gemini-body", "none", "ms"};
    size_t s = 0, n = sizeof(names) / sizeof(names[0]);
    while (s < n && strcmp(v, names[s]) != 0)
        s++;
    if (s == n)
        mock_die_usage(flag, "needs seconds, http-date, ms, gemini-body or none");
    mock_cfg.style = (enum mock_style)s;
}

/* The flags about keys: limits, denials, quotas. 0 when flag is none of them. */
static int mock_set_key_flag(const char *flag, const char *v)
{
    if (!strcmp(flag, "--rpm"))
        mock_cfg.rpm = mock_num(flag, v, 0, 1e9, 0);
    else if (!strcmp(flag, "--key-rpm"))
        mock_cfg.key_rpm[mock_cfg.n_key_rpm++] = mock_kv_parse(flag, v, 0, 1e9);
    else if (!strcmp(flag, "--tpm"))
        mock_cfg.tpm = mock_num(flag, v, 0, 1e12, 0);
    else if (!strcmp(flag, "--key-tpm"))
        mock_cfg.key_tpm[mock_cfg.n_key_tpm++] = mock_kv_parse(flag, v, 0, 1e12);
    else if (!strcmp(flag, "--deny-key")) {
        struct mock_kv kv = mock_kv_parse(flag, v, 401, 403);
        if (kv.val != 401 && kv.val != 403)
            mock_die_usage(flag, "needs KEY=401 or KEY=403");
        mock_cfg.deny[mock_cfg.n_deny++] = kv;
    } else if (!strcmp(flag, "--always-429"))
        mock_cfg.always_429[mock_cfg.n_always_429++] = v;
    else if (!strcmp(flag, "--daily-quota"))
        mock_cfg.daily[mock_cfg.n_daily++] = v;
    else if (!strcmp(flag, "--insufficient-quota"))
        mock_cfg.no_quota[mock_cfg.n_no_quota++] = v;
    else
        return 0;
    return 1;
}

static void mock_set_flag(const char *flag, const char *v)
{
    if (mock_set_key_flag(flag, v))
        return;
    if (!strcmp(flag, "--port"))
        mock_cfg.port = (long)mock_num(flag, v, 0, 65535, 1);
    else if (!strcmp(flag, "--port-file"))
        mock_cfg.port_file = v;
    else if (!strcmp(flag, "--latency-ms"))
        mock_cfg.latency_ms = (long)mock_num(flag, v, 0, MOCK_SLEEP_MAX_MS, 1);
    else if (!strcmp(flag, "--latency-jitter-ms"))
        mock_cfg.jitter_ms = (long)mock_num(flag, v, 0, MOCK_SLEEP_MAX_MS, 1);
    else if (!strcmp(flag, "--retry-style"))
        mock_set_style(flag, v);
    else if (!strcmp(flag, "--fail-rate"))
        mock_cfg.fail_rate = mock_num(flag, v, 0, 1, 0);
    else if (!strcmp(flag, "--overloaded-rate"))
        mock_cfg.overloaded_rate = mock_num(flag, v, 0, 1, 0);
    else if (!strcmp(flag, "--max-requests"))
        mock_cfg.max_requests = (long long)mock_num(flag, v, 0, 1e15, 1);
    else if (!strcmp(flag, "--max-prompt-tokens"))
        mock_cfg.max_prompt_tokens = (long long)mock_num(flag, v, 1, 1e12, 1);
    else if (!strcmp(flag, "--capacity"))
        mock_cfg.capacity = (long)mock_num(flag, v, 1, 100000, 1);
    else if (!strcmp(flag, "--seed")) {
        mock_cfg.seed = (unsigned long long)mock_num(flag, v, 0, 1e18, 1);
        mock_cfg.seeded = 1;
    } else if (!strcmp(flag, "--log"))
        mock_cfg.log_path = v;
    else
        mock_die_usage(flag, "is unknown");
}

static void mock_parse_args(int argc, char **argv)
{
    size_t cap = (size_t)argc;
    mock_cfg.key_rpm = calloc(cap, sizeof(*mock_cfg.key_rpm));
    mock_cfg.key_tpm = calloc(cap, sizeof(*mock_cfg.key_tpm));
    mock_cfg.deny = calloc(cap, sizeof(*mock_cfg.deny));
    mock_cfg.always_429 = calloc(cap, sizeof(char *));
    mock_cfg.daily = calloc(cap, sizeof(char *));
    mock_cfg.no_quota = calloc(cap, sizeof(char *));
    if (!mock_cfg.key_rpm || !mock_cfg.key_tpm || !mock_cfg.deny || !mock_cfg.always_429 ||
        !mock_cfg.daily || !mock_cfg.no_quota)
        mock_die_usage("arguments", "could not be stored: out of memory");
    for (int i = 1; i < argc; i++) {
        char flag[64];
        const char *a = argv[i], *eq = strchr(a, '='), *v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(mock_usage, stdout);
            exit(0);
        }
        snprintf(flag, sizeof(flag), "%.*s", (int)(eq ? eq - a : (long)strlen(a)), a);
        int kind = mock_known_flag(flag);
        if (!kind) {
            fprintf(stderr, MOCK_NAME ": unknown %s '%.60s' (see --help)\n",
                    a[0] == '-' ? "flag" : "argument", flag);
            exit(2);
        }
        if (kind == 2) {
            if (eq)
                mock_die_usage(flag, "takes no value");
            mock_cfg.no_rl_headers = 1;
            continue;
        }
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else
            mock_die_usage(flag, "needs a value");
        mock_set_flag(flag, v);
    }
}

/* Binds 127.0.0.1:port ourselves so a failure names its errno and port 0 is resolvable. */
static int mock_listen(long port, unsigned *bound)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t sl = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 512) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return -err;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    mock_parse_args(argc, argv);
    if (mock_state_init() != 0)
        return 1;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* MHD's threads inherit the mask */
    signal(SIGPIPE, SIG_IGN);
    unsigned port = 0;
    int fd = mock_listen(mock_cfg.port, &port);
    if (fd < 0) {
        fprintf(stderr, MOCK_NAME ": could not listen on 127.0.0.1:%ld: %s\n", mock_cfg.port,
                strerror(-fd));
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
        NULL, mock_handler, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
        mock_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_CONNECTION_LIMIT,
        1000u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, MOCK_NAME ": could not start the HTTP server on 127.0.0.1:%u\n", port);
        return 1;
    }
    char pbuf[16];
    int plen = snprintf(pbuf, sizeof(pbuf), "%u\n", port);
    int rc =
        mock_cfg.port_file ? util_write_file_atomic(mock_cfg.port_file, pbuf, (size_t)plen) : 0;
    if (rc != 0) {
        fprintf(stderr, MOCK_NAME ": could not write port file \"%s\": %s\n", mock_cfg.port_file,
                strerror(-rc));
        MHD_stop_daemon(d);
        return 1;
    }
    printf(MOCK_NAME " listening on 127.0.0.1:%u\n", port);
    fflush(stdout);
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    mock_state_stop();
    MHD_stop_daemon(d);
    mock_state_close();
    return 0;
}
