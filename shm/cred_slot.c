/*
 * cred_slot.c - one key slot in the shared segment: its configuration, its
 * process-shared robust mutex (repaired when a holder died holding it), the
 * seqlock-published copy lock-free readers see (cred_view), its state, its
 * token buckets and an in-place reload. The reservation protocol that uses
 * the slot is shm/cred.c; the invariants are stated in shm/cred.h.
 *
 * Repair: a worker killed while it holds a slot mutex leaves it to the next
 * locker with EOWNERDEAD. That locker drops the holders whose process is
 * gone, recounts in_use, settles the state and marks the mutex consistent.
 *
 * Pacing (rpm > 0) is a token bucket refilled at rpm/60 tokens a second. Its
 * capacity is one second's budget, max(1, rpm/60): a key idle for a minute
 * must not then fire a minute's worth of requests at once, because such a
 * burst is exactly what provokes 429s from providers that enforce their
 * per-minute limit over short windows. It starts full. A key configured
 * without rpm is paced by learned_rpm once a reply's rate-limit headers
 * announced its limit (cred_end); until then it is unpaced.
 */
#include "shm/cred.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "shm/cred_private.h"
#include "shm/seqlock.h"
#include "shm/util.h"

int cred_mutex_init(struct cred_slot_sh *slot)
{
    pthread_mutexattr_t a;
    int rc;

    rc = pthread_mutexattr_init(&a);
    if (rc)
        return -rc;
    rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (!rc)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (!rc)
        rc = pthread_mutex_init(&slot->mu, &a);
    pthread_mutexattr_destroy(&a);
    return -rc;
}

#define CRED_PUB_WORDS (sizeof(((struct cred_slot_sh *)0)->pub) / sizeof(uint64_t))

/* Copy the guarded state to the lock-free readers' side (mutex held, or before any sharing). */
static void cred_publish_locked(struct cred_slot_sh *slot)
{
    seqlock_write(&slot->pub_seq, slot->pub, CRED_PUB_WORDS, &slot->st, sizeof(slot->st), NULL);
}

double cred_capacity(uint32_t rpm)
{
    double c = rpm / 60.0;

    return c < 1.0 ? 1.0 : c;
}

/* The pace the key keeps: its configured rpm, else what its provider announced. */
uint32_t cred_rpm(const struct cred_slot_sh *slot)
{
    return slot->st.rpm ? slot->st.rpm : slot->st.learned_rpm;
}

/* The token budget the key keeps, the same way. */
uint32_t cred_tpm(const struct cred_slot_sh *slot)
{
    return slot->st.tpm ? slot->st.tpm : slot->st.learned_tpm;
}

int64_t cred_max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static void cred_apply_config(struct cred_slot_sh *slot, const struct cred_init *ci)
{
    uint32_t conc = ci->concurrency ? ci->concurrency : 1;

    slot->st.roles = ci->roles ? ci->roles : CRED_ROLE_ALL;
    slot->st.concurrency = conc > SHM_KEY_HOLDERS_MAX ? SHM_KEY_HOLDERS_MAX : conc;
    slot->st.rpm = ci->rpm;
    slot->st.tpm = ci->tpm;
    slot->st.endpoint = ci->endpoint;
    util_strlcpy(slot->st.id, ci->id ? ci->id : "", sizeof(slot->st.id));
    util_strlcpy(slot->st.provider, ci->provider ? ci->provider : "", sizeof(slot->st.provider));
    util_strlcpy(slot->st.model, ci->model ? ci->model : "", sizeof(slot->st.model));
}

int cred_slot_init(struct cred_slot_sh *slot, const struct cred_init *ci)
{
    memset(slot, 0, sizeof(*slot));
    cred_apply_config(slot, ci);
    slot->st.state = CRED_AVAILABLE;
    slot->st.tokens = cred_capacity(slot->st.rpm);
    slot->st.tokens_updated_ns = 0; /* the first reservation starts the clock */
    slot->st.tpm_tokens = slot->st.tpm;
    cred_publish_locked(slot);
    return cred_mutex_init(slot);
}

