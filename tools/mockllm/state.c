/*
 * state.c - the shared state of agentos-mockllm and the helpers that touch it.
 *
 * Holds mock_cfg (written by the flag parser before the daemon starts) and mock_st
 * (everything that changes while requests run, behind mock_st.mu): its setup and
 * shutdown, the seeded random numbers behind latency jitter and --fail-rate, the
 * registry of keys seen, the key lookups of the per-key flags, and the latency
 * sleeps. A sleep waits on mock_st.stop_cv (and a --capacity queue on slot_cv),
 * so SIGINT/SIGTERM end every sleeping or waiting request at once instead of after
 * its full latency.
 */
#include "tools/mockllm/mockllm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/util.h"

struct mock_cfg mock_cfg = {.max_requests = -1};
struct mock_state mock_st = {.mu = PTHREAD_MUTEX_INITIALIZER, .log_fd = -1};

int mock_state_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mock_st.stop_cv, &ca);
    pthread_cond_init(&mock_st.slot_cv, &ca);
    pthread_condattr_destroy(&ca);
    mock_st.rng =
        mock_cfg.seeded ? mock_cfg.seed : (uint64_t)util_now_real_ns() ^ ((uint64_t)getpid() << 32);
    if (mock_cfg.log_path) {
        mock_st.log_fd = open(mock_cfg.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (mock_st.log_fd < 0) {
            int err = errno;
            fprintf(stderr, MOCK_NAME ": could not open log \"%s\": %s\n", mock_cfg.log_path,
                    strerror(err));
            return -err;
        }
    }
    return 0;
}

void mock_state_stop(void)
{
    pthread_mutex_lock(&mock_st.mu);
    mock_st.stopping = 1;
    pthread_cond_broadcast(&mock_st.stop_cv);
    pthread_cond_broadcast(&mock_st.slot_cv);
    pthread_mutex_unlock(&mock_st.mu);
}

void mock_state_close(void)
{
    if (mock_st.log_fd >= 0)
        close(mock_st.log_fd);
    mock_st.log_fd = -1;
}
uint64_t mock_rand_locked(void)
{
    uint64_t z = (mock_st.rng += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double mock_rand01_locked(void)
{
    return (double)(mock_rand_locked() >> 11) / 9007199254740992.0;
}

int mock_list_has(const char **list, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], key) == 0)
            return 1;
    return 0;
}

const struct mock_kv *mock_kv_find(const struct mock_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return &kv[i];
    return NULL;
}

void mock_key_id(const char *key, char out[32])
{
    size_t n = strlen(key), show = n > 12 ? 6 : n / 2;
    for (size_t i = 0; i < show; i++)
        out[i] = (key[i] > 0x20 && key[i] < 0x7f) ? key[i] : '?';
    strcpy(out + show, "\xe2\x80\xa6");
}

struct mock_key *mock_key_get_locked(const char *key)
{
    for (struct mock_key *k = mock_st.keys; k; k = k->next)
        if (strcmp(k->key, key) == 0)
            return k;
    struct mock_key *k = calloc(1, sizeof(*k));
    if (!k || !(k->key = strdup(key))) {
        free(k);
        return NULL;
    }
    k->next = mock_st.keys;
    mock_st.keys = k;
    return k;
}

struct timespec mock_deadline(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t end = (int64_t)ts.tv_sec * UTIL_NS_PER_SEC + ts.tv_nsec + ms * UTIL_NS_PER_MS;
    ts.tv_sec = end / UTIL_NS_PER_SEC;
    ts.tv_nsec = end % UTIL_NS_PER_SEC;
    return ts;
}

/* Sleeps ms milliseconds without holding the lock; returns early at shutdown. */
static void mock_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = mock_deadline(ms);
    pthread_mutex_lock(&mock_st.mu);
    while (!mock_st.stopping &&
           pthread_cond_timedwait(&mock_st.stop_cv, &mock_st.mu, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&mock_st.mu);
}

int mock_hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/*
 * Sleep ms like mock_sleep_ms, in short slices, watching the client's socket:
 * returns 1 as soon as the client hung up (a worker abandoned the request on
 * shutdown or died), so its reply is not counted as delivered.
 */
int mock_sleep_watch(long ms, int fd)
{
    while (ms > 0) {
        long slice = ms < 20 ? ms : 20;
        mock_sleep_ms(slice);
        ms -= slice;
        if (mock_hung_up(fd))
            return 1;
        pthread_mutex_lock(&mock_st.mu);
        int stopping = mock_st.stopping;
        pthread_mutex_unlock(&mock_st.mu);
        if (stopping)
            return 0;
    }
    return 0;
}
