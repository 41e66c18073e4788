/* LDFLAGS: -Wl,--wrap=fork -Wl,--wrap=pidfd_open */
/*
 * test_proc.c - unit tests for running a step's shell command
 * (workflows/workstream/proc.c): exit status and its description, output, stdin, the
 * environment, timeouts with SIGTERM then SIGKILL, the whole process group
 * dying (on a timeout, on a stop, and after a normal exit), the stop flag set
 * from a signal handler, what the command does not inherit (ignored and
 * blocked signals, descriptors), the death signal when the worker is killed,
 * start failures, and no zombie or descriptor left after many runs.
 *
 * fork and pidfd_open are wrapped at link time (-Wl,--wrap) so a fork failure
 * and a kernel without pidfd_open can be simulated; by default both pass
 * through. Every test is bounded: commands that would run for 30 s must be
 * killed well before that; the limits leave room for a loaded machine and
 * sanitizer builds (they tell "killed" from "ran out", they time nothing).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/testutil.h"

#include "workflows/workstream/proc.h"
#include "shm/util.h"

/* ---- link-time fakes -------------------------------------------------------- */

static int fake_fork_fails; /* fork() fails with EAGAIN */
static int fake_no_pidfd;   /* pidfd_open() fails with ENOSYS */

pid_t __real_fork(void);
pid_t __wrap_fork(void);
int __real_pidfd_open(pid_t pid, unsigned int flags);
int __wrap_pidfd_open(pid_t pid, unsigned int flags);

pid_t __wrap_fork(void)
{
    if (fake_fork_fails) {
        errno = EAGAIN;
        return -1;
    }
    return __real_fork();
}

int __wrap_pidfd_open(pid_t pid, unsigned int flags)
{
    if (fake_no_pidfd) {
        errno = ENOSYS;
        return -1;
    }
    return __real_pidfd_open(pid, flags);
}

/* ---- helpers ------------------------------------------------------------------- */

