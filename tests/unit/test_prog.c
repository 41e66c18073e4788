/*
 * test_prog.c - unit tests of the progress-table seqlock and claim word.
 *
 * The torn-read tests make every field of a payload a function of one
 * counter, so a reader that ever mixes two writes sees fields that disagree.
 * One writer is a real fork()ed process on a MAP_SHARED mapping (what the
 * runtime does); another is a thread, so a TSan build can check the protocol
 * for data races. The claim test races three processes over 1000 slots.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/util.h"
#include "shm/prog.h"

#define HAMMER_NS (1500 * UTIL_NS_PER_MS)
#define THREAD_HAMMER_NS (300 * UTIL_NS_PER_MS)
#define CLAIM_SLOTS 1000
#define CLAIMERS 3

/* Every field derived from n; any mix of two writes disagrees somewhere. */
static void fill_item(struct prog_item *it, uint32_t n)
{
    char num[16];
    size_t len;

    memset(it, 0, sizeof(*it));
    it->state = n % 7;
    it->attempts = n;
    it->worker_pid = (int32_t)(n ^ 0x5a5a5a5au);
    it->rounds = n * 3u;
    it->requests = ~n;
    it->http_429 = n + 7u;
    it->started_ns = (int64_t)n;
    it->updated_ns = (int64_t)n * 1000;
    it->finished_ns = -(int64_t)n;
    len = (size_t)snprintf(num, sizeof(num), "%u", n);
    for (size_t i = 0; i + 1 < sizeof(it->id); i++)
        it->id[i] = num[i % len];
    snprintf(it->node, sizeof(it->node), "node-%u", n);
    for (size_t i = 0; i + 1 < sizeof(it->reason); i++)
        it->reason[i] = (char)('a' + (n + i) % 26);
}

/* n if the item is one whole write, else -1. */
static int64_t check_item(const struct prog_item *it)
{
    struct prog_item want;

    fill_item(&want, it->attempts);
    return memcmp(&want, it, sizeof(want)) == 0 ? (int64_t)it->attempts : -1;
}

