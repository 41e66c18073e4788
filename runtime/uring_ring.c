/*
 * uring_ring.c - the io_uring half of the batching writer (uring.c): setting
 * the ring up, driving a flush's requests through it in rounds, giving it up.
 *
 * The requests are driven in rounds, in the manner of liburing's
 * examples/io_uring-cp.c: a round prepares one SQE per unfinished request, in
 * order, linking the SQEs of the same fd (IOSQE_IO_LINK), until the ring is
 * full; it submits them with one io_uring_submit() and reaps every completion
 * before the next round starts, so a fd never has two unordered writes in
 * flight. Each completion goes to uw_complete() (uring.c), as a write(2)
 * result does.
 *
 * A bounded flush waits for completions only until its deadline, then cancels
 * what is still in flight (IORING_OP_ASYNC_CANCEL interrupts a write blocked
 * on a stopped terminal or a full pipe) and reaps the cancelled requests;
 * uring.c keeps their unwritten bytes pending for the next flush.
 *
 * Offsets are (uint64_t)-1, "the current position", which needs
 * IORING_FEAT_RW_CUR_POS; a ring without it is not used. The writer also
 * drops to write(2), for good, when a ring that was set up cannot do the
 * writes: when io_uring cannot start the worker threads a write needs (a low
 * RLIMIT_NPROC, a pids cgroup) the writes come back -ECANCELED unasked, or
 * never complete on fds that are writable; UW_RING_STALLS such rounds, or a
 * slice with writable fds and nothing done, end the ring. No wait on the ring
 * is unbounded: it is waited on in slices, each a heartbeat
 * (shm/heartbeat.h), so a worker behind a slow reader is seen to be alive.
 */
#include "runtime/uring_private.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "shm/heartbeat.h"

#define UW_DEPTH_DEFAULT 64u
#define UW_DEPTH_MAX 4096u
#define UW_RING_STALLS 3   /* ring rounds in a row that wrote nothing for no reason => write(2) */
#define UW_CANCEL_ROUNDS 5 /* cancels in a row the ring leaves unanswered => write(2) */
#define UW_CQE_BATCH 64

/* ---- setting up ---------------------------------------------------------- */

static int uw_ring_wanted(void)
{
    const char *e = getenv("AGENTOS_URING");
    return !(e && (strcmp(e, "off") == 0 || strcmp(e, "0") == 0));
}

void uw_ring_setup(struct uring_writer *w, unsigned depth)
{
    if (depth == 0)
        depth = UW_DEPTH_DEFAULT;
    if (depth > UW_DEPTH_MAX)
        depth = UW_DEPTH_MAX;
    if (uw_ring_wanted()) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        /* Any failure (-ENOSYS, -EPERM, -ENOMEM under a memlock limit) => write(2). */
        if (io_uring_queue_init_params(depth, &w->ring, &p) == 0) {
            w->have_ring = 1;
            if (!(p.features & IORING_FEAT_RW_CUR_POS)) {
                io_uring_queue_exit(&w->ring);
                w->have_ring = 0;
            }
        }
    }
}

/* ---- rounds -------------------------------------------------------------- */

/*
 * 1 when every fd with a write in flight could take data now: a write that
 * has not completed then waits for the ring, not for its reader.
 */
static int uw_inflight_writable(const struct uring_writer *w)
{
    int any = 0;
    for (size_t i = 0; i < w->nreq; i++) {
        const struct uw_req *r = &w->reqs[i];
        if (r->state != UW_REQ_INFLIGHT)
            continue;
        any = 1;
        if (!uw_poll_out(r->fd, 0))
            return 0;
    }
    return any;
}

/* Prepare one SQE per waiting request, in order, linking runs of the same fd. */
static unsigned uw_prepare(struct uring_writer *w)
{
    struct io_uring_sqe *prev = NULL;
    size_t prev_slot = SIZE_MAX;
    unsigned prepared = 0;
    for (size_t i = 0; i < w->nreq; i++) {
        struct uw_req *r = &w->reqs[i];
        if (r->state != UW_REQ_WAIT)
            continue;
        struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
        if (!sqe)
            break; /* ring full: the rest waits until this round is reaped */
        io_uring_prep_write(sqe, r->fd, r->buf + r->done, (unsigned)(r->len - r->done),
                            (uint64_t)-1);
        io_uring_sqe_set_data(sqe, r);
        if (prev && prev_slot == r->slot)
            prev->flags |= IOSQE_IO_LINK;
        prev = sqe;
        prev_slot = r->slot;
        r->state = UW_REQ_INFLIGHT;
        prepared++;
    }
    return prepared;
}

/*
 * Ask the kernel to cancel every request still in flight. A write blocked in
 * an io-wq worker (a stopped terminal, a full pipe) is interrupted and
 * completes with what it wrote, or -EINTR/-ECANCELED. The cancel requests'
 * own completions carry no request (user_data 0) and are skipped.
 */
static int uw_cancel_inflight(struct uring_writer *w)
{
    for (size_t i = 0; i < w->nreq; i++) {
        struct uw_req *r = &w->reqs[i];
        if (r->state != UW_REQ_INFLIGHT)
            continue;
        struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
        if (!sqe) {
            (void)io_uring_submit(&w->ring);
            sqe = io_uring_get_sqe(&w->ring);
            if (!sqe)
                return -EBUSY;
        }
        io_uring_prep_cancel(sqe, r, 0);
        io_uring_sqe_set_data(sqe, NULL);
    }
    int rc;
    do
        rc = io_uring_submit(&w->ring);
    while (rc == -EINTR);
    return rc < 0 ? rc : 0;
}

