/*
 * uring.c - the batching io_uring writer (see uring.h).
 *
 * Appends are copied into a small table of per-fd pending buffers. A flush
 * turns every non-empty buffer into write requests: one request holding the
 * whole buffer for an ordinary fd, or a chain of linked requests of at most
 * PIPE_BUF bytes, each ending on '\n', for a UW_FD_ATOMIC_LINES fd (so every
 * write(2)-equivalent the kernel performs on a shared pipe is atomic and holds
 * whole lines). The requests are then driven in rounds, in the manner of
 * liburing's examples/io_uring-cp.c:
 *
 *   - a round prepares one SQE per unfinished request, in order, linking the
 *     SQEs of the same fd (IOSQE_IO_LINK), until the ring is full; it submits
 *     them with one io_uring_submit() and reaps every completion before the
 *     next round starts, so a fd never has two unordered writes in flight;
 *   - a completion updates its self-describing request (fd, buf, len, done):
 *     a short write leaves the remainder for the next round; -EAGAIN, -EINTR
 *     and -ECANCELED (the rest of a chain broken by a short or failed write)
 *     are retried in order; any other error is recorded on the fd and drops
 *     that fd's remaining bytes.
 *
 * Offsets are (uint64_t)-1, "the current position", which needs
 * IORING_FEAT_RW_CUR_POS. When io_uring cannot be set up (old kernel, seccomp
 * sandbox, io_uring_disabled, or AGENTOS_URING=off in the environment) the same
 * requests are written with plain write(2): slower per line, same guarantees.
 */
#include "runtime/uring.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <liburing.h>

#define UW_BATCH_LIMIT (64u * 1024u) /* pending bytes that trigger a flush */
#define UW_KEEP_CAP (256u * 1024u)   /* larger idle buffers are freed after a flush */
#define UW_MAX_REQ_LEN (1u << 30)    /* io_uring lengths are 32-bit; short writes do the rest */
#define UW_DEPTH_DEFAULT 64u
#define UW_DEPTH_MAX 4096u
#define UW_POLL_MS 1000  /* wait for a full pipe/socket to drain before retrying */
#define UW_MAX_STALLS 64 /* rounds in a row without progress or -EAGAIN => -EIO */
#define UW_CQE_BATCH 64

/* Pending bytes and sticky state of one fd. */
struct uw_fdbuf {
    int fd;
    unsigned flags;
    int err; /* first hard error on this fd; later appends are refused */
    char *buf;
    size_t len;
    size_t cap;
};

enum uw_req_state { UW_REQ_WAIT, UW_REQ_INFLIGHT, UW_REQ_DONE, UW_REQ_DROPPED };

/* One in-flight write; its address is the SQE's user_data. */
struct uw_req {
    int fd;
    const char *buf;
    size_t len;
    size_t done;
    size_t slot; /* index into uring_writer.fds */
    int state;
    int last_res;
};

struct uring_writer {
    struct io_uring ring;
    int have_ring; /* 0 = plain write(2) fallback */
    struct uw_fdbuf *fds;
    size_t nfds, capfds;
    size_t pending; /* bytes over all fds */
    struct uw_req *reqs;
    size_t nreq, capreq;
    int flush_err; /* first error of the flush in progress */
};

/* ---- fd table ---------------------------------------------------------- */

static struct uw_fdbuf *uw_find(struct uring_writer *w, int fd)
{
    for (size_t i = 0; i < w->nfds; i++)
        if (w->fds[i].fd == fd)
            return &w->fds[i];
    return NULL;
}

static struct uw_fdbuf *uw_get(struct uring_writer *w, int fd)
{
    struct uw_fdbuf *b = uw_find(w, fd);
    if (b)
        return b;
    if (w->nfds == w->capfds) {
        size_t ncap = w->capfds ? w->capfds * 2 : 8;
        struct uw_fdbuf *n = realloc(w->fds, ncap * sizeof(*n));
        if (!n)
            return NULL;
        w->fds = n;
        w->capfds = ncap;
    }
    b = &w->fds[w->nfds++];
    memset(b, 0, sizeof(*b));
    b->fd = fd;
    return b;
}

static int uw_reserve(struct uw_fdbuf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap - b->len < extra)
        ncap *= 2;
    char *n = realloc(b->buf, ncap);
    if (!n)
        return -ENOMEM;
    b->buf = n;
    b->cap = ncap;
    return 0;
}

/* ---- building requests --------------------------------------------------- */

