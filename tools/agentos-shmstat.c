/*
 * agentos-shmstat - a live inspector of agentos runs, read from their shared
 * segments the way pg_stat_activity reads PostgreSQL's: without stopping
 * anybody.
 *
 *   agentos-shmstat                      list the runs (live and stale)
 *   agentos-shmstat RUN                  one snapshot as text tables
 *   agentos-shmstat RUN --watch [S]      redraw every S seconds (default 1)
 *   agentos-shmstat RUN --json           one JSON document (docs/shmstat.md)
 *   agentos-shmstat RUN --prometheus     the Prometheus text exposition
 *   agentos-shmstat RUN --listen H:P     serve GET /metrics while the run lasts
 *
 * The segment is mapped read-only (PROT_READ): this program cannot write it,
 * and it never takes a lock, so a worker dying while the inspector looks
 * cannot wedge either of them. The snapshot (shm/snapshot.h) and its
 * renderings (tools/shmstat/metrics.h) do the work; this file is options, run-name
 * resolution and the terminal; tools/shmstat/listen.c is the HTTP endpoint and
 * tools/shmstat/stop.c says when a --watch or --listen ends. Exit status: 0, 1
 * (no such run, another layout version, I/O error), 2 (usage).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tools/shmstat/guard.h"
#include "tools/shmstat/metrics.h"
#include "tools/shmstat/shmstat.h"
#include "shm/segment.h"
#include "shm/snapshot.h"

enum shmstat_mode { MODE_TABLE, MODE_JSON, MODE_PROM, MODE_LISTEN };

struct shmstat_opts {
    const char *run;
    enum shmstat_mode mode;
    int watch;
    double interval_s;
    const char *listen;
};

static void shmstat_usage(FILE *f)
{
    fputs(
        "usage: agentos-shmstat [RUN] [--watch [S] | --json | --prometheus | --listen HOST:PORT]\n"
        "Inspect agentos runs through their shared memory (read-only, lock-free).\n"
        "  (no RUN)            list the runs: id, workflow, coordinator, start, state, progress\n"
        "  RUN                 a run id, a unique prefix of one, or /agentos-<id>\n"
        "  --watch [S]         redraw the snapshot every S seconds (default 1) until the run\n"
        "                      ends or Ctrl+C; S is taken if the next argument is a number\n"
        "  --json              one JSON document (schema in docs/shmstat.md)\n"
        "  --prometheus        the Prometheus text exposition format\n"
        "  --listen HOST:PORT  serve GET /metrics and GET /healthz (200 while the run\n"
        "                      runs and a key can serve, else 503 and why) over HTTP\n"
        "                      while the run lasts\n"
        "                      (HOST default 127.0.0.1; port 0 picks a free one)\n"
        "  -h, --help          this text\n"
        "Exit status: 0 ok, 1 no such run / other layout version / error, 2 usage.\n",
        f);
}

/* A plain decimal ("0.5", "2"), as --watch's optional value. */
static int shmstat_number(const char *s, double *out)
{
    char *end;
    double v;

    if (!s || !*s || strspn(s, "0123456789.") != strlen(s))
        return 0;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

static int shmstat_set_mode(struct shmstat_opts *o, enum shmstat_mode m, const char *flag)
{
    if (o->mode != MODE_TABLE && o->mode != m)
        return shmstat_usage_error("only one of --json, --prometheus, --listen", flag);
    o->mode = m;
    return 0;
}

/* Returns 0, 2 after a usage error was printed, or 3 for --help. */
static int shmstat_parse(int argc, char **argv, struct shmstat_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->interval_s = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            return 3;
        } else if (!strcmp(a, "--watch")) {
            o->watch = 1;
            if (i + 1 < argc && shmstat_number(argv[i + 1], &o->interval_s))
                i++;
        } else if (!strncmp(a, "--watch=", 8)) {
            o->watch = 1;
            if (!shmstat_number(a + 8, &o->interval_s))
                return shmstat_usage_error("--watch: not a number of seconds", a + 8);
        } else if (!strcmp(a, "--json")) {
            rc = shmstat_set_mode(o, MODE_JSON, a);
        } else if (!strcmp(a, "--prometheus")) {
            rc = shmstat_set_mode(o, MODE_PROM, a);
        } else if (!strcmp(a, "--listen")) {
            if (i + 1 >= argc)
                return shmstat_usage_error("--listen needs HOST:PORT", NULL);
            rc = shmstat_set_mode(o, MODE_LISTEN, a);
            o->listen = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return shmstat_usage_error("unknown option", a);
        } else if (o->run) {
            return shmstat_usage_error("more than one RUN given", a);
        } else {
            o->run = a;
        }
        if (rc)
            return rc;
    }
    if (o->watch && (o->interval_s < 0.01 || o->interval_s > 3600))
        return shmstat_usage_error("--watch: the interval must be 0.01 to 3600 seconds", NULL);
    if (o->watch && o->mode != MODE_TABLE)
        return shmstat_usage_error("--watch shows the tables; it cannot be combined with --json, "
                                   "--prometheus or --listen",
                                   NULL);
    if (!o->run && (o->watch || o->mode != MODE_TABLE))
        return shmstat_usage_error("--watch, --json, --prometheus and --listen need a RUN", NULL);
    return 0;
}

