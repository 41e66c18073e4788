/*
 * proc.c - run one shell command for a worker process (see proc.h).
 *
 * Start: everything the child needs (argv, the merged environment, /dev/null,
 * an error pipe) is made before fork, so between fork and exec the child only
 * makes async-signal-safe calls. All signals are blocked across fork, so no
 * handler of the worker runs in the child; the child resets every disposition
 * to SIG_DFL before it empties its mask. A child that cannot set itself up or
 * exec /bin/sh writes its errno to a CLOEXEC pipe and exits; a successful
 * exec closes the pipe, so EOF on the parent's end means the command runs.
 *
 * Supervision invariant: the shell is reaped only at the very end. Its exit
 * is first seen with waitid(WNOWAIT), which leaves it a zombie, and a zombie
 * keeps its pid - hence the group ID - from being reused. So every
 * killpg(pid, ...) reaches this step's group and nobody else's, including the
 * last SIGKILL sent after the shell has exited.
 *
 * Stop and timeout: whichever is seen first is the one reported; from then on
 * the group gets SIGTERM and, grace_ms later, SIGKILL.
 */
#include "workflows/workstream/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/heartbeat.h"
#include "shm/util.h"

#define PROC_POLL_NS (50 * UTIL_NS_PER_MS) /* the stop flag is looked at least this often */
#define PROC_NAP_NS (5 * UTIL_NS_PER_MS)   /* wait step when there is no pidfd to poll */
#define PROC_ERR_FD 3                      /* where the child keeps its error pipe until exec */

/* What the child needs, all made before fork. */
struct proc_spawn {
    char *argv[4];
    char **envp;
    int devnull; /* O_RDWR: stdin, and stdout/stderr when out_fd < 0 */
    int out_fd;
    int err_r, err_w; /* CLOEXEC pipe: the child writes its errno if it cannot exec */
    pid_t parent;
};

/* --- environment ---------------------------------------------------------- */

/* 1 if extra holds an entry with the same NAME as var ("NAME=value" or "NAME"). */
static int env_replaced(const char *var, char *const extra[])
{
    size_t n = strcspn(var, "=");
    for (size_t i = 0; extra && extra[i]; i++)
        if (strncmp(extra[i], var, n) == 0 && (extra[i][n] == '=' || extra[i][n] == '\0'))
            return 1;
    return 0;
}

/*
 * environ plus extra: an extra "NAME=value" replaces the inherited NAME, an
 * extra "NAME" (no '=') removes it. The array is malloc'd, the strings
 * borrowed. -EINVAL for an empty name.
 */