int cred_pid_gone(int32_t pid)
{
    return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

/*
 * The state that follows from the counters. Disabled and rate-limited are
 * sticky here: only a reload clears the first, and cred_reserve clears the
 * second once its time has passed (it is the one that knows "now").
 */
void cred_settle_locked(struct cred_slot_sh *slot)
{
    if (slot->st.state == CRED_DISABLED || slot->st.state == CRED_RATE_LIMITED)
        return;
    slot->st.state = slot->st.in_use >= slot->st.concurrency ? CRED_RESERVED : CRED_AVAILABLE;
}

void cred_recount_locked(struct cred_slot_sh *slot)
{
    uint32_t n = 0;

    for (int i = 0; i < SHM_KEY_HOLDERS_MAX; i++)
        n += slot->st.holders[i] != 0;
    slot->st.in_use = n;
    cred_settle_locked(slot);
}

/* The previous owner died holding the mutex: make the slot true again. */
static void cred_repair_locked(struct cred_slot_sh *slot)
{
    double cap = cred_capacity(cred_rpm(slot));

    for (int i = 0; i < SHM_KEY_HOLDERS_MAX; i++)
        if (slot->st.holders[i] != 0 && cred_pid_gone(slot->st.holders[i]))
            slot->st.holders[i] = 0;
    if (slot->st.concurrency > SHM_KEY_HOLDERS_MAX)
        slot->st.concurrency = SHM_KEY_HOLDERS_MAX;
    if (slot->st.state > CRED_DISABLED)
        slot->st.state = CRED_AVAILABLE;
    if (!(slot->st.tokens >= 0.0)) /* also catches NaN */
        slot->st.tokens = 0.0;
    if (slot->st.tokens > cap)
        slot->st.tokens = cap;
    if (!(slot->st.tpm_tokens <= (double)cred_tpm(slot))) /* also catches NaN */
        slot->st.tpm_tokens = cred_tpm(slot);
    cred_recount_locked(slot);
}

/* A lock attempt's result: repair after a dead owner; 0 or -errno. */
static int cred_lock_result(struct cred_slot_sh *slot, int rc)
{
    if (rc == EOWNERDEAD) {
        cred_repair_locked(slot);
        rc = pthread_mutex_consistent(&slot->mu);
        if (rc) {
            pthread_mutex_unlock(&slot->mu);
            return -rc;
        }
        return 0;
    }
    return -rc;
}

int cred_lock(struct cred_slot_sh *slot)
{
    return cred_lock_result(slot, pthread_mutex_lock(&slot->mu));
}

int cred_lock_within(struct cred_slot_sh *slot, int64_t wait_ns)
{
    /*
     * A free mutex, or one whose owner died (EOWNERDEAD), is taken at once by
     * trylock; only a held one is waited for. (Also: ThreadSanitizer's
     * timedlock does not record an EOWNERDEAD acquisition, its trylock does.)
     */
    int rc = pthread_mutex_trylock(&slot->mu);
    if (rc != EBUSY)
        return cred_lock_result(slot, rc);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + (wait_ns > 0 ? wait_ns : 0);
    until.tv_sec += ns / UTIL_NS_PER_SEC;
    until.tv_nsec = ns % UTIL_NS_PER_SEC;
    return cred_lock_result(slot, pthread_mutex_timedlock(&slot->mu, &until));
}

void cred_unlock(struct cred_slot_sh *slot)
{
    cred_publish_locked(slot);
    pthread_mutex_unlock(&slot->mu);
}

int cred_view(const struct cred_slot_sh *slot, struct cred_pub *out)
{
    return seqlock_read(&slot->pub_seq, slot->pub, CRED_PUB_WORDS, out, sizeof(*out));
}

const char *cred_state_name(uint32_t state)
{
    static const char *const names[] = {
        [CRED_AVAILABLE] = "available",
        [CRED_RESERVED] = "reserved",
        [CRED_RATE_LIMITED] = "rate_limited",
        [CRED_DISABLED] = "disabled",
    };

    if (state >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[state];
}

/* Refill a bucket at per_min/60 a second up to cap since *updated (0: start the clock). */
static void cred_refill(double *tokens, int64_t *updated, uint32_t per_min, double cap,
                        int64_t now_ns)
{
    if (per_min == 0)
        return;
    if (*updated == 0 || now_ns < *updated) {
        *updated = now_ns;
        return;
    }
    *tokens += (double)(now_ns - *updated) / 1e9 * per_min / 60.0;
    if (*tokens > cap)
        *tokens = cap;
    *updated = now_ns;
}

void cred_refill_locked(struct cred_slot_sh *slot, int64_t now_ns)
{
    cred_refill(&slot->st.tokens, &slot->st.tokens_updated_ns, cred_rpm(slot),
                cred_capacity(cred_rpm(slot)), now_ns);
    cred_refill(&slot->st.tpm_tokens, &slot->st.tpm_updated_ns, cred_tpm(slot), cred_tpm(slot),
                now_ns);
}

int cred_slot_reload(struct cred_slot_sh *slot, const struct cred_init *ci, int64_t wait_ns)
{
    uint32_t old_rpm, old_tpm;
    double cap;
    int rc = cred_lock_within(slot, wait_ns);

    if (rc < 0)
        return rc;
    old_rpm = cred_rpm(slot);
    old_tpm = cred_tpm(slot);
    cred_apply_config(slot, ci);
    cap = cred_capacity(cred_rpm(slot));
    if (old_rpm == 0 || slot->st.tokens > cap)
        slot->st.tokens = cap;
    if (old_rpm == 0)
        slot->st.tokens_updated_ns = 0;
    if (old_tpm == 0 || slot->st.tpm_tokens > cred_tpm(slot))
        slot->st.tpm_tokens = cred_tpm(slot);
    slot->st.rate_limited_until_ns = 0;
    slot->st.rate_limited_until_realtime_ns = 0;
    slot->st.backoff_exp = 0;
    memset(slot->st.disabled_reason, 0, sizeof(slot->st.disabled_reason));
    slot->st.state = CRED_AVAILABLE;
    cred_settle_locked(slot);
    cred_unlock(slot);
    return 0;
}
