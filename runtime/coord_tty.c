/*
 * coord_tty.c - Ctrl+Z: the coordinator suspends as a terminal program should.
 *
 * Ctrl+Z sends SIGTSTP to the terminal's foreground process group: the
 * coordinator and its workers. The workers keep the default action and stop
 * at once. The coordinator catches it (a flag, like every signal here), and
 * in its loop first leaves the terminal as a shell expects to find it: the
 * progress bar erased, a line saying what happened, the output flushed (within
 * the usual budget, so a stopped reader cannot hold it). Then it stops the
 * way the default action would: SIGTSTP with the default disposition, sent to
 * the whole process group (so `kill -TSTP <coordinator>` suspends its workers
 * too). The kernel discards it for an orphaned process group (no shell that
 * could resume it), which is right: nobody could `fg` it. On SIGCONT (`fg`,
 * `bg`, `kill -CONT`) it redraws the bar and goes on. What does not stop with
 * the process: the wall clock. HTTP requests in flight keep their deadline, so
 * a long suspension ends them as timeouts, retried like any other; rate-limit
 * waits simply pass.
 */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/coord.h"

void coord_suspend(struct coord *c)
{
    struct sigaction dfl, old;
    sigset_t tstp, cont;
    struct timespec now = {0, 0};
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigemptyset(&tstp);
    sigaddset(&tstp, SIGTSTP);
    sigemptyset(&cont);
    sigaddset(&cont, SIGCONT);

    ccon_coord(&c->con, "Suspended (Ctrl+Z); `fg` or `bg` resumes the run");
    ccon_finish(&c->con); /* no bar left on the line the shell writes to */
    sigaction(SIGTSTP, &dfl, &old);
    kill(0, SIGTSTP);                      /* the whole group; pending here, blocked */
    sigprocmask(SIG_UNBLOCK, &tstp, NULL); /* delivered now: we stop here */
    sigprocmask(SIG_BLOCK, &tstp, NULL);   /* continued */
    sigaction(SIGTSTP, &old, NULL);
    sigtimedwait(&cont, NULL, &now); /* the SIGCONT that woke us: handled here, not again */
    ccon_coord(&c->con, "Resumed");
    coord_resumed(c);
}

void coord_resumed(struct coord *c)
{
    if (c->con.total)
        ccon_progress(&c->con, c->con.done, c->con.total);
    ccon_flush(&c->con);
}
