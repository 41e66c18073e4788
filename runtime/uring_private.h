/*
 * uring_private.h - what the two files of the batching io_uring writer share:
 * the writer, its per-fd buffers and its requests, and the few functions one
 * file calls in the other. uring.c keeps the buffers, builds and completes
 * the requests and runs the flushes (and the write(2) fallback);
 * uring_ring.c drives the requests through io_uring. Not for use outside
 * runtime/uring*.c.
 */
#ifndef AGENTOS_RUNTIME_URING_PRIVATE_H
#define AGENTOS_RUNTIME_URING_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <liburing.h>

#include "runtime/uring.h"

#define UW_POLL_MS 1000 /* wait for a full pipe/socket to drain before retrying */

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
    int flush_err;     /* first error of the flush in progress */
    int64_t budget_ns; /* bound of uring_writer_flush; < 0: none */
    int64_t deadline;  /* CLOCK_MONOTONIC ns the flush in progress ends at; < 0: none */
    int stalled;       /* the last bounded flush ran out of time */
    int ring_stalls;   /* ring rounds in a row that wrote nothing, unasked */
    int cancelled;     /* this ring round cancelled what it had in flight */
    int ring_stuck;    /* this ring round found writable fds the ring does not write */
};

/* CLOCK_MONOTONIC now, in ns. */
int64_t uw_now(void);

/* Apply one write result to its request. Returns the bytes it made progress by. */
size_t uw_complete(struct uring_writer *w, struct uw_req *r, int res);

/* 1 when a waiting request's last write answered -EAGAIN (its fd is full, not broken). */
int uw_any_eagain(const struct uring_writer *w);

/* Whether fd can take data within left_ns (errors and hang-ups count: write() reports them). */
int uw_poll_out(int fd, int64_t left_ns);

/* Set up w's ring when wanted and the kernel can; without one, w writes with write(2). */
void uw_ring_setup(struct uring_writer *w, unsigned depth);

/* One io_uring round over w's requests; the bytes it wrote. May drop w to write(2). */
size_t uw_ring_round(struct uring_writer *w);

#endif
