/*
 * log.c - console lines, per-item log files and audit JSONL (see log.h).
 *
 * Everything goes through the process's uring writer, so a burst of lines
 * costs one submission at the next log_flush(). Two rules keep the console
 * readable at any parallelism: a message is first cut into pieces of at most
 * LOG_LINE_MAX bytes (never inside a UTF-8 sequence), and each prefixed piece
 * is handed to the writer in ONE append ending in '\n', so the writer's
 * PIPE_BUF-sized, line-aligned writes on the shared console pipe never split
 * or interleave it. An audit record is likewise one append of one cJSON line;
 * a record torn by kill -9 is cut away when the file is next opened.
 */
#include "runtime/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "shm/util.h"

#define LOG_COORD_PREFIX "[COORDINATOR] "
#define LOG_FMT_STACK 1024 /* log_printf messages shorter than this need no malloc */
#define LOG_TAIL_CHUNK 4096

/* ---- output helpers ------------------------------------------------------ */

/* Without a writer (tools, early start-up) fall back to write(2). */
static void log_emit(struct log_sink *s, int fd, const char *buf, size_t len)
{
    if (fd < 0)
        return;
    if (s->uw) {
        (void)uring_writer_append(s->uw, fd, buf, len);
        return;
    }
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            (void)poll(&pf, 1, 1000);
            continue;
        }
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* "<prefix><piece>\n" as one append, so it lands in one write. */
static void log_emit_line(struct log_sink *s, int fd, const char *prefix, const char *piece,
                          size_t len)
{
    char line[sizeof(s->prefix) + sizeof(LOG_COORD_PREFIX) + LOG_LINE_MAX + 2];
    size_t plen = strnlen(prefix, sizeof(s->prefix) + sizeof(LOG_COORD_PREFIX));
    if (len > LOG_LINE_MAX)
        len = LOG_LINE_MAX; /* log_split_lines never gives more */
    memcpy(line, prefix, plen);
    memcpy(line + plen, piece, len);
    line[plen + len] = '\n';
    log_emit(s, fd, line, plen + len + 1);
}

/* ---- splitting ------------------------------------------------------------ */

static int log_is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/*
 * Where to cut a full buffer when the next byte is `next`: before the lead
 * byte of a sequence still in progress, so no piece starts or ends mid-char.
 * Invalid UTF-8 (no lead byte within 3 bytes) is cut at the limit.
 */
static size_t log_cut_point(const char *buf, size_t len, unsigned char next)
{
    if (!log_is_cont(next))
        return len;
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = (unsigned char)buf[len - back];
        if (!log_is_cont(c))
            return (c >= 0xC0 && back < len) ? len - back : len;
    }
    return len;
}

void log_split_lines(const char *msg, void (*fn)(const char *piece, size_t len, void *arg),
                     void *arg)
{
    char buf[LOG_LINE_MAX];
    size_t len = 0;
    if (!fn)
        return;
    if (!msg)
        msg = "";
    for (const char *p = msg;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\0' || c == '\n') {
            /* A message's final '\n' ends its last line; it starts no empty one. */
            if (!(c == '\0' && p > msg && p[-1] == '\n'))
                fn(buf, len, arg);
            len = 0;
            if (c == '\0')
                return;
            continue;
        }
        if (c == '\r')
            continue; /* CRLF text and stray carriage returns would garble a terminal */
        if (len == LOG_LINE_MAX) {
            size_t cut = log_cut_point(buf, len, c);
            fn(buf, cut, arg);
            memmove(buf, buf + cut, len - cut);
            len -= cut;
        }
        buf[len++] = (char)c;
    }
}

/* ---- messages ------------------------------------------------------------- */

struct log_piece_ctx {
    struct log_sink *s;
    const char *console_prefix; /* NULL = nothing to the console */
    const char *file_prefix;
};

static void log_piece(const char *piece, size_t len, void *arg)
{
    struct log_piece_ctx *c = arg;
    if (c->console_prefix)
        log_emit_line(c->s, c->s->console_fd, c->console_prefix, piece, len);
    log_emit_line(c->s, c->s->log_fd, c->file_prefix, piece, len);
}

static int log_is_coordinator(const struct log_sink *s)
{
    return strcmp(s->prefix, LOG_COORD_PREFIX) == 0;
}

void log_line(struct log_sink *s, const char *msg)
{
    if (!s)
        return;
    if (!msg)
        msg = "";
    /* Quiet is decided per message, so a FAILED message's continuation lines show too. */
    int show = !s->quiet || log_is_coordinator(s) || strncmp(msg, "FAILED", 6) == 0;
    struct log_piece_ctx c = {s, show ? s->prefix : NULL, ""};
    log_split_lines(msg, log_piece, &c);
}