/* ---- run names ------------------------------------------------------- */

struct shmstat_match {
    const char *want; /* bare run id or prefix */
    char exact[64], first[64];
    int prefix_hits;
};

static void shmstat_match_one(const char *name, int32_t pid, int stale, void *arg)
{
    struct shmstat_match *m = arg;
    const char *id = name + strlen(SHM_NAME_PREFIX);

    (void)pid;
    (void)stale;
    if (!strcmp(id, m->want))
        snprintf(m->exact, sizeof(m->exact), "%s", name);
    else if (!strncmp(id, m->want, strlen(m->want)) && m->prefix_hits++ == 0)
        snprintf(m->first, sizeof(m->first), "%s", name);
}

/* RUN -> "/agentos-<id>": exact id, else a unique prefix. 0, or 1 after a message. */
static int shmstat_resolve(const char *run, char *name, size_t len)
{
    struct shmstat_match m = {.want = run};

    if (run[0] == '/') {
        snprintf(name, len, "%s", run);
        return 0;
    }
    if (run[0])
        shm_segment_list(shmstat_match_one, &m);
    if (m.exact[0])
        snprintf(name, len, "%s", m.exact);
    else if (m.prefix_hits == 1)
        snprintf(name, len, "%s", m.first);
    else if (m.prefix_hits > 1) {
        fprintf(stderr, PROG ": run \"%s\" is ambiguous: %d runs start with it\n", run,
                m.prefix_hits);
        return 1;
    } else
        snprintf(name, len, "%s%s", SHM_NAME_PREFIX, run);
    return 0;
}

static int shmstat_attach(const char *run, struct shm_segment *seg)
{
    char name[64], err[256];
    int rc;

    if (shmstat_resolve(run, name, sizeof(name)))
        return 1;
    rc = shm_segment_attach(seg, name, 1, err, sizeof(err));
    if (rc == -ENOENT || rc == -EINVAL) {
        fprintf(stderr, PROG ": no such run \"%s\"\n", run);
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 1;
    }
    return 0;
}

/* A positive whole number from the environment (COLUMNS, LINES), else 0. */
static int shmstat_env_int(const char *name)
{
    const char *v = getenv(name);
    char *end;
    long n = v && *v ? strtol(v, &end, 10) : 0;

    return n > 0 && n < 10000 && !*end ? (int)n : 0;
}

/* The terminal's size (TIOCGWINSZ), else COLUMNS and LINES, else 80 columns. */
static void shmstat_winsize(int *cols, int *rows)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
        return;
    }
    *cols = shmstat_env_int("COLUMNS");
    *rows = shmstat_env_int("LINES");
    if (*cols <= 0)
        *cols = 80;
}

/*
 * Cut every line of text to width columns, in place. The tables are ASCII
 * ('?' for anything else), so a byte is a column. A line that wrapped would
 * take two rows and push the frame off the top of the screen, so a terminal
 * narrower than the tables sees their left part, redrawn in place.
 */
static void shmstat_fit(char *text, int width)
{
    char *in = text, *out = text;

    while (*in) {
        size_t n = strcspn(in, "\n");
        size_t keep = width > 0 && n > (size_t)width ? (size_t)width : n;

        memmove(out, in, keep);
        out += keep;
        in += n;
        if (*in == '\n')
            *out++ = *in++;
    }
    *out = '\0';
}

/* ---- list ------------------------------------------------------------ */

static void shmstat_list_one(const char *name, int32_t pid, int stale, void *arg)
{
    int width = *(int *)arg;
    struct shm_segment seg;
    struct snap s;
    char err[256];

    if (shm_segment_attach(&seg, name, 1, err, sizeof(err)) < 0) {
        metrics_list_row(NULL, name, pid, stale,
                         strstr(err, "layout version") ? "mismatch" : "unreadable", width, stdout);
        return;
    }
    if (guard_snap_take(&seg, &s) == 0) {
        metrics_list_row(&s, name, pid, stale, NULL, width, stdout);
        snap_free(&s);
    } else {
        metrics_list_row(NULL, name, pid, stale, "unreadable", width, stdout);
    }
    shm_segment_detach(&seg);
}

static int shmstat_list(void)
{
    int width, rows, n;

    shmstat_winsize(&width, &rows);
    if (!isatty(STDOUT_FILENO))
        width = 80;
    metrics_list_header(width, stdout);
    n = shm_segment_list(shmstat_list_one, &width);
    if (n < 0) {
        fprintf(stderr, PROG ": could not list /dev/shm: %s\n", strerror(-n));
        return 1;
    }
    if (n == 0)
        puts("(no agentos runs)");
    return 0;
}

/* ---- one snapshot ---------------------------------------------------- */