static int uw_add_req(struct uring_writer *w, size_t slot, const char *buf, size_t len)
{
    if (w->nreq == w->capreq) {
        size_t ncap = w->capreq ? w->capreq * 2 : 64;
        struct uw_req *n = realloc(w->reqs, ncap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        w->reqs = n;
        w->capreq = ncap;
    }
    w->reqs[w->nreq++] = (struct uw_req){
        .fd = w->fds[slot].fd, .buf = buf, .len = len, .slot = slot, .state = UW_REQ_WAIT};
    return 0;
}

/* Length of the next atomic chunk: <= PIPE_BUF, ending after a '\n' when one fits. */
static size_t uw_atomic_chunk(const char *p, size_t left)
{
    if (left <= PIPE_BUF)
        return left;
    for (size_t i = PIPE_BUF; i > 0; i--)
        if (p[i - 1] == '\n')
            return i;
    return PIPE_BUF; /* a line longer than PIPE_BUF: cutting it is all we can do */
}

static int uw_build_reqs(struct uring_writer *w)
{
    w->nreq = 0;
    for (size_t s = 0; s < w->nfds; s++) {
        struct uw_fdbuf *b = &w->fds[s];
        size_t off = 0;
        while (off < b->len) {
            size_t n = b->len - off;
            if (b->flags & UW_FD_ATOMIC_LINES)
                n = uw_atomic_chunk(b->buf + off, n);
            else if (n > UW_MAX_REQ_LEN)
                n = UW_MAX_REQ_LEN;
            int rc = uw_add_req(w, s, b->buf + off, n);
            if (rc < 0)
                return rc;
            off += n;
        }
    }
    return 0;
}

/* ---- completing requests ------------------------------------------------- */

static void uw_record_error(struct uring_writer *w, size_t slot, int err)
{
    if (!w->fds[slot].err)
        w->fds[slot].err = err;
    if (!w->flush_err)
        w->flush_err = err;
}

/* Apply one write result to its request. Returns the bytes it made progress by. */
static size_t uw_complete(struct uring_writer *w, struct uw_req *r, int res)
{
    r->last_res = res;
    if (res > 0) {
        r->done += (size_t)res;
        r->state = r->done >= r->len ? UW_REQ_DONE : UW_REQ_WAIT;
        return (size_t)res;
    }
    if (res == 0 || res == -EAGAIN || res == -EINTR || res == -ECANCELED) {
        r->state = UW_REQ_WAIT;
        return 0;
    }
    r->state = UW_REQ_DROPPED;
    uw_record_error(w, r->slot, res);
    return 0;
}

/* After a round: nothing more is written to a fd that hit a hard error. */
static void uw_drop_failed(struct uring_writer *w)
{
    for (size_t i = 0; i < w->nreq; i++) {
        struct uw_req *r = &w->reqs[i];
        if (r->state == UW_REQ_WAIT && w->fds[r->slot].err)
            r->state = UW_REQ_DROPPED;
    }
}

/* Wait (bounded) until the fds that answered -EAGAIN can take data again. */
static void uw_wait_writable(struct uring_writer *w)
{
    struct pollfd pf[16];
    nfds_t n = 0;
    for (size_t i = 0; i < w->nreq && n < 16; i++) {
        struct uw_req *r = &w->reqs[i];
        if (r->state != UW_REQ_WAIT || r->last_res != -EAGAIN)
            continue;
        int seen = 0;
        for (nfds_t k = 0; k < n; k++)
            seen |= pf[k].fd == r->fd;
        if (!seen)
            pf[n++] = (struct pollfd){.fd = r->fd, .events = POLLOUT};
    }
    if (n > 0)
        (void)poll(pf, n, UW_POLL_MS);
}

static int uw_any_eagain(const struct uring_writer *w)
{
    for (size_t i = 0; i < w->nreq; i++)
        if (w->reqs[i].state == UW_REQ_WAIT && w->reqs[i].last_res == -EAGAIN)
            return 1;
    return 0;
}

/* ---- io_uring rounds ----------------------------------------------------- */

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

/* Reap `count` completions. Returns bytes of progress, or -errno if the ring broke. */
static long uw_reap(struct uring_writer *w, unsigned count, size_t *progress)
{
    struct io_uring_cqe *cqes[UW_CQE_BATCH];
    while (count > 0) {
        struct io_uring_cqe *cqe;
        int rc = io_uring_wait_cqe(&w->ring, &cqe);
        if (rc == -EINTR || rc == -EAGAIN)
            continue;
        if (rc < 0)
            return rc;
        unsigned n = io_uring_peek_batch_cqe(&w->ring, cqes, UW_CQE_BATCH);
        for (unsigned i = 0; i < n; i++) {
            struct uw_req *r = io_uring_cqe_get_data(cqes[i]);
            *progress += uw_complete(w, r, cqes[i]->res);
        }
        io_uring_cq_advance(&w->ring, n);
        count = n > count ? 0 : count - n;
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
static size_t uw_ring_round(struct uring_writer *w)
{
    size_t progress = 0;
    unsigned prepared = uw_prepare(w);
    int rc;
    do
        rc = io_uring_submit(&w->ring);
    while (rc == -EINTR);
    unsigned submitted = rc > 0 ? (unsigned)rc : 0;
    if (submitted > 0 && uw_reap(w, submitted, &progress) < 0)
        submitted = 0;
    if (submitted < prepared)
        uw_abandon_ring(w);
    return progress;
}

/* ---- write(2) fallback --------------------------------------------------- */

static size_t uw_write_round(struct uring_writer *w)
{
    size_t progress = 0;
    for (size_t i = 0; i < w->nreq; i++) {
        struct uw_req *r = &w->reqs[i];
        if (r->state != UW_REQ_WAIT)
            continue;
        /* Order per fd: skip a fd whose earlier request is still unfinished. */
        int blocked = 0;
        for (size_t k = 0; k < i && !blocked; k++)
            blocked = w->reqs[k].slot == r->slot && w->reqs[k].state == UW_REQ_WAIT;
        if (blocked)
            continue;
        while (r->state == UW_REQ_WAIT) {
            ssize_t n = write(r->fd, r->buf + r->done, r->len - r->done);
            size_t got = uw_complete(w, r, n < 0 ? -errno : (int)n);
            progress += got;
            if (n <= 0)
                break; /* retried in the next round (after a poll for -EAGAIN) */
        }
    }
    return progress;
}

/* ---- driving a flush ----------------------------------------------------- */

static int uw_unfinished(const struct uring_writer *w)
{
    for (size_t i = 0; i < w->nreq; i++)
        if (w->reqs[i].state == UW_REQ_WAIT)
            return 1;
    return 0;
}

static void uw_reset_buffers(struct uring_writer *w)
{
    for (size_t s = 0; s < w->nfds; s++) {
        struct uw_fdbuf *b = &w->fds[s];
        b->len = 0;
        if (b->cap > UW_KEEP_CAP) {
            free(b->buf);
            b->buf = NULL;
            b->cap = 0;
        }
    }
    w->pending = 0;
    w->nreq = 0;
}

static void uw_fail_unfinished(struct uring_writer *w, int err)
{
    for (size_t i = 0; i < w->nreq; i++)
        if (w->reqs[i].state == UW_REQ_WAIT) {
            w->reqs[i].state = UW_REQ_DROPPED;
            uw_record_error(w, w->reqs[i].slot, err);
        }
}

int uring_writer_flush(struct uring_writer *w)
{
    if (!w)
        return -EINVAL;
    if (w->pending == 0)
        return 0;
    w->flush_err = 0;
    int rc = uw_build_reqs(w);
    if (rc < 0) {
        uw_reset_buffers(w);
        return rc;
    }
    int stalls = 0;
    while (uw_unfinished(w)) {
        size_t progress = w->have_ring ? uw_ring_round(w) : uw_write_round(w);
        uw_drop_failed(w);
        if (uw_any_eagain(w)) {
            uw_wait_writable(w);
            stalls = 0;
        } else if (progress == 0 && ++stalls > UW_MAX_STALLS) {
            uw_fail_unfinished(w, -EIO); /* write() keeps returning 0 */
        } else if (progress > 0) {
            stalls = 0;
        }
    }
    uw_reset_buffers(w);
    return w->flush_err;
}

/* ---- public API ---------------------------------------------------------- */

static int uw_ring_wanted(void)
{
    const char *e = getenv("AGENTOS_URING");
    return !(e && (strcmp(e, "off") == 0 || strcmp(e, "0") == 0));
}

int uring_writer_open(struct uring_writer **out, unsigned depth)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct uring_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
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
    *out = w;
    return 0;
}

int uring_writer_set_fd_flags(struct uring_writer *w, int fd, unsigned flags)
{
    if (!w || fd < 0)
        return -EINVAL;
    struct uw_fdbuf *b = uw_get(w, fd);
    if (!b)
        return -ENOMEM;
    b->flags = flags;
    return 0;
}

int uring_writer_append(struct uring_writer *w, int fd, const void *buf, size_t len)
{
    if (!w || fd < 0 || (!buf && len > 0))
        return -EINVAL;
    struct uw_fdbuf *b = uw_get(w, fd);
    if (!b)
        return -ENOMEM;
    if (b->err)
        return b->err;
    if (len == 0)
        return 0;
    int rc = uw_reserve(b, len);
    if (rc < 0)
        return rc;
    memcpy(b->buf + b->len, buf, len);
    b->len += len;
    w->pending += len;
    if (w->pending > UW_BATCH_LIMIT)
        (void)uring_writer_flush(w);
    b = uw_find(w, fd);
    return b ? b->err : 0;
}

int uring_writer_fd_error(const struct uring_writer *w, int fd)
{
    if (!w || fd < 0)
        return 0;
    for (size_t i = 0; i < w->nfds; i++)
        if (w->fds[i].fd == fd)
            return w->fds[i].err;
    return 0;
}

int uring_writer_forget_fd(struct uring_writer *w, int fd)
{
    if (!w)
        return -EINVAL;
    struct uw_fdbuf *b = uw_find(w, fd);
    if (!b)
        return 0;
    int rc = b->len > 0 ? uring_writer_flush(w) : 0;
    b = uw_find(w, fd);
    int err = b->err ? b->err : rc;
    free(b->buf);
    *b = w->fds[--w->nfds]; /* order of the table does not matter */
    return err;
}

void uring_writer_close(struct uring_writer *w)
{
    if (!w)
        return;
    (void)uring_writer_flush(w);
    if (w->have_ring)
        io_uring_queue_exit(&w->ring);
    for (size_t s = 0; s < w->nfds; s++)
        free(w->fds[s].buf);
    free(w->fds);
    free(w->reqs);
    free(w);
}