struct fx {
    char dir[64];
    char out[128];
    char pidfile[128];
    int out_fd;
    char cmd[1024];
    char text[4096];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f || test_tmpdir(f->dir, sizeof(f->dir), "test_proc") != 0)
        return -1;
    snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
    snprintf(f->pidfile, sizeof(f->pidfile), "%s/pid", f->dir);
    f->out_fd = open(f->out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (f->out_fd < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    close(f->out_fd);
    fake_fork_fails = 0;
    fake_no_pidfd = 0;
    if (test_rmtree(f->dir) != 0)
        return -1;
    free(f);
    return 0;
}

static int64_t ms_since(int64_t t0)
{
    return (util_now_mono_ns() - t0) / UTIL_NS_PER_MS;
}

/* The text the command wrote to out_fd. */
static const char *out_text(struct fx *f)
{
    ssize_t n = pread(f->out_fd, f->text, sizeof(f->text) - 1, 0);
    assert_true(n >= 0);
    f->text[n] = '\0';
    return f->text;
}

/* The pid a command wrote to the pid file. */
static pid_t read_pid(const struct fx *f)
{
    char *buf;
    assert_int_equal(util_read_file(f->pidfile, 64, &buf, NULL), 0);
    long pid = strtol(buf, NULL, 10);
    free(buf);
    assert_true(pid > 1);
    return (pid_t)pid;
}

/* 1 if pid no longer runs: gone, or a zombie waiting for init to reap it. */
static int pid_gone(pid_t pid)
{
    if (kill(pid, 0) != 0)
        return errno == ESRCH;
    char path[64], *stat;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (util_read_file(path, 4096, &stat, NULL) != 0)
        return 1;
    const char *p = strrchr(stat, ')'); /* "pid (comm) S ..." */
    int dead = p && (p[2] == 'Z' || p[2] == 'X');
    free(stat);
    return dead;
}

/* pid is gone within 2 s (killing it is immediate; the wait is for reaping by init). */
static void assert_gone_soon(pid_t pid)
{
    int64_t t0 = util_now_mono_ns();
    while (!pid_gone(pid) && ms_since(t0) < 5000)
        util_sleep_ns(10 * UTIL_NS_PER_MS);
    assert_true(pid_gone(pid));
}

static int open_fd_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

/* No child of this process is left, not even a zombie. */
static void assert_no_children(void)
{
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* ---- exit status and its description ------------------------------------------ */

static void test_true_ok(void **state)
{
    (void)state;
    struct proc_result r;
    char d[64];
    assert_int_equal(proc_run("true", -1, NULL, 5000, 500, NULL, &r), 0);
    assert_true(proc_ok(&r));
    assert_false(r.timed_out);
    assert_false(r.stopped);
    assert_true(r.ms < 4000);
    proc_describe(&r, 5000, d, sizeof(d));
    assert_string_equal(d, "exited with status 0");
    assert_no_children();
}

static void test_exit_status(void **state)
{
    (void)state;
    struct proc_result r;
    char d[64];
    assert_int_equal(proc_run("exit 3", -1, NULL, 5000, 500, NULL, &r), 0);
    assert_false(proc_ok(&r));
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 3);
    proc_describe(&r, 5000, d, sizeof(d));
    assert_string_equal(d, "exited with status 3");
    /* Not found inside the shell is the command's failure, not a start failure. */
    assert_int_equal(proc_run("/nonexistent/agentos-cmd", -1, NULL, 5000, 500, NULL, &r), 0);
    assert_int_equal(WEXITSTATUS(r.status), 127);
}

static void test_describe(void **state)
{
    (void)state;
    char d[64];
    struct proc_result r = {.status = 2 << 8};
    proc_describe(&r, 0, d, sizeof(d));
    assert_string_equal(d, "exited with status 2");
    r.status = SIGKILL;
    proc_describe(&r, 0, d, sizeof(d));
    assert_string_equal(d, "killed by signal 9");
    assert_false(proc_ok(&r));
    r.status = -1; /* reaped elsewhere */
    proc_describe(&r, 0, d, sizeof(d));
    assert_string_equal(d, "wait status unknown");
    assert_false(proc_ok(&r));
    r.status = 0;
    assert_true(proc_ok(&r));
    r.timed_out = 1;
    assert_false(proc_ok(&r));
    proc_describe(&r, 300000, d, sizeof(d));
    assert_string_equal(d, "timed out after 300 s");
    proc_describe(&r, 200, d, sizeof(d));
    assert_string_equal(d, "timed out after 200 ms");
    r.timed_out = 0;
    r.stopped = 1;
    assert_false(proc_ok(&r));
    proc_describe(&r, 200, d, sizeof(d));
    assert_string_equal(d, "stopped");
    char small[5];
    proc_describe(&r, 200, small, sizeof(small));
    assert_string_equal(small, "stop");
}

/* ---- what the command sees -------------------------------------------------------- */

static void test_output_in_order(void **state)
{
    struct fx *f = *state;
    struct proc_result r;
    assert_int_equal(
        proc_run("echo hi; echo err >&2; echo again", f->out_fd, NULL, 5000, 500, NULL, &r), 0);
    assert_true(proc_ok(&r));
    assert_string_equal(out_text(f), "hi\nerr\nagain\n");
}

static void test_stdin_is_dev_null(void **state)
{
    struct fx *f = *state;
    /* Our stdin becomes a pipe nobody writes to: a command reading it would block. */
    int p[2], saved = dup(0);
    assert_true(saved >= 0);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(dup2(p[0], 0), 0);
    struct proc_result r;
    int rc = proc_run("cat; readlink /proc/$$/fd/0", f->out_fd, NULL, 3000, 200, NULL, &r);
    dup2(saved, 0);
    close(saved);
    close(p[0]);
    close(p[1]);
    assert_int_equal(rc, 0);
    assert_false(r.timed_out);
    assert_true(proc_ok(&r));
    assert_true(r.ms < 4000);
    assert_string_equal(out_text(f), "/dev/null\n");
}

static void test_env_and_cwd(void **state)
{
    struct fx *f = *state;
    struct proc_result r;
    assert_int_equal(setenv("AGENTOS_PROC_INHERITED", "yes", 1), 0);
    assert_int_equal(setenv("AGENTOS_PROC_REPLACED", "old", 1), 0);
    assert_int_equal(setenv("AGENTOS_PROC_REMOVED", "secret", 1), 0);
    char *env[] = {"FOO=bar", "AGENTOS_PROC_REPLACED=new", "EMPTY=", "AGENTOS_PROC_REMOVED", NULL};
    assert_int_equal(proc_run("test \"$FOO\" = bar && test \"$AGENTOS_PROC_INHERITED\" = yes"
                              " && test \"$AGENTOS_PROC_REPLACED\" = new"
                              " && test \"${EMPTY-unset}\" = \"\""
                              " && test \"${AGENTOS_PROC_REMOVED-unset}\" = unset"
                              " && env | grep -c '^AGENTOS_PROC_REPLACED=' && pwd",
                              f->out_fd, env, 5000, 500, NULL, &r),
                     0);
    assert_true(proc_ok(&r));
    char cwd[512], want[600];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "1\n%s\n", cwd); /* the replaced name appears once */
    assert_string_equal(out_text(f), want);
    /* Without env: only the inherited environment. */
    assert_int_equal(proc_run("test -z \"$FOO\" && test \"$AGENTOS_PROC_REPLACED\" = old", -1, NULL,
                              5000, 500, NULL, &r),
                     0);
    assert_true(proc_ok(&r));
    unsetenv("AGENTOS_PROC_INHERITED");
    unsetenv("AGENTOS_PROC_REPLACED");
    unsetenv("AGENTOS_PROC_REMOVED");
}

