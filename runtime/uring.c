/*
 * uring.c - the batching io_uring writer (see uring.h): per-fd buffers, the
 * requests built from them, flushes, and the write(2) fallback.
 *
 * Appends are copied into a small table of per-fd pending buffers. A flush
 * turns every non-empty buffer into write requests: one request holding the
 * whole buffer for an ordinary fd, or a chain of linked requests of at most
 * PIPE_BUF bytes, each ending on '\n', for a UW_FD_ATOMIC_LINES fd (so every
 * write(2)-equivalent the kernel performs on a shared pipe is atomic and holds
 * whole lines). The requests are then driven in rounds, through io_uring
 * (uring_ring.c) or with write(2) (here), until none is left waiting. A
 * completion updates its self-describing request (fd, buf, len, done): a
 * short write leaves the remainder for the next round; -EAGAIN, -EINTR and
 * -ECANCELED (the rest of a chain broken by a short or failed write) are
 * retried in order; any other error is recorded on the fd and drops that
 * fd's remaining bytes.
 *
 * A writer can be given a time budget (uring_writer_set_budget: the coordinator
 * does, for the terminal it must never hang on). A bounded flush waits only
 * until its deadline (the ring then cancels what it has in flight), and keeps
 * the unwritten bytes of every fd pending, in order, for the next flush. The
 * write(2) fallback polls for POLLOUT before each write of at most PIPE_BUF
 * bytes instead; that bounds pipes and sockets but not a terminal stopped
 * with Ctrl+S.
 *
 * When io_uring cannot be set up (old kernel, seccomp sandbox,
 * io_uring_disabled, or AGENTOS_URING=off in the environment), or a ring that
 * was set up cannot do the writes (uring_ring.c), the same requests are
 * written with plain write(2): slower per line, same guarantees.
 */
#include "runtime/uring_private.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "shm/heartbeat.h"

#define UW_BATCH_LIMIT (64u * 1024u) /* pending bytes that trigger a flush */
#define UW_KEEP_CAP (256u * 1024u)   /* larger idle buffers are freed after a flush */
#define UW_MAX_REQ_LEN (1u << 30)    /* io_uring lengths are 32-bit; short writes do the rest */
#define UW_MAX_STALLS 64             /* rounds in a row without progress or -EAGAIN => -EIO */

int64_t uw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Time left before the flush's deadline, in ns (0 when past it); -1 without one. */
static int64_t uw_left(const struct uring_writer *w)
{
    if (w->deadline < 0)
        return -1;
    int64_t left = w->deadline - uw_now();
    return left > 0 ? left : 0;
}

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
size_t uw_complete(struct uring_writer *w, struct uw_req *r, int res)
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
    int64_t left = uw_left(w);
    int ms = left >= 0 && left < (int64_t)UW_POLL_MS * 1000000 ? (int)((left + 999999) / 1000000)
                                                               : UW_POLL_MS;
    if (n > 0)
        (void)poll(pf, n, ms);
    heartbeat();
}

int uw_any_eagain(const struct uring_writer *w)
{
    for (size_t i = 0; i < w->nreq; i++)
        if (w->reqs[i].state == UW_REQ_WAIT && w->reqs[i].last_res == -EAGAIN)
            return 1;
    return 0;
}

/* ---- write(2) fallback --------------------------------------------------- */

/* Whether fd can take data within left_ns (errors and hang-ups count: write() reports them). */
int uw_poll_out(int fd, int64_t left_ns)
{
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    int ms = (int)((left_ns + 999999) / 1000000);
    int rc;
    do
        rc = poll(&pf, 1, ms);
    while (rc < 0 && errno == EINTR);
    heartbeat();
    return rc != 0;
}

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
            size_t len = r->len - r->done;
            if (w->deadline >= 0) {
                /* bounded: a pipe that polls writable takes PIPE_BUF bytes without blocking */
                if (!uw_poll_out(r->fd, uw_left(w)))
                    break; /* out of time for this fd; the others still get their turn */
                if (len > PIPE_BUF)
                    len = PIPE_BUF;
            } else if (w->fds[r->slot].flags & UW_FD_ATOMIC_LINES) {
                /* a shared pipe behind a slow reader: wait in slices, beating, never
                 * inside a write(2) that could block for as long as the reader likes */
                while (!uw_poll_out(r->fd, (int64_t)UW_POLL_MS * 1000000))
                    ;
                if (len > PIPE_BUF)
                    len = PIPE_BUF;
            }
            ssize_t n = write(r->fd, r->buf + r->done, len);
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

/*
 * A bounded flush ran out of time: keep each fd's unwritten bytes (from its
 * first unfinished request on; requests of one fd finish in order) for the
 * next flush, and forget the rest.
 */
static void uw_keep_unwritten(struct uring_writer *w)
{
    w->pending = 0;
    for (size_t s = 0; s < w->nfds; s++) {
        struct uw_fdbuf *b = &w->fds[s];
        size_t from = b->len;
        for (size_t i = 0; i < w->nreq && !b->err; i++) {
            const struct uw_req *r = &w->reqs[i];
            if (r->slot == s && r->state == UW_REQ_WAIT) {
                from = (size_t)(r->buf - b->buf) + r->done;
                break;
            }
        }
        if (from > 0 && from < b->len)
            memmove(b->buf, b->buf + from, b->len - from);
        b->len -= from;
        w->pending += b->len;
    }
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
    return w ? uring_writer_flush_within(w, w->budget_ns) : -EINVAL;
}

int uring_writer_flush_within(struct uring_writer *w, int64_t budget_ns)
{
    if (!w)
        return -EINVAL;
    if (w->pending == 0) {
        w->stalled = 0;
        return 0;
    }
    w->flush_err = 0;
    int rc = uw_build_reqs(w);
    if (rc < 0) {
        uw_reset_buffers(w);
        return rc;
    }
    w->deadline = budget_ns < 0 ? -1 : uw_now() + budget_ns;
    int stalls = 0;
    while (uw_unfinished(w)) {
        size_t progress = w->have_ring ? uw_ring_round(w) : uw_write_round(w);
        uw_drop_failed(w);
        if (uw_unfinished(w) && uw_left(w) == 0) {
            /* out of time: what is left stays pending, in order */
            uw_keep_unwritten(w);
            w->deadline = -1;
            w->stalled = 1;
            return w->flush_err ? w->flush_err : -ETIME;
        }
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
    w->deadline = -1;
    w->stalled = 0;
    return w->flush_err;
}

void uring_writer_set_budget(struct uring_writer *w, int64_t budget_ns)
{
    if (w)
        w->budget_ns = budget_ns < 0 ? -1 : budget_ns;
}

size_t uring_writer_pending(const struct uring_writer *w, int fd)
{
    if (!w)
        return 0;
    for (size_t i = 0; i < w->nfds; i++)
        if (w->fds[i].fd == fd)
            return w->fds[i].len;
    return 0;
}

/* ---- public API ---------------------------------------------------------- */

int uring_writer_open(struct uring_writer **out, unsigned depth)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct uring_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->budget_ns = -1;
    w->deadline = -1;
    uw_ring_setup(w, depth);
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
    if (w->pending > UW_BATCH_LIMIT && !w->stalled)
        (void)uring_writer_flush(w); /* a stalled bounded writer waits for its next flush */
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
