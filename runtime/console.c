/*
 * console.c - the coordinator's console: worker lines from the pipe, its own
 * [COORDINATOR] lines, and the progress bar (see console.h).
 */
#include "runtime/console.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/log.h"

#define BAR_WIDTH 20
#define ERASE_LINE "\r\033[K"
#define CCON_BACKLOG_MAX (256u * 1024u) /* unwritten stdout bytes that stop reading the pipe */

void ccon_init(struct coord_console *c, struct uring_writer *uw, int out_fd, int progress)
{
    memset(c, 0, sizeof(*c));
    c->uw = uw;
    c->out_fd = out_fd;
    c->log_fd = -1;
    c->tty = isatty(out_fd);
    c->progress = progress;
}

void ccon_set_log(struct coord_console *c, int log_fd)
{
    c->log_fd = log_fd;
}

void ccon_format_bar(char *buf, size_t len, unsigned done, unsigned total)
{
    char bar[BAR_WIDTH + 1];
    unsigned fill = total ? (unsigned)((unsigned long long)done * BAR_WIDTH / total) : BAR_WIDTH;
    for (unsigned i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '=' : ' ';
    if (fill > 0 && fill < BAR_WIDTH)
        bar[fill - 1] = '>';
    else if (fill == 0 && done < total)
        bar[0] = '>';
    bar[BAR_WIDTH] = '\0';
    snprintf(buf, len, "[%s] %u/%u workflows complete", bar, done, total);
}

static void erase_bar(struct coord_console *c)
{
    if (c->bar_drawn) {
        uring_writer_append(c->uw, c->out_fd, ERASE_LINE, sizeof(ERASE_LINE) - 1);
        c->bar_drawn = 0;
    }
}

static void draw_bar(struct coord_console *c)
{
    if (!c->tty || !c->progress || c->total == 0)
        return;
    char buf[128];
    ccon_format_bar(buf, sizeof(buf), c->done, c->total);
    uring_writer_append(c->uw, c->out_fd, buf, strlen(buf));
    c->bar_drawn = 1;
}

static void emit(struct coord_console *c, const char *line, size_t len)
{
    char *b = malloc(len + 1);
    if (!b)
        return;
    memcpy(b, line, len);
    b[len] = '\n';
    uring_writer_append(c->uw, c->out_fd, b, len + 1);
    if (c->log_fd >= 0)
        uring_writer_append(c->uw, c->log_fd, b, len + 1);
    free(b);
}

void ccon_line(struct coord_console *c, const char *line, size_t len)
{
    erase_bar(c);
    emit(c, line, len);
    draw_bar(c);
}

static void coord_piece(const char *piece, size_t len, void *arg)
{
    struct coord_console *c = arg;
    static const char pfx[] = "[COORDINATOR] ";
    char *b = malloc(sizeof(pfx) + len);
    if (!b)
        return;
    memcpy(b, pfx, sizeof(pfx) - 1);
    memcpy(b + sizeof(pfx) - 1, piece, len);
    emit(c, b, sizeof(pfx) - 1 + len);
    free(b);
}

void ccon_coord(struct coord_console *c, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    erase_bar(c);
    log_split_lines(msg, coord_piece, c);
    draw_bar(c);
}

/* Append bytes to the partial-line buffer. */
static int keep_partial(struct coord_console *c, const char *p, size_t n)
{
    if (c->plen + n > c->pcap) {
        size_t cap = c->pcap ? c->pcap : 4096;
        while (cap < c->plen + n)
            cap *= 2;
        char *np = realloc(c->partial, cap);
        if (!np)
            return -ENOMEM;
        c->partial = np;
        c->pcap = cap;
    }
    memcpy(c->partial + c->plen, p, n);
    c->plen += n;
    return 0;
}

int ccon_drain(struct coord_console *c, int pipe_fd)
{
    char buf[65536];
    int printed = 0;
    for (;;) {
        ssize_t r = read(pipe_fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (printed)
                draw_bar(c);
            return r == 0;
        }
        if (keep_partial(c, buf, (size_t)r) < 0)
            return 0;
        size_t start = 0;
        for (size_t i = 0; i < c->plen; i++) {
            if (c->partial[i] != '\n')
                continue;
            if (!printed)
                erase_bar(c);
            emit(c, c->partial + start, i - start);
            printed = 1;
            start = i + 1;
        }
        memmove(c->partial, c->partial + start, c->plen - start);
        c->plen -= start;
    }
}

void ccon_progress(struct coord_console *c, unsigned done, unsigned total)
{
    c->done = done;
    c->total = total;
    if (!c->progress)
        return;
    if (c->tty) {
        erase_bar(c);
        draw_bar(c);
        return;
    }
    char buf[128];
    ccon_format_bar(buf, sizeof(buf), done, total);
    ccon_coord(c, "%s", buf);
}

void ccon_finish(struct coord_console *c)
{
    erase_bar(c);
    ccon_flush(c);
}

int ccon_backlogged(const struct coord_console *c)
{
    return uring_writer_pending(c->uw, c->out_fd) > CCON_BACKLOG_MAX;
}

void ccon_flush(struct coord_console *c)
{
    uring_writer_flush(c->uw);
}

void ccon_free(struct coord_console *c)
{
    free(c->partial);
    c->partial = NULL;
    c->plen = c->pcap = 0;
}