static int env_merge(char *const extra[], char ***out)
{
    size_t n = 0, k = 0;
    while (environ && environ[n])
        n++;
    for (; extra && extra[k]; k++)
        if (extra[k][0] == '=' || extra[k][0] == '\0')
            return -EINVAL;
    char **v = malloc((n + k + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!env_replaced(environ[i], extra))
            v[m++] = environ[i];
    for (size_t i = 0; i < k; i++)
        if (strchr(extra[i], '='))
            v[m++] = extra[i];
    v[m] = NULL;
    *out = v;
    return 0;
}

/* --- the child, between fork and exec --------------------------------------- */

/*
 * /dev/null on 0, out on 1 and 2, the error pipe on PROC_ERR_FD, the rest
 * closed. What is kept is first copied above 2 (F_DUPFD only takes a free
 * number), so no dup2 onto 0-2 overwrites a source still needed, whatever
 * numbers the caller's descriptors have. *err_fd follows the error pipe.
 */
static int child_fds(const struct proc_spawn *sp, int *err_fd)
{
    int in = fcntl(sp->devnull, F_DUPFD_CLOEXEC, 3);
    int out = sp->out_fd >= 0 ? fcntl(sp->out_fd, F_DUPFD_CLOEXEC, 3) : in;
    int err = fcntl(*err_fd, F_DUPFD_CLOEXEC, 3);
    if (in < 0 || out < 0 || err < 0)
        return -1;
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        return -1;
    if (err != PROC_ERR_FD && dup3(err, PROC_ERR_FD, O_CLOEXEC) < 0)
        return -1;
    *err_fd = PROC_ERR_FD;
    return close_range(PROC_ERR_FD + 1, ~0U, 0);
}

/*
 * Default dispositions first, then an empty mask: the command inherits
 * neither the worker's ignored signals nor its blocked ones, and no handler of
 * the worker can run here.
 */
static int child_signals(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL); /* EINVAL for SIGKILL, SIGSTOP and glibc's own: fine */
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Async-signal-safe calls only (the parent may have threads). Never returns. */
static _Noreturn void child_run(const struct proc_spawn *sp)
{
    int err_fd = sp->err_w;
    if (setpgid(0, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        goto fail;
    /* The worker may have died before the prctl: no death signal would come then. */
    if (getppid() != sp->parent)
        _exit(127);
    if (child_fds(sp, &err_fd) != 0 || child_signals() != 0)
        goto fail;
    execve("/bin/sh", sp->argv, sp->envp);
fail:;
    int e = errno;
    ssize_t w = write(err_fd, &e, sizeof(e));
    (void)w;
    _exit(127);
}

/* --- the parent --------------------------------------------------------------- */

/* Reap pid (blocking): its wait status, or -1 if it was reaped elsewhere (SIGCHLD ignored). */
static int reap(pid_t pid)
{
    int st;
    pid_t r;
    do
        r = waitpid(pid, &st, 0);
    while (r < 0 && errno == EINTR);
    return r == pid ? st : -1;
}

/* What the child wrote before exec: 0 when it exec'd (EOF), else its errno. */
static int child_errno(int fd)
{
    int e = 0;
    ssize_t r;
    do
        r = read(fd, &e, sizeof(e));
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof(e))
        return 0;
    return e > 0 ? e : EIO;
}

/* Fork the child and wait until it has exec'd. 0 with *pidp set, or -errno with nothing left. */
static int fork_exec(struct proc_spawn *sp, pid_t *pidp)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_run(sp);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return -fork_errno;
    /*
     * The child does it too; here as well so the group exists before any
     * killpg. EACCES (it has exec'd, so it did) and ESRCH (it died) are fine.
     */
    setpgid(pid, pid);
    close(sp->err_w);
    sp->err_w = -1;
    int e = child_errno(sp->err_r);
    if (e != 0) {
        reap(pid);
        return -e;
    }
    *pidp = pid;
    return 0;
}

/* Everything the child needs, then fork_exec; what was made for it is released either way. */
static int spawn(struct proc_spawn *sp, char *const env[], pid_t *pidp)
{
    int rc = env_merge(env, &sp->envp);
    if (rc != 0)
        return rc;
    int p[2];
    sp->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (sp->devnull < 0) {
        rc = -errno;
    } else if (pipe2(p, O_CLOEXEC) != 0) {
        rc = -errno;
    } else {
        sp->err_r = p[0];
        sp->err_w = p[1];
        rc = fork_exec(sp, pidp);
    }
    int fds[] = {sp->devnull, sp->err_r, sp->err_w};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(sp->envp);
    return rc;
}

/*
 * 1 once the shell has exited - left as a zombie (WNOWAIT, see the file
 * comment) - or can no longer be waited for (reaped elsewhere: reap() says so).
 */
static int shell_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno != EINTR;
    return si.si_pid != 0;
}

/* Sleep until the shell exits, a signal arrives, or ns pass. */
static void wait_a_while(int pidfd, int64_t ns)
{
    if (pidfd >= 0) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        poll(&p, 1, (int)((ns + UTIL_NS_PER_MS - 1) / UTIL_NS_PER_MS)); /* EINTR: looked at next */
    } else {
        util_sleep_ns(ns < PROC_NAP_NS ? ns : PROC_NAP_NS);
    }
}