/* vsnprintf into stack storage, or the heap when the message is long. */
__attribute__((format(printf, 3, 0))) static char *log_vformat(char *stack, size_t cap,
                                                               const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(stack, cap, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return NULL;
    }
    if ((size_t)n < cap) {
        va_end(ap2);
        return stack;
    }
    char *heap = malloc((size_t)n + 1);
    if (heap)
        vsnprintf(heap, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return heap;
}

void log_printf(struct log_sink *s, const char *fmt, ...)
{
    char stack[LOG_FMT_STACK];
    if (!s || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = log_vformat(stack, sizeof(stack), fmt, ap);
    va_end(ap);
    if (!msg)
        return;
    log_line(s, msg);
    if (msg != stack)
        free(msg);
}

void log_coordinator(struct log_sink *s, const char *fmt, ...)
{
    char stack[LOG_FMT_STACK];
    if (!s || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = log_vformat(stack, sizeof(stack), fmt, ap);
    va_end(ap);
    if (!msg)
        return;
    /* Marked in the item log too: it was not the item's own output. */
    struct log_piece_ctx c = {s, LOG_COORD_PREFIX, LOG_COORD_PREFIX};
    log_split_lines(msg, log_piece, &c);
    if (msg != stack)
        free(msg);
}

void log_file_only(struct log_sink *s, const char *title, const char *text)
{
    if (!s || s->log_fd < 0)
        return;
    char *rec = util_asprintf("----- %s -----\n%s\n", title ? title : "", text ? text : "");
    if (!rec)
        return;
    log_emit(s, s->log_fd, rec, strlen(rec));
    free(rec);
}

/* ---- audit ---------------------------------------------------------------- */

/* "2026-11-23T05:01:02.123Z" */
static void log_iso_now(char out[32])
{
    int64_t ns = util_now_real_ns();
    time_t sec = (time_t)(ns / UTIL_NS_PER_SEC);
    int ms = (int)((ns % UTIL_NS_PER_SEC) / UTIL_NS_PER_MS);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", ms);
}

static cJSON *log_audit_object(const struct log_sink *s, const char *event,
                               const struct audit_fields *f)
{
    char ts[32];
    log_iso_now(ts);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = cJSON_AddStringToObject(o, "ts", ts) && cJSON_AddStringToObject(o, "run", s->run_id) &&
             cJSON_AddStringToObject(o, "item", s->item_id) &&
             cJSON_AddStringToObject(o, "event", event ? event : "") &&
             (f->node ? cJSON_AddStringToObject(o, "node", f->node) != NULL
                      : cJSON_AddNullToObject(o, "node") != NULL);
    if (ok && f->key)
        ok = cJSON_AddStringToObject(o, "key", f->key) != NULL;
    if (ok && f->http_status >= 0)
        ok = cJSON_AddNumberToObject(o, "http_status", (double)f->http_status) != NULL;
    if (ok && f->latency_ms >= 0)
        ok = cJSON_AddNumberToObject(o, "latency_ms", (double)f->latency_ms) != NULL;
    if (ok && f->error)
        ok = cJSON_AddStringToObject(o, "error", f->error) != NULL;
    if (ok && f->input_tokens >= 0)
        ok = cJSON_AddNumberToObject(o, "input_tokens", (double)f->input_tokens) != NULL;
    if (ok && f->output_tokens >= 0)
        ok = cJSON_AddNumberToObject(o, "output_tokens", (double)f->output_tokens) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void log_audit(struct log_sink *s, const char *event, const struct audit_fields *f)
{
    static const struct audit_fields none = AUDIT_FIELDS_INIT;
    if (!s || s->audit_fd < 0)
        return;
    cJSON *o = log_audit_object(s, event, f ? f : &none);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text)
        return;
    size_t n = strlen(text);
    char *line = malloc(n + 2);
    if (line) {
        memcpy(line, text, n);
        line[n] = '\n';
        log_emit(s, s->audit_fd, line, n + 1); /* one append: one record, one write */
        free(line);
    }
    cJSON_free(text);
}

/* ---- sink and item files ------------------------------------------------- */

void log_sink_init(struct log_sink *s, struct uring_writer *uw, int console_fd, const char *run_id,
                   const char *item_id)
{
    if (!s)
        return;
    memset(s, 0, sizeof(*s));
    s->uw = uw;
    s->console_fd = console_fd;
    s->log_fd = -1;
    s->audit_fd = -1;
    util_strlcpy(s->run_id, run_id ? run_id : "", sizeof(s->run_id));
    util_strlcpy(s->item_id, item_id ? item_id : "", sizeof(s->item_id));
    if (item_id)
        snprintf(s->prefix, sizeof(s->prefix), "[%s] ", s->item_id);
    else
        util_strlcpy(s->prefix, LOG_COORD_PREFIX, sizeof(s->prefix));
}

/*
 * Cut a record torn by kill -9: keep everything up to the last '\n' (or
 * nothing), reading backwards a chunk at a time.
 */
static int log_repair_tail(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    off_t end = st.st_size;
    char chunk[LOG_TAIL_CHUNK];
    if (end == 0)
        return 0;
    if (pread(fd, chunk, 1, end - 1) != 1)
        return errno ? -errno : -EIO;
    if (chunk[0] == '\n')
        return 0;
    while (end > 0) {
        off_t start = end > LOG_TAIL_CHUNK ? end - LOG_TAIL_CHUNK : 0;
        ssize_t n = pread(fd, chunk, (size_t)(end - start), start);
        if (n != end - start)
            return n < 0 ? -errno : -EIO;
        for (ssize_t i = n; i > 0; i--)
            if (chunk[i - 1] == '\n')
                return ftruncate(fd, start + i) == 0 ? 0 : -errno;
        end = start;
    }
    return ftruncate(fd, 0) == 0 ? 0 : -errno;
}

static int log_open_file(const char *dir, const char *pre, const char *id, const char *suf,
                         int flags, int *out)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s%s%s", dir, pre, id, suf);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fprintf(stderr, "could not open item log in \"%s\": path too long\n", dir);
        return -ENAMETOOLONG;
    }
    *out = open(path, flags | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (*out < 0) {
        int e = errno;
        fprintf(stderr, "could not open item log \"%s\": %s\n", path, strerror(e));
        return -e;
    }
    return 0;
}

/* The ID becomes a file name and a console prefix: no path tricks, no control bytes. */
static int log_valid_id(const char *id)
{
    size_t n = id ? strnlen(id, SHM_ID_MAX) : 0;
    if (n == 0 || n >= SHM_ID_MAX || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, ".."))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return 0;
    return 1;
}