static struct prog_slot_sh *map_slots(size_t n)
{
    void *p = mmap(NULL, n * sizeof(struct prog_slot_sh), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    assert_true(p != MAP_FAILED);
    return p;
}

static void test_round_trip(void **state)
{
    struct prog_slot_sh *slot = map_slots(1);
    struct prog_item in, out;

    (void)state;
    memset(&out, 0xff, sizeof(out));
    assert_int_equal(prog_read(slot, &out), 0); /* a zeroed slot reads as zeros */
    assert_int_equal(out.state, PROG_PENDING);
    assert_int_equal(out.id[0], '\0');

    fill_item(&in, 42);
    prog_write(slot, &in);
    assert_int_equal(atomic_load(&slot->seq), 2);
    assert_int_equal(prog_read(slot, &out), 0);
    assert_memory_equal(&in, &out, sizeof(in));

    fill_item(&in, 43);
    prog_write(slot, &in);
    assert_int_equal(atomic_load(&slot->seq), 4);
    assert_int_equal(prog_read(slot, &out), 0);
    assert_int_equal(check_item(&out), 43);
    munmap(slot, sizeof(*slot));
}

/* A reader on a PROT_READ view of the same memory (what the inspector has). */
static void test_read_only_mapping(void **state)
{
    int fd = memfd_create("prog-test", 0);
    struct prog_slot_sh *rw;
    const struct prog_slot_sh *ro;
    struct prog_item in, out;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, sizeof(struct prog_slot_sh)), 0);
    rw = mmap(NULL, sizeof(*rw), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ro = mmap(NULL, sizeof(*ro), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(rw != MAP_FAILED && ro != MAP_FAILED);
    fill_item(&in, 77);
    prog_write(rw, &in);
    assert_int_equal(prog_read(ro, &out), 0);
    assert_int_equal(check_item(&out), 77);
    munmap(rw, sizeof(*rw));
    munmap((void *)ro, sizeof(*ro));
}

/* A writer killed mid-write (odd seq) makes the reader give up, not spin. */
static void test_read_gives_up(void **state)
{
    struct prog_slot_sh *slot = map_slots(1);
    struct prog_item in, out;
    int64_t t0 = util_now_mono_ns();

    (void)state;
    atomic_store(&slot->seq, 7);
    assert_int_equal(prog_read(slot, &out), -EAGAIN);
    assert_true(util_now_mono_ns() - t0 < 2 * UTIL_NS_PER_SEC);
    /* the writer died mid-write; the next writer (coordinator) heals the slot */
    fill_item(&in, 5);
    prog_write(slot, &in);
    assert_int_equal(atomic_load(&slot->seq) % 2, 0);
    assert_int_equal(prog_read(slot, &out), 0);
    assert_int_equal(check_item(&out), 5);
    munmap(slot, sizeof(*slot));
}

struct hammer_stats {
    long reads, distinct, busy;
    int64_t last;
};

static void read_and_check(const struct prog_slot_sh *slot, struct hammer_stats *st)
{
    struct prog_item out;
    int64_t n;

    if (prog_read(slot, &out) < 0) {
        st->busy++;
        return;
    }
    n = check_item(&out);
    if (n < 0)
        fail_msg("torn read: attempts=%u rounds=%u started=%lld node=%s", out.attempts, out.rounds,
                 (long long)out.started_ns, out.node);
    if (n < st->last)
        fail_msg("went backwards: %lld after %lld", (long long)n, (long long)st->last);
    if (n > st->last)
        st->distinct++;
    st->last = n;
    st->reads++;
}

/* The writer runs for `ns` and then publishes its final counter in *done. */
static void hammer_write(struct prog_slot_sh *slot, _Atomic uint32_t *done, int64_t ns)
{
    int64_t end = util_now_mono_ns() + ns;
    struct prog_item it;
    uint32_t n = 1;

    while (util_now_mono_ns() < end) {
        fill_item(&it, n);
        prog_write(slot, &it);
        n++;
    }
    atomic_store(done, n - 1);
}

static void test_fork_writer_never_torn(void **state)
{
    struct prog_slot_sh *slots = map_slots(2); /* slot 1's first word: done flag */
    _Atomic uint32_t *done = (_Atomic uint32_t *)&slots[1];
    struct hammer_stats st = {0};
    struct prog_item init;
    int status;
    pid_t pid;

    (void)state;
    fill_item(&init, 0);
    prog_write(&slots[0], &init);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        hammer_write(&slots[0], done, HAMMER_NS);
        _exit(0);
    }
    while (atomic_load(done) == 0)
        read_and_check(&slots[0], &st);
    read_and_check(&slots[0], &st);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(st.last, (int64_t)atomic_load(done)); /* the final write is seen */
    print_message("fork writer: %u writes, %ld reads, %ld distinct, %ld gave up\n",
                  atomic_load(done), st.reads, st.distinct, st.busy);
    assert_true(st.reads > 1000);
    assert_true(st.distinct > 100);
    munmap(slots, 2 * sizeof(*slots));
}

struct thread_arg {
    struct prog_slot_sh *slot;
    _Atomic uint32_t done;
};

static void *writer_thread(void *p)
{
    struct thread_arg *a = p;

    hammer_write(a->slot, &a->done, THREAD_HAMMER_NS);
    return NULL;
}

/* Same check with a writer thread: visible to TSan, which sees one process. */
static void test_thread_writer_never_torn(void **state)
{
    struct thread_arg a = {.slot = map_slots(1)};
    struct hammer_stats st = {0};
    struct prog_item init;
    pthread_t t;

    (void)state;
    atomic_init(&a.done, 0);
    fill_item(&init, 0);
    prog_write(a.slot, &init);
    assert_int_equal(pthread_create(&t, NULL, writer_thread, &a), 0);
    while (atomic_load(&a.done) == 0)
        read_and_check(a.slot, &st);
    assert_int_equal(pthread_join(t, NULL), 0);
    read_and_check(a.slot, &st);
    assert_int_equal(st.last, (int64_t)atomic_load(&a.done));
    assert_true(st.reads > 0);
    munmap(a.slot, sizeof(*a.slot));
}

