/*
 * result.c - writing and reading result files (see result.h).
 *
 * A result is the front-matter block followed by a blank line and the body,
 * written through util_write_file_atomic so a reader (or a crash) sees the old
 * file or the whole new one. Reading only needs source_sha256, which decides
 * whether an item is pending; the reader therefore looks at the front matter
 * alone and at most RESULT_READ_MAX bytes, so a huge or hostile file in the
 * output folder costs nothing and can never be mistaken for a match.
 */
#include "runtime/result.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/util.h"

#define RESULT_READ_MAX (64 * 1024)
#define RESULT_FM_LINES 64

static int result_is_sha(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* A front-matter value must stay on its line. */
static int result_is_field(const char *s)
{
    return s && *s && !strpbrk(s, "\r\n");
}

static const char *result_check_meta(const struct result_meta *m)
{
    if (!m->status ||
        (strcmp(m->status, "approved") != 0 && strcmp(m->status, "needs-revision") != 0 &&
         strcmp(m->status, "passed") != 0))
        return "status must be approved, needs-revision or passed";
    if (m->rounds < 0)
        return "rounds is negative";
    if (!result_is_sha(m->source_sha256))
        return "source_sha256 is not 64 lower-case hex digits";
    if (!result_is_field(m->workflow) || !result_is_field(m->item_id))
        return "workflow and item must be non-empty single-line text";
    return NULL;
}

int result_write(const char *out_path, const struct result_meta *m, const char *body, char *err,
                 size_t errlen)
{
    const char *bad = !out_path || !*out_path ? "no output path" : result_check_meta(m);
    if (bad) {
        util_errf(err, errlen, "result %s: %s", out_path ? out_path : "(none)", bad);
        return -EINVAL;
    }
    if (!body)
        body = "";
    size_t bl = strlen(body);
    const char *nl = bl > 0 && body[bl - 1] != '\n' ? "\n" : "";
    char *text =
        util_asprintf("---\nstatus: %s\nrounds: %d\nsource_sha256: %s\nworkflow: %s\n"
                      "item: %s\n---\n\n%s%s",
                      m->status, m->rounds, m->source_sha256, m->workflow, m->item_id, body, nl);
    if (!text) {
        util_errf(err, errlen, "could not write result %s: %s", out_path, strerror(ENOMEM));
        return -ENOMEM;
    }
    char *dir = strdup(out_path);
    int e = dir ? util_mkdir_p(dirname(dir), 0700) : -ENOMEM;
    free(dir);
    if (e) {
        util_errf(err, errlen, "could not create the folder of result %s: %s", out_path,
                  strerror(-e));
    } else if ((e = util_write_file_atomic(out_path, text, strlen(text))) != 0) {
        util_errf(err, errlen, "could not write result %s: %s", out_path, strerror(-e));
    }
    free(text);
    return e;
}

/* Read at most max bytes of path into buf (NUL-terminated). */
static int result_read_head(const char *path, char *buf, size_t max, size_t *len)
{
    /* O_NONBLOCK: a FIFO planted in the output folder must not hang discovery. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    size_t used = 0;
    while (used < max) {
        ssize_t r = read(fd, buf + used, max - used);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    close(fd);
    buf[used] = '\0';
    *len = used;
    return 0;
}

/* Cut the line at *pos, advancing *pos; NULL at the end of the text. Drops a '\r'. */
static char *result_next_line(char *buf, size_t len, size_t *pos)
{
    if (*pos >= len)
        return NULL;
    char *line = buf + *pos;
    char *nl = memchr(line, '\n', len - *pos);
    if (!nl)
        return NULL; /* a line cut by the read limit or EOF cannot close the block */
    *nl = '\0';
    *pos = (size_t)(nl - buf) + 1;
    if (nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    return line;
}

/* Value of a "key: value" front-matter line, or NULL if the line is another key. */
static const char *result_field(const char *line, const char *key)
{
    size_t kl = strlen(key);
    if (strncmp(line, key, kl) != 0 || line[kl] != ':')
        return NULL;
    return line + kl + 1 + strspn(line + kl + 1, " \t");
}

static int result_parse(char *buf, size_t len, struct result_info *ri)
{
    size_t pos = 0;
    char *line = result_next_line(buf, len, &pos);
    memset(ri, 0, sizeof(*ri));
    if (!line || strcmp(line, "---") != 0)
        return -EINVAL;
    for (int i = 0; i < RESULT_FM_LINES; i++) {
        if (!(line = result_next_line(buf, len, &pos)))
            return -EINVAL;
        if (strcmp(line, "---") == 0)
            return ri->sha256[0] ? 0 : -EINVAL;
        const char *v;
        if ((v = result_field(line, "status"))) {
            snprintf(ri->status, sizeof(ri->status), "%.*s", (int)strcspn(v, " \t"), v);
        } else if ((v = result_field(line, "rounds"))) {
            ri->rounds = atoi(v);
        } else if ((v = result_field(line, "source_sha256"))) {
            size_t vl = strcspn(v, " \t");
            if (vl != 64 || v[vl + strspn(v + vl, " \t")] != '\0')
                return -EINVAL;
            memcpy(ri->sha256, v, 64);
            ri->sha256[64] = '\0';
            if (!result_is_sha(ri->sha256))
                return -EINVAL;
        }
    }
    return -EINVAL;
}

int result_read(const char *out_path, struct result_info *ri)
{
    char *buf = malloc(RESULT_READ_MAX + 1);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    int e = result_read_head(out_path, buf, RESULT_READ_MAX, &len);
    if (e == 0)
        e = result_parse(buf, len, ri);
    free(buf);
    return e;
}

int result_read_sha(const char *out_path, char out[65])
{
    struct result_info ri;
    int e = result_read(out_path, &ri);
    if (e == 0)
        memcpy(out, ri.sha256, 65);
    return e;
}