static void test_own_process_group(void **state)
{
    (void)state;
    struct proc_result r;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "set -- $(cat /proc/$$/stat); test \"$5\" = $$ && test $5 != %d",
             (int)getpgrp());
    assert_int_equal(proc_run(cmd, -1, NULL, 5000, 500, NULL, &r), 0);
    assert_true(proc_ok(&r));
}

/* The worker ignores SIGPIPE, SIGINT and SIGHUP and may block signals: none of that passes on. */
static void test_signals_not_inherited(void **state)
{
    struct fx *f = *state;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old[3];
    const int ignored[3] = {SIGPIPE, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++)
        sigaction(ignored[i], &ign, &old[i]);
    sigset_t usr1, oldmask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &oldmask);

    struct proc_result pipe_r, usr1_r, status_r;
    int rc1 = proc_run("kill -PIPE $$; exit 0", -1, NULL, 5000, 500, NULL, &pipe_r);
    int rc2 = proc_run("kill -USR1 $$; exit 0", -1, NULL, 5000, 500, NULL, &usr1_r);
    int rc3 = proc_run("exec grep -E '^Sig(Blk|Ign):' /proc/self/status", f->out_fd, NULL, 5000,
                       500, NULL, &status_r);

    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    for (int i = 0; i < 3; i++)
        sigaction(ignored[i], &old[i], NULL);

    char d[64];
    assert_int_equal(rc1, 0);
    assert_true(WIFSIGNALED(pipe_r.status));
    assert_int_equal(WTERMSIG(pipe_r.status), SIGPIPE);
    proc_describe(&pipe_r, 5000, d, sizeof(d));
    assert_string_equal(d, "killed by signal 13");
    assert_int_equal(rc2, 0);
    assert_true(WIFSIGNALED(usr1_r.status));
    assert_int_equal(WTERMSIG(usr1_r.status), SIGUSR1);
    assert_int_equal(rc3, 0);
    assert_true(proc_ok(&status_r));
    /* Signals 32 and 33 are glibc's own (thread cancel, setxid): sigaction refuses them,
     * the exec'd program's libc installs its handlers, and a caller of the tests may have
     * them ignored (seen in CI). Every other signal must be back at its default. */
    unsigned long long blk = 1, ignset = 1;
    assert_int_equal(sscanf(out_text(f), "SigBlk:\t%llx\nSigIgn:\t%llx", &blk, &ignset), 2);
    const unsigned long long glibc_own = (1ULL << (32 - 1)) | (1ULL << (33 - 1));
    assert_int_equal(blk & ~glibc_own, 0);
    assert_int_equal(ignset & ~glibc_own, 0);
}

static void test_descriptors_not_inherited(void **state)
{
    struct fx *f = *state;
    int low = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: fork would pass it on */
    assert_true(low >= 0);
    assert_int_equal(dup2(low, 200), 200);
    int out_hi = dup2(f->out_fd, 201); /* also no CLOEXEC; used as out_fd */
    assert_int_equal(out_hi, 201);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "for n in %d 200 201; do test -e /proc/$$/fd/$n && echo \"fd $n open\"; done;"
             " ls /proc/$$/fd",
             low);
    struct proc_result r;
    int rc = proc_run(cmd, out_hi, NULL, 5000, 500, NULL, &r);
    close(low);
    close(200);
    close(201);
    assert_int_equal(rc, 0);
    assert_true(proc_ok(&r));
    /* The shell holds 0-2 and nothing else of ours (ls lists the shell's table). */
    assert_string_equal(out_text(f), "0\n1\n2\n");
}

/* ---- timeouts, the process group, the stop flag ---------------------------------- */

