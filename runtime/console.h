/*
 * console.h - the coordinator's side of the console.
 *
 * Workers never write to the terminal. They send whole prefixed lines into
 * one pipe (each write at most PIPE_BUF bytes and ending on a newline, so the
 * kernel keeps lines from different workers apart); the coordinator reads the
 * pipe, copies each whole line to stdout and to coordinator.log through its
 * io_uring writer, and on a terminal keeps the progress bar as the last line:
 * it erases the bar, prints the new lines, and draws the bar again.
 */
#ifndef AGENTOS_RUNTIME_CONSOLE_H
#define AGENTOS_RUNTIME_CONSOLE_H

#include <stddef.h>

#include "runtime/uring.h"

struct coord_console {
    struct uring_writer *uw;
    int out_fd;   /* stdout */
    int log_fd;   /* coordinator.log, -1 = none */
    int tty;      /* out_fd is a terminal: keep the bar at the bottom */
    int progress; /* show progress at all (not --no-progress/--quiet) */
    int bar_drawn;
    unsigned done, total;
    char *partial; /* bytes of an unfinished line from the pipe */
    size_t plen, pcap;
};

void ccon_init(struct coord_console *c, struct uring_writer *uw, int out_fd, int progress);

/* Start copying console lines to log_fd as well. */
void ccon_set_log(struct coord_console *c, int log_fd);

/* Print one whole line (no newline in it) to stdout and the log. */
void ccon_line(struct coord_console *c, const char *line, size_t len);

/* Print "[COORDINATOR] <message>" (cut into whole lines if long). */
void ccon_coord(struct coord_console *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Read what the pipe has (non-blocking fd) and print its whole lines.
 * Returns 1 if the pipe is at EOF (every writer closed), 0 otherwise.
 */
int ccon_drain(struct coord_console *c, int pipe_fd);

/*
 * Progress changed: on a terminal redraw the bar; otherwise print
 * "[COORDINATOR] [=====>    ] 5/10 workflows complete" as a line.
 */
void ccon_progress(struct coord_console *c, unsigned done, unsigned total);

/* Format the bar "[=====>    ] 5/10 workflows complete" into buf. */
void ccon_format_bar(char *buf, size_t len, unsigned done, unsigned total);

/* Whether stdout is so far behind (a stopped terminal, a paused pager) that no more lines should be
 * taken. */
int ccon_backlogged(const struct coord_console *c);
/* Erase the bar (before exit or a summary), flush. */
void ccon_finish(struct coord_console *c);

void ccon_flush(struct coord_console *c);

void ccon_free(struct coord_console *c);

#endif