/* Wait for a completion, until `deadline` (< 0: for ever). 0, -ETIME or -errno. */
static int uw_wait_until(struct uring_writer *w, int64_t deadline, struct io_uring_cqe **cqe)
{
    /* A completion already there costs no system call (a wait with a timeout would). */
    if (io_uring_peek_cqe(&w->ring, cqe) == 0 && *cqe)
        return 0;
    if (deadline < 0)
        return io_uring_wait_cqe(&w->ring, cqe);
    int64_t left = deadline - uw_now();
    if (left < 0)
        left = 0;
    struct __kernel_timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
    return io_uring_wait_cqe_timeout(&w->ring, cqe, &ts);
}

/*
 * Reap `count` write completions. No wait is unbounded: the ring is waited
 * on in slices of UW_POLL_MS (each a heartbeat, shm/heartbeat.h). Past the
 * flush's deadline, what is still in flight is cancelled (again every slice
 * should the kernel be slow to answer), so a bounded flush returns soon
 * after its deadline. Without a deadline, a slice that ends with every
 * in-flight fd writable means the ring is not doing the writes (its io-wq
 * workers cannot start: RLIMIT_NPROC, a pids cgroup): they are cancelled and
 * the round marks the ring stuck. A ring that answers no cancel for
 * UW_CANCEL_ROUNDS slices is given up (-ETIME). Returns 0, or -errno if the
 * ring broke.
 */
static long uw_reap(struct uring_writer *w, unsigned count, size_t *progress)
{
    struct io_uring_cqe *cqes[UW_CQE_BATCH];
    int64_t deadline = w->deadline;
    int unanswered = 0;
    while (count > 0) {
        struct io_uring_cqe *cqe;
        int64_t slice = uw_now() + (int64_t)UW_POLL_MS * 1000000;
        int bounded = deadline >= 0 && deadline <= slice;
        int rc = uw_wait_until(w, bounded ? deadline : slice, &cqe);
        heartbeat();
        if (rc == -ETIME) {
            if (w->cancelled && ++unanswered > UW_CANCEL_ROUNDS)
                return -ETIME;
            if (!bounded && !w->cancelled && !uw_inflight_writable(w))
                continue; /* a reader that does not read: wait on, beating */
            if (!bounded && !w->cancelled)
                w->ring_stuck = 1;
            rc = uw_cancel_inflight(w);
            if (rc < 0)
                return rc;
            w->cancelled = 1;
            deadline = uw_now() + (int64_t)UW_POLL_MS * 1000000;
            continue;
        }
        if (rc == -EINTR || rc == -EAGAIN)
            continue;
        if (rc < 0)
            return rc;
        unanswered = 0;
        unsigned n = io_uring_peek_batch_cqe(&w->ring, cqes, UW_CQE_BATCH);
        for (unsigned i = 0; i < n; i++) {
            struct uw_req *r = io_uring_cqe_get_data(cqes[i]);
            if (!r)
                continue; /* a cancel request's own completion */
            *progress += uw_complete(w, r, cqes[i]->res);
            if (count > 0)
                count--;
        }
        io_uring_cq_advance(&w->ring, n);
    }
    return 0;
}

/*
 * Give up on io_uring for good (submit or wait failed in a way retrying will
 * not fix). Requests the kernel never took go back to WAIT for write(2).
 */
static void uw_abandon_ring(struct uring_writer *w)
{
    io_uring_queue_exit(&w->ring);
    w->have_ring = 0;
    for (size_t i = 0; i < w->nreq; i++)
        if (w->reqs[i].state == UW_REQ_INFLIGHT)
            w->reqs[i].state = UW_REQ_WAIT;
}

/*
 * One round: prepare, submit everything with one io_uring_submit(), reap
 * everything. If the kernel takes only part of the SQ (it does so only under
 * resource trouble), the untaken SQEs cannot be withdrawn and submitting them
 * later could reorder a fd's bytes, so the writer drops to write(2).
 */
size_t uw_ring_round(struct uring_writer *w)
{
    size_t progress = 0;
    w->cancelled = w->ring_stuck = 0;
    unsigned prepared = uw_prepare(w);
    int rc;
    do
        rc = io_uring_submit(&w->ring);
    while (rc == -EINTR);
    unsigned submitted = rc > 0 ? (unsigned)rc : 0;
    if (submitted > 0 && uw_reap(w, submitted, &progress) < 0)
        submitted = 0;
    if (submitted < prepared || w->ring_stuck) {
        uw_abandon_ring(w);
        return progress;
    }
    /*
     * Nothing written, nothing to wait for, nothing we cancelled: the writes
     * came back -ECANCELED by themselves, as they do when io_uring cannot
     * start a worker thread for them. Retrying the ring would spin until the
     * flush gives up with -EIO; write(2) needs no thread.
     */
    if (progress > 0 || w->cancelled || uw_any_eagain(w))
        w->ring_stalls = 0;
    else if (++w->ring_stalls >= UW_RING_STALLS)
        uw_abandon_ring(w);
    return progress;
}