static void test_timeout(void **state)
{
    (void)state;
    struct proc_result r;
    char d[64];
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(proc_run("sleep 30", -1, NULL, 200, 2000, NULL, &r), 0);
    int64_t took = ms_since(t0);
    assert_true(took >= 200);
    assert_true(took < 10000);
    assert_true(r.ms >= 200);
    assert_true(r.timed_out);
    assert_false(r.stopped);
    assert_false(proc_ok(&r));
    assert_true(WIFSIGNALED(r.status));
    assert_int_equal(WTERMSIG(r.status), SIGTERM); /* SIGTERM was enough: no grace waited */
    proc_describe(&r, 200, d, sizeof(d));
    assert_string_equal(d, "timed out after 200 ms");
    assert_no_children();
}

static void test_term_ignored_gets_kill_after_grace(void **state)
{
    (void)state;
    struct proc_result r;
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(proc_run("trap '' TERM; sleep 30", -1, NULL, 200, 300, NULL, &r), 0);
    int64_t took = ms_since(t0);
    assert_true(r.timed_out);
    assert_true(took >= 500); /* timeout + grace */
    assert_true(took < 10000);
    assert_true(WIFSIGNALED(r.status));
    assert_int_equal(WTERMSIG(r.status), SIGKILL);
    assert_no_children();
}

static void test_timeout_kills_whole_group(void **state)
{
    struct fx *f = *state;
    struct proc_result r;
    snprintf(f->cmd, sizeof(f->cmd), "sleep 30 & echo $! > %s; wait", f->pidfile);
    assert_int_equal(proc_run(f->cmd, -1, NULL, 300, 1000, NULL, &r), 0);
    assert_true(r.timed_out);
    assert_gone_soon(read_pid(f));
}

/* A member that ignores SIGTERM is SIGKILLed as soon as the shell is gone, not after the grace. */
static void test_group_leftover_killed_after_shell_dies(void **state)
{
    struct fx *f = *state;
    struct proc_result r;
    snprintf(f->cmd, sizeof(f->cmd), "trap '' TERM; sleep 30 & echo $! > %s; trap - TERM; wait",
             f->pidfile);
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(proc_run(f->cmd, -1, NULL, 300, 5000, NULL, &r), 0);
    assert_true(ms_since(t0) < 4500);
    assert_true(r.timed_out);
    assert_int_equal(WTERMSIG(r.status), SIGTERM);
    assert_gone_soon(read_pid(f));
}

static void test_background_child_killed_after_exit(void **state)
{
    struct fx *f = *state;
    struct proc_result r;
    snprintf(f->cmd, sizeof(f->cmd), "(sleep 30 & echo $! > %s); true", f->pidfile);
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(proc_run(f->cmd, f->out_fd, NULL, 5000, 500, NULL, &r), 0);
    assert_true(ms_since(t0) < 4000);
    assert_true(proc_ok(&r)); /* the step itself succeeded */
    assert_gone_soon(read_pid(f));
    assert_no_children();
}

static volatile sig_atomic_t alarm_stop;

static void on_alarm(int sig)
{
    (void)sig;
    alarm_stop = 1;
}

static void test_stop_flag_from_signal(void **state)
{
    struct fx *f = *state;
    struct sigaction sa = {.sa_handler = on_alarm}, old;
    sigemptyset(&sa.sa_mask); /* no SA_RESTART, like the worker's SIGTERM handler */
    sigaction(SIGALRM, &sa, &old);
    struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 200000}};
    struct itimerval off = {0};
    alarm_stop = 0;
    snprintf(f->cmd, sizeof(f->cmd), "sleep 30 & echo $! > %s; wait", f->pidfile);
    setitimer(ITIMER_REAL, &it, NULL);
    int64_t t0 = util_now_mono_ns();
    struct proc_result r;
    int rc = proc_run(f->cmd, -1, NULL, 0, 500, &alarm_stop, &r);
    int64_t took = ms_since(t0);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);

    assert_int_equal(rc, 0);
    assert_true(alarm_stop);
    assert_true(r.stopped);
    assert_false(r.timed_out);
    assert_false(proc_ok(&r));
    assert_true(took >= 150);
    assert_true(took < 10000);
    char d[64];
    proc_describe(&r, 0, d, sizeof(d));
    assert_string_equal(d, "stopped");
    assert_gone_soon(read_pid(f));
    assert_no_children();
}

