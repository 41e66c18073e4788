/*
 * listen.c - agentos-shmstat's --listen: serve GET /metrics (the Prometheus
 * exposition of a fresh snapshot) and GET /healthz (200 while the run runs and
 * a key can serve, else 503 with a JSON body saying why) over HTTP while the
 * run lasts. The daemon's own thread answers each request from a snapshot it
 * takes then; the main thread only naps and checks whether the run is over or
 * a signal asked to stop (stop.c), then stops the daemon. Nothing here writes
 * the segment or takes a lock in it.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "tools/shmstat/guard.h"
#include "tools/shmstat/metrics.h"
#include "tools/shmstat/shmstat.h"
#include "shm/segment.h"
#include "shm/snapshot.h"

/* GET /healthz: 200 or 503 with a JSON body saying why (metrics_health). */
static enum MHD_Result shmstat_health(struct MHD_Connection *c, const struct shm_segment *seg)
{
    struct snap s;
    unsigned status = MHD_HTTP_SERVICE_UNAVAILABLE;
    const char *ended =
        shmstat_gone(seg->name) ? "gone: the run has ended (its segment is gone)" : NULL;
    int rc = guard_snap_take(seg, &s), have = rc == 0;
    const char *unreadable = rc == -EFAULT
                                 ? "unreadable: its segment was truncated under the inspector"
                                 : "unreadable: out of memory";
    char *body = metrics_health(have ? &s : NULL, have ? ended : unreadable, &status);
    if (have)
        snap_free(&s);
    if (!body)
        return MHD_NO;
    size_t len = strlen(body);
    body[len] = '\0';
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result shmstat_serve(void *cls, struct MHD_Connection *c, const char *url,
                                     const char *method, const char *version, const char *data,
                                     size_t *data_size, void **con_cls)
{
    const struct shm_segment *seg = cls;
    struct MHD_Response *r;
    unsigned status = MHD_HTTP_OK;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    enum MHD_Result ret;

    (void)version, (void)data, (void)data_size, (void)con_cls;
    f = open_memstream(&buf, &len);
    if (!f)
        return MHD_NO;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        fputs("only GET /metrics and GET /healthz\n", f);
    } else if (!strcmp(url, "/healthz")) {
        fclose(f);
        free(buf);
        return shmstat_health(c, seg);
    } else if (strcmp(url, "/metrics")) {
        status = MHD_HTTP_NOT_FOUND;
        fputs("not found; try /metrics or /healthz\n", f);
    } else {
        struct snap s;
        if (guard_snap_take(seg, &s) == 0) {
            metrics_prometheus(&s, f);
            snap_free(&s);
        } else {
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    fclose(f);
    r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type",
                            status == MHD_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8"
                                                  : "text/plain; charset=utf-8");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* "HOST:PORT", "[v6]:PORT" or ":PORT" -> an address to bind. 0 or 2 after a message. */
static int shmstat_listen_addr(const char *spec, struct addrinfo **ai)
{
    char host[256];
    const char *colon = strrchr(spec, ':'), *h = spec;
    size_t hl;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG};
    int rc;

    if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return shmstat_usage_error("--listen: expected HOST:PORT", spec);
    hl = (size_t)(colon - spec);
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']')
        h++, hl -= 2;
    if (hl >= sizeof(host))
        return shmstat_usage_error("--listen: host too long", NULL);
    memcpy(host, h, hl);
    host[hl] = '\0';
    rc = getaddrinfo(hl ? host : "127.0.0.1", colon + 1, &hints, ai);
    if (rc) {
        fprintf(stderr, PROG ": --listen: cannot resolve \"%s\": %s\n", spec, gai_strerror(rc));
        return 2;
    }
    return 0;
}

int shmstat_listen(const struct shm_segment *seg, const char *spec)
{
    struct addrinfo *ai = NULL;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    const char *why = NULL;
    int rc = shmstat_listen_addr(spec, &ai);

    if (rc)
        return rc;
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                             (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                         0, NULL, NULL, shmstat_serve, (void *)seg, MHD_OPTION_SOCK_ADDR,
                         ai->ai_addr, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, PROG ": could not listen on %s: %s\n", spec, strerror(errno));
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf(PROG ": serving /metrics and /healthz of run %s on port %u\n",
           seg->name + strlen(SHM_NAME_PREFIX), info ? (unsigned)info->port : 0u);
    fflush(stdout);
    uint32_t state = SHM_RUN_RUNNING;
    while (!shmstat_stop && !(why = shmstat_ended(seg, NULL)) &&
           (rc = guard_run_state(seg, &state)) == 0 && state != SHM_RUN_DONE)
        shmstat_nap(0.2);
    MHD_stop_daemon(d);
    if (rc == -EFAULT) {
        fprintf(stderr, PROG ": run %s: its segment was truncated under the inspector; stopping\n",
                seg->name + strlen(SHM_NAME_PREFIX));
        return 1;
    }
    if (why || !shmstat_stop)
        printf(PROG ": run %s %s; stopped serving\n", seg->name + strlen(SHM_NAME_PREFIX),
               why ? why : "is done");
    fflush(stdout);
    return 0;
}