int log_open_item(struct log_sink *s, const char *run_dir, const char *item_id)
{
    if (!s || !run_dir)
        return -EINVAL;
    if (!log_valid_id(item_id)) {
        fprintf(stderr,
                "could not open item log: invalid item id (empty, over %d bytes, "
                "or holding '/' or control characters)\n",
                SHM_ID_MAX - 1);
        return -EINVAL;
    }
    log_close_item(s);
    int logfd = -1, audfd = -1;
    int rc = log_open_file(run_dir, "", item_id, ".log", O_WRONLY, &logfd);
    if (rc == 0) /* O_RDWR: the tail repair reads the file */
        rc = log_open_file(run_dir, "workflow-audit-", item_id, ".jsonl", O_RDWR, &audfd);
    if (rc == 0 && (rc = log_repair_tail(audfd)) < 0)
        fprintf(stderr, "could not repair audit file of \"%s\": %s\n", item_id, strerror(-rc));
    if (rc < 0) {
        if (logfd >= 0)
            close(logfd);
        if (audfd >= 0)
            close(audfd);
        return rc;
    }
    s->log_fd = logfd;
    s->audit_fd = audfd;
    util_strlcpy(s->item_id, item_id, sizeof(s->item_id));
    snprintf(s->prefix, sizeof(s->prefix), "[%s] ", s->item_id);
    return 0;
}

static void log_close_fd(struct log_sink *s, int *fd)
{
    if (*fd < 0)
        return;
    if (s->uw)
        (void)uring_writer_forget_fd(s->uw, *fd);
    close(*fd);
    *fd = -1;
}

void log_close_item(struct log_sink *s)
{
    if (!s)
        return;
    log_close_fd(s, &s->log_fd);
    log_close_fd(s, &s->audit_fd);
}

int log_flush(struct log_sink *s)
{
    if (!s || !s->uw)
        return 0;
    return uring_writer_flush(s->uw);
}

int log_item_error(struct log_sink *s)
{
    if (!s || !s->uw)
        return 0;
    uring_writer_flush(s->uw);
    int e = s->log_fd >= 0 ? uring_writer_fd_error(s->uw, s->log_fd) : 0;
    if (!e && s->audit_fd >= 0)
        e = uring_writer_fd_error(s->uw, s->audit_fd);
    return e;
}

/* ---- the LLM client's reports -------------------------------------------- */

static void log_ev_coordinator(void *arg, const char *line)
{
    log_coordinator(arg, "%s", line);
}

static void log_ev_exchange(void *arg, const char *title, const char *text)
{
    log_file_only(arg, title, text);
}

static void log_ev_audit(void *arg, const struct llm_audit *a)
{
    struct audit_fields f = AUDIT_FIELDS_INIT;
    f.node = a->node;
    f.key = a->key;
    f.error = a->error;
    f.http_status = a->http_status;
    f.latency_ms = a->latency_ms;
    f.input_tokens = a->input_tokens;
    f.output_tokens = a->output_tokens;
    log_audit(arg, a->event, &f);
}

static void log_ev_flush(void *arg)
{
    log_flush(arg);
}

void log_llm_events(struct log_sink *s, struct llm_events *ev)
{
    ev->coordinator = log_ev_coordinator;
    ev->exchange = log_ev_exchange;
    ev->audit = log_ev_audit;
    ev->flush = log_ev_flush;
    ev->arg = s;
}
