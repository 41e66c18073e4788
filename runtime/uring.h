/*
 * uring.h - a batching io_uring writer for log files, audit files and console
 * lines.
 *
 * Appends are copied into per-fd pending buffers; nothing is submitted until
 * uring_writer_flush() (or a buffer passing its size limit), so many tiny
 * writes cost one io_uring_submit. Guarantees:
 *   - bytes appended to one fd reach it in append order (one in-flight write
 *     per fd at a time, or linked SQEs);
 *   - a short write is re-queued for its remainder; -EAGAIN/-EINTR retried;
 *   - for fds marked UW_FD_ATOMIC_LINES (the console pipe shared by all
 *     workers) every single write is at most PIPE_BUF bytes and ends on a line
 *     boundary, so lines from different processes never interleave;
 *   - appends never split a record across two writes for a regular file unless
 *     the record is larger than the buffer limit.
 * Every in-flight request is a self-describing struct (fd, buffer, done) so a
 * completion can be matched and re-queued (liburing's io_uring-cp pattern).
 * One writer per process; not thread-safe.
 */
#ifndef AGENTOS_RUNTIME_URING_H
#define AGENTOS_RUNTIME_URING_H

#include <stddef.h>
#include <stdint.h>

struct uring_writer;

#define UW_FD_ATOMIC_LINES 1u /* pipe/terminal shared with other processes */

/* Create a writer with a ring of `depth` entries (e.g. 64). 0 or -errno. */
int uring_writer_open(struct uring_writer **out, unsigned depth);

/* Declare per-fd flags (UW_FD_ATOMIC_LINES). Optional; default 0. */
int uring_writer_set_fd_flags(struct uring_writer *w, int fd, unsigned flags);

/*
 * Queue len bytes for fd (copied). May submit when the pending bytes pass the
 * writer's batch limit (64 KiB). 0 or -errno (the first error seen on that fd).
 */
int uring_writer_append(struct uring_writer *w, int fd, const void *buf, size_t len);

/*
 * Submit everything pending and wait until it is all written, or until the
 * writer's budget (uring_writer_set_budget) runs out. 0, the first -errno, or
 * -ETIME when time ran out: the unwritten bytes stay pending, in order.
 */
int uring_writer_flush(struct uring_writer *w);
/* The same with its own budget in ns (< 0: wait as long as it takes; 0: what goes now). */
int uring_writer_flush_within(struct uring_writer *w, int64_t budget_ns);
/*
 * Bound every later uring_writer_flush (and the automatic flush of an append)
 * to budget_ns; < 0 (the default) waits as long as the fds take. For an fd
 * that may stop taking data (a terminal stopped with Ctrl+S, a pipe to a
 * paused pager) in a process that must stay responsive. While a bounded flush
 * has run out of time, appends only queue.
 */
void uring_writer_set_budget(struct uring_writer *w, int64_t budget_ns);
/* Bytes appended to fd and not written yet. */
size_t uring_writer_pending(const struct uring_writer *w, int fd);

/*
 * The first hard write error recorded on fd (-errno), or 0. Errors are sticky:
 * a later flush returns 0 once nothing is left to write, so callers that must
 * know whether everything reached a file ask here.
 */
int uring_writer_fd_error(const struct uring_writer *w, int fd);

/* Forget an fd's pending bytes and flags (before close(fd)); flushes it first. */
int uring_writer_forget_fd(struct uring_writer *w, int fd);

/* Flush, tear down the ring, free. NULL is fine. */
void uring_writer_close(struct uring_writer *w);

#endif
