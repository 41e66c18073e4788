/*
 * proc.h - run one shell command for a worker process, bounded in time and
 * leaving nothing behind.
 *
 * A step of a workstream is a shell command plus acceptance-test commands;
 * the worker runs each with proc_run(). The command gets its own process
 * group, so the whole tree it starts (pipelines, backgrounded children) is
 * signalled as one: SIGTERM on a timeout or when the worker's stop flag is
 * set, SIGKILL after a grace period, and a last SIGKILL to the group once the
 * shell has exited, so no process of a step outlives it. The shell carries
 * PR_SET_PDEATHSIG SIGKILL, so a worker killed with -9 does not leave it
 * running.
 *
 * Limits: a process that leaves the group (setsid, setpgid) escapes the
 * group signals, and after a worker's kill -9 only the shell itself is killed
 * (its children are reparented and keep running until they end). Containing
 * those would take a cgroup per step.
 *
 * proc_run is for a single-threaded caller with SIGCHLD at SIG_DFL: it reaps
 * only the pid it started, and PR_SET_PDEATHSIG follows the forking thread.
 */
#ifndef AGENTOS_WORKFLOWS_PROC_H
#define AGENTOS_WORKFLOWS_PROC_H

#include <signal.h>
#include <stddef.h>

struct proc_result {
    int status;    /* wait status of the shell (valid when !timed_out && !stopped) */
    int timed_out; /* killed because it ran past timeout_ms */
    int stopped;   /* killed because *stop became non-zero */
    long long ms;  /* wall time it ran */
};

/*
 * Run `/bin/sh -c cmd` in a new process group (setpgid in the child), stdin
 * from /dev/null, stdout and stderr to out_fd (or /dev/null when out_fd < 0),
 * in the current directory, with the environment plus the variables given in
 * env (NULL-terminated list, may be NULL: "NAME=value" replaces the
 * inherited NAME, a bare "NAME" removes it). Every other descriptor is closed in the child
 * (close_range). The child restores default signal dispositions and an empty
 * signal mask before exec (the worker ignores SIGPIPE/SIGINT/SIGHUP; a
 * command must not inherit that), and sets PR_SET_PDEATHSIG SIGKILL so a
 * killed worker does not leave the shell behind.
 *
 * Waits, checking *stop (may be NULL) at least every 50 ms; when *stop is set
 * or the timeout passes (timeout_ms <= 0: none), sends SIGTERM to the whole
 * process group, then SIGKILL to the group after grace_ms, and reaps the
 * shell. After the shell exits normally, the group is also sent SIGKILL if
 * anything of it is left (a backgrounded child holding the step's files), so
 * nothing outlives the step. If *stop is already set on entry, nothing is
 * started and res says stopped.
 *
 * Returns 0 with res filled (whatever the exit status), or -errno if it could
 * not start: fork/pipe/open failure, -EINVAL for an env entry with no name,
 * or the errno of a failed child setup or exec of /bin/sh (that child is
 * reaped before returning). Then nothing is left running.
 */
int proc_run(const char *cmd, int out_fd, char *const env[], long timeout_ms, long grace_ms,
             volatile sig_atomic_t *stop, struct proc_result *res);

/*
 * One line for a log: "exited with status 2", "killed by signal 9",
 * "timed out after 300 s" (or "after 200 ms" when not whole seconds),
 * "stopped". Always NUL-terminated when len > 0.
 */
void proc_describe(const struct proc_result *r, long timeout_ms, char *buf, size_t len);

/* 1 if the command succeeded (exited 0, not timed out, not stopped). */
int proc_ok(const struct proc_result *r);

#endif