/* now + ms (ms <= 0: now), saturating instead of overflowing. */
static int64_t after_ms(int64_t now, long ms)
{
    if (ms <= 0)
        return now;
    if ((int64_t)ms >= (INT64_MAX - now) / UTIL_NS_PER_MS)
        return INT64_MAX;
    return now + (int64_t)ms * UTIL_NS_PER_MS;
}

/*
 * Wait for the shell; on stop or timeout, SIGTERM to the group and SIGKILL
 * grace_ms later. Then a last SIGKILL for whatever of the group is left, and
 * only after that the reap (see the file comment).
 */
static void supervise(pid_t pid, int pidfd, int64_t t0, long timeout_ms, long grace_ms,
                      volatile sig_atomic_t *stop, struct proc_result *res)
{
    int64_t deadline = timeout_ms > 0 ? after_ms(t0, timeout_ms) : INT64_MAX;
    int64_t kill_at = INT64_MAX; /* SIGKILL due, once SIGTERM was sent */
    int ending = 0, killed = 0;
    while (!shell_exited(pid)) {
        heartbeat(); /* a step within its timeout: the worker is alive (shm/heartbeat.h) */
        int64_t now = util_now_mono_ns();
        if (!ending) {
            res->stopped = stop && *stop;
            res->timed_out = !res->stopped && now >= deadline;
            ending = res->stopped || res->timed_out;
            if (ending) {
                killpg(pid, SIGTERM);
                kill_at = after_ms(now, grace_ms);
            }
        }
        if (!killed && now >= kill_at) {
            killpg(pid, SIGKILL);
            killed = 1;
        }
        int64_t next = !ending ? deadline : killed ? INT64_MAX : kill_at;
        int64_t ns = next - now < PROC_POLL_NS ? next - now : PROC_POLL_NS;
        wait_a_while(pidfd, ns > 0 ? ns : 0); /* never a negative poll timeout: that is forever */
    }
    killpg(pid, SIGKILL); /* ESRCH when the group is already empty */
    res->status = reap(pid);
}

int proc_run(const char *cmd, int out_fd, char *const env[], long timeout_ms, long grace_ms,
             volatile sig_atomic_t *stop, struct proc_result *res)
{
    memset(res, 0, sizeof(*res));
    if (stop && *stop) {
        res->stopped = 1;
        return 0;
    }
    struct proc_spawn sp = {
        .argv = {"sh", "-c", (char *)cmd, NULL},
        .devnull = -1,
        .out_fd = out_fd,
        .err_r = -1,
        .err_w = -1,
        .parent = getpid(),
    };
    int64_t t0 = util_now_mono_ns();
    pid_t pid = -1;
    int rc = spawn(&sp, env, &pid);
    if (rc != 0)
        return rc;
    /* No pidfd (ENOSYS before Linux 5.3, or EMFILE): wait in short naps instead of poll(). */
    int pidfd = pidfd_open(pid, 0);
    supervise(pid, pidfd, t0, timeout_ms, grace_ms, stop, res);
    if (pidfd >= 0)
        close(pidfd);
    res->ms = (util_now_mono_ns() - t0) / UTIL_NS_PER_MS;
    return 0;
}

void proc_describe(const struct proc_result *r, long timeout_ms, char *buf, size_t len)
{
    if (r->stopped)
        snprintf(buf, len, "stopped");
    else if (r->timed_out && timeout_ms % 1000 == 0)
        snprintf(buf, len, "timed out after %ld s", timeout_ms / 1000);
    else if (r->timed_out)
        snprintf(buf, len, "timed out after %ld ms", timeout_ms);
    else if (WIFEXITED(r->status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(r->status));
    else if (WIFSIGNALED(r->status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(r->status));
    else
        snprintf(buf, len, "wait status unknown");
}

int proc_ok(const struct proc_result *r)
{
    return !r->timed_out && !r->stopped && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}