static void test_stop_already_set(void **state)
{
    struct fx *f = *state;
    volatile sig_atomic_t stop = 1;
    struct proc_result r;
    snprintf(f->cmd, sizeof(f->cmd), "echo ran > %s", f->pidfile);
    assert_int_equal(proc_run(f->cmd, -1, NULL, 5000, 500, &stop, &r), 0);
    assert_true(r.stopped);
    assert_false(proc_ok(&r));
    assert_int_equal(access(f->pidfile, F_OK), -1); /* nothing was started */
}

/* The worker killed with -9: the shell gets SIGKILL from PR_SET_PDEATHSIG. */
static void test_shell_dies_with_worker(void **state)
{
    struct fx *f = *state;
    snprintf(f->cmd, sizeof(f->cmd), "echo $$ > %s.tmp && mv %s.tmp %s; sleep 30; true", f->pidfile,
             f->pidfile, f->pidfile);
    pid_t worker = fork();
    assert_true(worker >= 0);
    if (worker == 0) {
        struct proc_result r;
        proc_run(f->cmd, -1, NULL, 10000, 500, NULL, &r);
        _exit(0);
    }
    int64_t t0 = util_now_mono_ns();
    while (access(f->pidfile, F_OK) != 0 && ms_since(t0) < 5000)
        util_sleep_ns(5 * UTIL_NS_PER_MS);
    pid_t shell = read_pid(f);
    assert_false(pid_gone(shell));
    kill(worker, SIGKILL);
    assert_int_equal(waitpid(worker, NULL, 0), worker);
    assert_gone_soon(shell);
    killpg(shell, SIGKILL); /* its `sleep` outlives it (see proc.h): clean up */
}

/* ---- start failures, the fallback wait, many runs ------------------------------------ */

static void test_start_failures(void **state)
{
    (void)state;
    struct proc_result r;
    int fds = open_fd_count();
    char *bad_env[] = {"FOO=bar", "=nameless", NULL};
    assert_int_equal(proc_run("true", -1, bad_env, 5000, 500, NULL, &r), -EINVAL);
    /* A bad out_fd fails in the child before exec: reported through the error pipe. */
    assert_int_equal(fcntl(987, F_GETFD), -1);
    assert_int_equal(proc_run("true", 987, NULL, 5000, 500, NULL, &r), -EBADF);
    assert_no_children();
    fake_fork_fails = 1;
    assert_int_equal(proc_run("true", -1, NULL, 5000, 500, NULL, &r), -EAGAIN);
    fake_fork_fails = 0;
    assert_int_equal(open_fd_count(), fds);
}

static void test_without_pidfd(void **state)
{
    struct fx *f = *state;
    fake_no_pidfd = 1;
    struct proc_result r;
    assert_int_equal(proc_run("echo hi; exit 4", f->out_fd, NULL, 5000, 500, NULL, &r), 0);
    assert_int_equal(WEXITSTATUS(r.status), 4);
    assert_true(r.ms < 500);
    assert_string_equal(out_text(f), "hi\n");
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(proc_run("sleep 30", -1, NULL, 200, 500, NULL, &r), 0);
    assert_true(r.timed_out);
    assert_true(ms_since(t0) < 1000);
    assert_no_children();
}

static void test_many_runs_leave_nothing(void **state)
{
    (void)state;
    int fds = open_fd_count();
    for (int i = 0; i < 50; i++) {
        struct proc_result r;
        assert_int_equal(proc_run(i % 2 ? "exit 1" : "true", -1, NULL, 5000, 500, NULL, &r), 0);
        assert_int_equal(proc_ok(&r), i % 2 == 0);
    }
    assert_no_children();
    assert_int_equal(open_fd_count(), fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_true_ok),
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_describe),
        cmocka_unit_test_setup_teardown(test_output_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_is_dev_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_and_cwd, setup, teardown),
        cmocka_unit_test(test_own_process_group),
        cmocka_unit_test_setup_teardown(test_signals_not_inherited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_descriptors_not_inherited, setup, teardown),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_term_ignored_gets_kill_after_grace),
        cmocka_unit_test_setup_teardown(test_timeout_kills_whole_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_leftover_killed_after_shell_dies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_background_child_killed_after_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_flag_from_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_already_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shell_dies_with_worker, setup, teardown),
        cmocka_unit_test(test_start_failures),
        cmocka_unit_test_setup_teardown(test_without_pidfd, setup, teardown),
        cmocka_unit_test(test_many_runs_leave_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