/* A snapshot could not be taken (rc from guard_snap_take): say why. Returns 1. */
static int shmstat_snap_failed(const struct shm_segment *seg, int rc)
{
    if (rc == -EFAULT)
        fprintf(stderr, PROG ": run %s: its segment was truncated under the inspector; stopping\n",
                seg->name + strlen(SHM_NAME_PREFIX));
    else
        fprintf(stderr, PROG ": %s\n", strerror(-rc));
    return 1;
}

static int shmstat_once(const struct shm_segment *seg, enum shmstat_mode mode)
{
    struct metrics_table_opts to = {0};
    struct snap s;
    int rows, rc = 0;

    if ((rc = guard_snap_take(seg, &s)) < 0)
        return shmstat_snap_failed(seg, rc);
    if (mode == MODE_JSON) {
        char *j = metrics_json(&s, 1);
        rc = j ? puts(j) < 0 : 1;
        free(j);
    } else if (mode == MODE_PROM) {
        rc = metrics_prometheus(&s, stdout) < 0;
    } else {
        shmstat_winsize(&to.width, &rows);
        rc = metrics_table(&s, &to, stdout) < 0;
    }
    snap_free(&s);
    if (fflush(stdout) != 0)
        rc = 1;
    return rc;
}

/* ---- --watch --------------------------------------------------------- */

/*
 * One frame for a terminal: from the home position, every line followed by
 * "erase to end of line", then "erase below". Nothing is cleared first, so
 * the screen never flashes; the whole frame goes out in one write.
 */
static void shmstat_frame(const char *text, int rows, FILE *out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int line = 0;

    if (!f)
        return;
    fputs("\x1b[H", f);
    for (const char *p = text; *p && (rows <= 0 || line < rows - 1); line++) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fwrite(p, 1, n, f);
        fputs("\x1b[K\n", f);
        p += n + (nl ? 1 : 0);
    }
    fputs("\x1b[J", f);
    fclose(f);
    fwrite(buf, 1, len, out);
    fflush(out);
    free(buf);
}

/* Lines the tables other than items take, to budget item rows on screen. */
static int shmstat_fixed_lines(const struct snap *s)
{
    return 7 + (s->key_count ? s->key_count + 2 : 0) +
           (s->endpoint_count ? s->endpoint_count + 2 : 0) +
           (s->node_count ? s->node_count + 2 : 0) + (s->worker_count ? s->worker_count + 2 : 0) +
           1;
}

static char *shmstat_render(const struct snap *s, int width, int rows)
{
    struct metrics_table_opts to = {.width = width, .max_item_rows = 0};
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (rows > 0) {
        to.max_item_rows = rows - shmstat_fixed_lines(s);
        if (to.max_item_rows < 3)
            to.max_item_rows = 3;
    }
    f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    metrics_table(s, &to, f);
    fclose(f);
    return buf;
}

static int shmstat_watch(const struct shm_segment *seg, double interval_s)
{
    int tty = isatty(STDOUT_FILENO), width, rows, rc = 0;
    const char *why = NULL;
    char *last = NULL;

    if (tty)
        fputs("\x1b[?1049h\x1b[?25l", stdout); /* alternate screen, hide cursor */
    while (!shmstat_stop) {
        struct snap s;
        char *text;

        if ((rc = guard_snap_take(seg, &s)) < 0) {
            if (tty)
                fputs("\x1b[?25h\x1b[?1049l", stdout); /* the message on the main screen */
            free(last);
            return shmstat_snap_failed(seg, rc);
        }
        shmstat_winsize(&width, &rows); /* every frame: the terminal may have been resized */
        text = shmstat_render(&s, width, tty ? rows : 0);
        if (text)
            shmstat_fit(text, width);
        why = shmstat_ended(seg, &s);
        snap_free(&s);
        if (text && tty)
            shmstat_frame(text, rows, stdout);
        else if (text)
            printf("%s\n", text), fflush(stdout);
        free(last);
        last = text;
        if (why)
            break;
        shmstat_nap(interval_s);
    }
    if (tty) {
        fputs("\x1b[?25h\x1b[?1049l", stdout); /* show cursor, main screen */
        if (why && last)
            fputs(last, stdout); /* keep the final picture on the main screen */
    }
    if (why)
        printf(PROG ": run %s %s\n", seg->name + strlen(SHM_NAME_PREFIX), why);
    fflush(stdout);
    free(last);
    return rc;
}

int main(int argc, char **argv)
{
    struct shmstat_opts o;
    struct shm_segment seg;
    int rc = shmstat_parse(argc, argv, &o);

    if (rc == 3) {
        shmstat_usage(stdout);
        return 0;
    }
    if (rc)
        return rc;
    guard_install();
    if (!o.run)
        return shmstat_list();
    if (shmstat_attach(o.run, &seg))
        return 1;
    shmstat_signals();
    if (o.watch)
        rc = shmstat_watch(&seg, o.interval_s);
    else if (o.mode == MODE_LISTEN)
        rc = shmstat_listen(&seg, o.listen);
    else
        rc = shmstat_once(&seg, o.mode);
    shm_segment_detach(&seg);
    return rc;
}