static void claim_sweep(struct prog_slot_sh *slots, uint8_t *mine, _Atomic uint32_t *go)
{
    int32_t me = (int32_t)getpid();

    /* Start together: each claimer checks in and waits for all the others. */
    atomic_fetch_add(go, 1);
    while (atomic_load(go) < CLAIMERS)
        ;
    for (int i = 0; i < CLAIM_SLOTS; i++)
        if (prog_claim(&slots[i], me))
            mine[i] = 1;
}

/* Three processes race over the same slots: each slot is taken exactly once. */
static void test_claim_race(void **state)
{
    size_t table = CLAIM_SLOTS * sizeof(struct prog_slot_sh);
    struct prog_slot_sh *slots = map_slots(CLAIM_SLOTS);
    uint8_t *mine = mmap(NULL, CLAIMERS * CLAIM_SLOTS + 64, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    _Atomic uint32_t *go = (_Atomic uint32_t *)(mine + CLAIMERS * CLAIM_SLOTS);
    pid_t pids[CLAIMERS - 1];
    int per[CLAIMERS] = {0};

    (void)state;
    assert_true(mine != MAP_FAILED);
    for (int c = 0; c < CLAIMERS - 1; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            claim_sweep(slots, mine + (size_t)(c + 1) * CLAIM_SLOTS, go);
            _exit(0);
        }
    }
    claim_sweep(slots, mine, go);
    for (int c = 0; c < CLAIMERS - 1; c++) {
        int status;
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status));
    }
    for (int i = 0; i < CLAIM_SLOTS; i++) {
        int owners = 0, owner = -1;
        for (int c = 0; c < CLAIMERS; c++)
            if (mine[c * CLAIM_SLOTS + i]) {
                owners++;
                owner = c;
            }
        assert_int_equal(owners, 1);
        per[owner]++;
        assert_int_equal(prog_claim_state(prog_claim_load(&slots[i])), PROG_CLAIM_TAKEN);
        assert_int_equal(prog_claim_pid(prog_claim_load(&slots[i])),
                         owner == 0 ? getpid() : pids[owner - 1]);
    }
    print_message("claims per process: %d %d %d\n", per[0], per[1], per[2]);
    munmap(slots, table);
    munmap(mine, CLAIMERS * CLAIM_SLOTS + 64);
}

static void test_claim_states(void **state)
{
    struct prog_slot_sh *slot = map_slots(1);

    (void)state;
    assert_int_equal(prog_claim(slot, 100), 1);
    assert_int_equal(prog_claim_pid(prog_claim_load(slot)), 100);
    assert_int_equal(prog_claim(slot, 101), 0);
    prog_set_claim(slot, PROG_CLAIM_FREE, 0); /* coordinator requeues */
    assert_int_equal(prog_claim(slot, 102), 1);
    assert_int_equal(prog_claim_pid(prog_claim_load(slot)), 102);
    prog_set_claim(slot, PROG_CLAIM_DONE, 102);
    assert_int_equal(prog_claim(slot, 103), 0);
    prog_set_claim(slot, PROG_CLAIM_SKIP, 0);
    assert_int_equal(prog_claim(slot, 104), 0);
    assert_int_equal(prog_claim_state(prog_claim_load(slot)), PROG_CLAIM_SKIP);
    munmap(slot, sizeof(*slot));
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(prog_state_name(PROG_PENDING), "pending");
    assert_string_equal(prog_state_name(PROG_RUNNING), "running");
    assert_string_equal(prog_state_name(PROG_WAITING_KEY), "waiting-key");
    assert_string_equal(prog_state_name(PROG_APPROVED), "approved");
    assert_string_equal(prog_state_name(PROG_NEEDS_REVISION), "needs-revision");
    assert_string_equal(prog_state_name(PROG_FAILED), "failed");
    assert_string_equal(prog_state_name(PROG_INTERRUPTED), "interrupted");
    assert_string_equal(prog_state_name(99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_read_only_mapping),
        cmocka_unit_test(test_read_gives_up),
        cmocka_unit_test(test_fork_writer_never_torn),
        cmocka_unit_test(test_thread_writer_never_torn),
        cmocka_unit_test(test_claim_race),
        cmocka_unit_test(test_claim_states),
        cmocka_unit_test(test_state_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
