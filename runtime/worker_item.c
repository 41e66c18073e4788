/*
 * worker_item.c - one claimed item's run inside a worker (worker.c is the
 * process and its loop).
 *
 * The item is owned first (runtime/own.h: the lock file beside its
 * checkpoint), so nothing touches its checkpoint while another run holds it.
 * A result file that already matches the input ends it at once (the result is
 * the item's commit point). Otherwise its checkpoint is opened (a corrupt one
 * is quarantined and the item fails), the item resumes at the saved next node,
 * runs the nodes from the workflow table, checkpoints after every node in one
 * SQLite transaction, and runs again from its checkpoint while its `retries`
 * last. Its progress slot (a local struct prog_item published with
 * prog_write) shows every step to the coordinator.
 *
 * Safe points: between nodes, and inside llm_complete (which polls the stop
 * flag while waiting and aborts transfers). A node is never half-saved: the
 * checkpoint transaction commits or the previous save stands. At SIGTERM an
 * HTTP request in flight is abandoned, the last checkpoint stays, and the
 * item is marked interrupted.
 */
#include "runtime/worker_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/ckpt.h"
#include "llm/llm.h"
#include "runtime/log.h"
#include "runtime/own.h"
#include "runtime/result.h"
#include "runtime/wrk_limits.h"
#include "shm/util.h"
#include "shm/crashpoint.h"
#include "shm/heartbeat.h"
#include "shm/prog.h"

/* Per-item working set of a worker. */
struct wrk_item {
    struct run_ctx *rc;
    struct shm_worker_sh *me; /* this worker's slot: heartbeat, RSS */
    struct prog_slot_sh *slot;
    struct prog_item p; /* local copy; published with prog_write */
    struct log_sink *log;
    struct llm_client *llm;
    int64_t node_started_ns;
    char source_sha256[65]; /* the input's hash the checkpoint records */
    unsigned worker;        /* this worker's slot */
    int idx;                /* the item's progress slot */
    unsigned retries_left;  /* the item's retries not used yet */
    int retryable;          /* the failure being reported may be retried */
    int retrying;           /* it will be: run the item again from its checkpoint */
    long timeout_s;         /* the item's limit for a node */
    int64_t deadline_ns;    /* its group's deadline (CLOCK_MONOTONIC), 0 = none */
    const char *group;      /* that group's name, and its timeout */
    long group_timeout_s;
};

static void publish(struct wrk_item *w)
{
    w->p.updated_ns = util_now_mono_ns();
    atomic_store_explicit(&w->me->heartbeat_ns, w->p.updated_ns, memory_order_relaxed);
    w->p.requests = w->llm->requests;
    w->p.http_429 = w->llm->http_429;
    w->p.input_tokens = (uint64_t)w->llm->input_tokens;
    w->p.output_tokens = (uint64_t)w->llm->output_tokens;
    w->p.cost = w->llm->cost;
    prog_write(w->slot, &w->p);
}

/* The item's wait for a key shows in its progress slot (the coordinator counts them). */
void wrk_on_wait(void *arg, int waiting)
{
    struct wrk_item *w = arg;
    if (waiting && w->p.state != PROG_WAITING_KEY) {
        w->p.state = PROG_WAITING_KEY;
        publish(w);
    } else if (!waiting && w->p.state == PROG_WAITING_KEY) {
        w->p.state = PROG_RUNNING;
        publish(w);
    }
}

/* Count one finished node execution in the segment's per-node stats. */
static void count_node(struct wrk_item *w, const char *name, int64_t took_ns, int failed)
{
    int i = wf_node_index(w->rc->wf, name);
    struct node_stat_sh *n = i < 0 ? NULL : shm_node_slot(&w->rc->seg, (uint32_t)i);
    if (!n)
        return;
    uint64_t ms = took_ns > 0 ? (uint64_t)(took_ns / UTIL_NS_PER_MS) : 0;
    atomic_fetch_add_explicit(&n->runs, 1, memory_order_relaxed);
    if (failed)
        atomic_fetch_add_explicit(&n->failures, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&n->duration_ms_sum, ms, memory_order_relaxed);
    atomic_fetch_add_explicit(&n->duration_hist[shm_hist_bucket(ms)], 1, memory_order_relaxed);
}

/* End the item as failed with reason (logged, audited, published later). Returns -EIO. */
static int fail_item(struct wrk_item *w, const char *node, const char *reason)
{
    char why[SHM_REASON_MAX];
    if (w->deadline_ns && util_now_mono_ns() >= w->deadline_ns) {
        /* whatever stopped it, its group's time is up: say so, and no retry */
        util_errf(why, sizeof(why), "group %s passed its timeout of %lds (%s)", w->group,
                  w->group_timeout_s, reason);
        reason = why;
        w->retries_left = 0;
    }
    if (w->retryable && w->retries_left > 0 && !wrk_stop) {
        /* the item's `retries`: say so, and run it again from its checkpoint */
        log_printf(w->log, "Attempt failed: %s; retrying (%u retr%s left)", reason,
                   w->retries_left - 1, w->retries_left - 1 == 1 ? "y" : "ies");
        struct audit_fields f = AUDIT_FIELDS_INIT;
        f.node = node;
        f.error = reason;
        log_audit(w->log, "item_retry", &f);
        w->retrying = 1;
        return -EIO;
    }
    log_printf(w->log, "FAILED: %s", reason);
    struct audit_fields f = AUDIT_FIELDS_INIT;
    f.node = node;
    f.error = reason;
    log_audit(w->log, "item_failed", &f);
    w->p.state = PROG_FAILED;
    util_strlcpy(w->p.reason, reason, sizeof(w->p.reason));
    return -EIO;
}

/*
 * Load the item's checkpoint into (next node index, state). 0; or, after failing
 * the item, -EIO (unreadable) or -EBADMSG (corrupt: the caller quarantines it).
 */
static int resume_point(struct wrk_item *w, struct ckpt *c, const char *path, int *node,
                        cJSON **state)
{
    const struct wf_desc *wf = w->rc->wf;
    char *next = NULL, *json = NULL;
    int finished = 0;
    int rc = ckpt_load(c, &next, &json, &finished);
    *node = 0;
    *state = NULL;
    if (rc == -ENOENT) {
        *state = cJSON_CreateObject();
        return 0;
    }
    char reason[256];
    if (rc == -EBADMSG) { /* a row that is not a valid save: corrupt, keep it aside */
        util_errf(reason, sizeof(reason),
                  "checkpoint %s is corrupt: its last save is damaged; "
                  "kept as %s.corrupt",
                  path, path);
        free(next);
        free(json);
        fail_item(w, NULL, reason);
        return -EBADMSG;
    }
    if (rc < 0) {
        util_errf(reason, sizeof(reason), "checkpoint %s could not be read: %s", path,
                  strerror(-rc));
        free(next);
        free(json);
        return fail_item(w, NULL, reason);
    }
    *state = cJSON_Parse(json);
    *node = finished ? (int)wf->node_count : (next ? wf_node_index(wf, next) : -1);
    if (!*state || !cJSON_IsObject(*state) || *node < 0) {
        util_errf(reason, sizeof(reason), "checkpoint %s is corrupt: %s; kept as %s.corrupt", path,
                  *state ? "it names an unknown node" : "its state is not a JSON object", path);
        cJSON_Delete(*state);
        *state = NULL;
        free(next);
        free(json);
        fail_item(w, NULL, reason);
        return -EBADMSG; /* caller closes and quarantines */
    }
    if (!finished)
        log_printf(w->log, "Resuming at %s from checkpoint", next);
    free(next);
    free(json);
    return 0;
}

static void set_node(struct wrk_item *w, const char *name)
{
    util_strlcpy(w->p.node, name, sizeof(w->p.node));
    publish(w);
    log_printf(w->log, ">>> Executing: %s", name);
    struct audit_fields f = AUDIT_FIELDS_INIT;
    f.node = name;
    log_audit(w->log, "node_start", &f);
    log_flush(w->log);
    atomic_store_explicit(&w->me->rss_kib, util_rss_kib(), memory_order_relaxed);
    w->llm->waited_ns = 0;
    w->node_started_ns = util_now_mono_ns();
}

/* How running an item's nodes ended. */
enum wrk_end {
    WRK_FINISHED, /* the last node ran and was saved */
    WRK_STOPPED,  /* shutdown: the last checkpoint stands */
    WRK_FAILED,   /* reason set */
};

static enum wrk_end wrk_failed(struct wrk_item *w, const char *node, const char *reason)
{
    fail_item(w, node, reason);
    return WRK_FAILED;
}

/* Run nodes from `node` until the item finishes, fails or is stopped. */
static enum wrk_end run_nodes(struct wrk_item *w, struct wf_item *it, struct ckpt **cp, int node)
{
    const struct wf_desc *wf = w->rc->wf;
    while (node < (int)wf->node_count) {
        const struct wf_node *n = &wf->nodes[node];
        if (wrk_stop)
            return WRK_STOPPED;
        int64_t gate_wait = 0;
        /* the run file's max_concurrent: a place in the node's gate first (not node time) */
        if (wlim_node_enter(w->rc, w->worker, node, &wrk_stop, &gate_wait) < 0)
            return WRK_STOPPED;
        set_node(w, n->name);
        w->llm->key_mask = node < SHM_MAX_NODES ? w->rc->node_keys[node] : NULL;
        it->next = NULL;
        it->reason[0] = '\0';
        int rc = n->run(it);
        int64_t took = util_now_mono_ns() - w->node_started_ns;
        wlim_node_leave(w->rc, w->worker, node);
        if (rc == -ECANCELED || (rc < 0 && wrk_stop))
            return WRK_STOPPED;
        count_node(w, n->name, took, rc < 0);
        w->retryable = 1; /* a node's own failure or timeout: the item's retries apply */
        if (rc < 0)
            return wrk_failed(w, n->name, it->reason[0] ? it->reason : strerror(-rc));
        /* Waiting for a key (rate limits, a paused pool, backoff) is the pool's time,
         * not the node's: a 429 never fails an item. */
        int64_t worked = took - w->llm->waited_ns;
        if (worked > w->timeout_s * UTIL_NS_PER_SEC) {
            char reason[160];
            util_errf(reason, sizeof(reason), "%s ran %llds, over %s %lds", n->name,
                      (long long)(worked / UTIL_NS_PER_SEC),
                      w->timeout_s == w->rc->plan.timeout_per_step ? "--timeout-per-step"
                                                                   : "its timeout",
                      w->timeout_s);
            return wrk_failed(w, n->name, reason);
        }
        if (it->deadline_ns && util_now_mono_ns() > it->deadline_ns)
            return wrk_failed(w, n->name, "its group passed its timeout");
        w->retryable = 0;
        crash_point("node_done"); /* crash tests: the node ran, its checkpoint is not saved */
        if (strcmp(it->source_sha256, w->source_sha256) != 0) { /* the node read other input */
            ckpt_set_source(*cp, it->source_sha256);
            util_strlcpy(w->source_sha256, it->source_sha256, sizeof(w->source_sha256));
        }
        char *json = cJSON_PrintUnformatted(it->state);
        char err[256] = "";
        rc = json ? ckpt_save(*cp, n->name, it->next, json, err, sizeof(err)) : -ENOMEM;
        free(json);
        if (rc < 0)
            return wrk_failed(w, n->name,
                              err[0] ? err : "could not save checkpoint: out of memory");
        struct audit_fields f = AUDIT_FIELDS_INIT;
        f.node = n->name;
        f.latency_ms = (long)(took / UTIL_NS_PER_MS);
        log_audit(w->log, "node_done", &f);
        /* The item's own files must have everything (a console EPIPE only means the
         * coordinator is gone, and we are stopping anyway). */
        rc = log_item_error(w->log);
        if (rc < 0) {
            char reason[200];
            util_errf(reason, sizeof(reason), "could not write the logs of %s in %s: %s", w->p.id,
                      w->rc->run_dir, strerror(-rc));
            return wrk_failed(w, n->name, reason);
        }
        if (!it->next)
            return WRK_FINISHED;
        node = wf_node_index(wf, it->next);
        if (node < 0) {
            char reason[160];
            util_errf(reason, sizeof(reason), "node %s named an unknown next node \"%s\"", n->name,
                      it->next);
            return wrk_failed(w, n->name, reason);
        }
    }
    return WRK_FINISHED;
}

uint32_t wrk_outcome_state(int outcome)
{
    return outcome == WF_OUTCOME_APPROVED ? PROG_APPROVED
           : outcome == WF_OUTCOME_PASSED ? PROG_PASSED
                                          : PROG_NEEDS_REVISION;
}

uint32_t wrk_result_state(const char *status)
{
    int s = prog_state_from_name(status);
    return s == PROG_APPROVED || s == PROG_PASSED ? (uint32_t)s : PROG_NEEDS_REVISION;
}

/* "Completed: approved after 2 review rounds", "Completed: passed" (+ note). */
static void log_completed(struct log_sink *log, uint32_t state, int rounds, const char *note)
{
    if (state == PROG_PASSED)
        log_printf(log, "Completed: passed%s", note);
    else
        log_printf(log, "Completed: %s after %d review round%s%s",
                   state == PROG_APPROVED ? "approved" : "needs revision", rounds,
                   rounds == 1 ? "" : "s", note);
    struct audit_fields f = AUDIT_FIELDS_INIT;
    log_audit(log, "item_done", &f);
}

/*
 * The result file is an item's commit point. If it already matches the input,
 * the item is finished: take its outcome and run nothing again. 1 if so. That
 * happens when a worker of this run died after writing it, before the item was
 * marked done, or when another run finished the item after this run's plan
 * saw it pending (checked once this worker owns the item, so the other run is
 * done with it). Under --fresh only a result written since this run began
 * counts: the older one is what --fresh asked to redo.
 */
static int already_done(struct wrk_item *w, const struct item *src, const char *ckpt)
{
    struct result_info ri;
    struct stat st;
    if (result_read(src->out_path, &ri) != 0 || strcmp(ri.sha256, src->sha256) != 0)
        return 0;
    if (w->rc->o->fresh && (stat(src->out_path, &st) != 0 ||
                            (int64_t)st.st_mtim.tv_sec * UTIL_NS_PER_SEC + st.st_mtim.tv_nsec <
                                w->rc->started_real_ns))
        return 0;
    w->p.state = wrk_result_state(ri.status);
    w->p.rounds = (uint32_t)(ri.rounds > 0 ? ri.rounds : 0);
    ckpt_remove(ckpt);
    log_completed(w->log, w->p.state, ri.rounds,
                  w->p.attempts > 1 ? " (result already written)"
                                    : " (result written meanwhile by another run)");
    return 1;
}

static void process_item(struct wrk_item *w, const struct item *src)
{
    struct run_ctx *rc = w->rc;
    char path[4096];
    if (run_ckpt_path(rc, src, path, sizeof(path)) < 0) {
        fail_item(w, NULL, "checkpoint path too long");
        return;
    }

    struct wf_item it;
    memset(&it, 0, sizeof(it));
    it.wf = rc->wf;
    it.id = src->id;
    it.stem = src->stem;
    it.input_path = src->input_path;
    it.out_path = src->out_path;
    it.home = rc->plan.home;
    it.prompts_dir = rc->prompts_dir;
    util_strlcpy(it.source_sha256, src->sha256, sizeof(it.source_sha256));
    util_strlcpy(w->source_sha256, src->sha256, sizeof(w->source_sha256));
    it.max_reviews = rc->o->max_reviews;
    it.llm = w->llm;
    it.log = w->log;
    it.def = src->def;
    it.plan = &rc->plan;
    it.timeout_s = w->timeout_s;
    it.stop = &wrk_stop;
    it.deadline_ns = w->deadline_ns = wlim_deadline(rc, w->idx, &w->group, &w->group_timeout_s);

    if (already_done(w, src, path))
        return;
    if (rc->o->fresh && w->p.attempts == 1)
        ckpt_remove(path); /* here, not in the plan: only the item's owner deletes it */
    struct ckpt *c = NULL;
    int stale = 0;
    char err[512] = "";
    int r = ckpt_open(path, rc->wf->name, src->id, src->sha256, &c, &stale, err, sizeof(err));
    if (r == -EBADMSG) {
        char reason[600];
        util_errf(reason, sizeof(reason), "%s; kept as %s.corrupt", err, path);
        ckpt_quarantine(path);
        fail_item(w, NULL, reason);
        return;
    }
    if (r < 0) {
        fail_item(w, NULL, err[0] ? err : strerror(-r));
        return;
    }
    if (stale)
        log_printf(w->log, "Input changed since the last checkpoint; starting anew");
    enum wrk_end res;
    for (;;) {
        int node = 0;
        int rp = resume_point(w, c, path, &node, &it.state);
        if (rp < 0) {
            ckpt_close(c);
            if (rp == -EBADMSG)
                ckpt_quarantine(path);
            return;
        }
        /* A group past its timeout leaves no time for a retry. */
        if (it.deadline_ns && util_now_mono_ns() > it.deadline_ns)
            w->retries_left = 0;
        res = run_nodes(w, &it, &c, node);
        if (res != WRK_FAILED || !w->retrying)
            break;
        w->retrying = 0;
        w->retries_left--;
        w->p.state = PROG_RUNNING;
        if (wlim_pace(rc, &wrk_stop) < 0) { /* a retry is a start too (rate_limit_delay) */
            cJSON_Delete(it.state);
            it.state = NULL;
            ckpt_close(c);
            w->p.state = PROG_INTERRUPTED;
            util_strlcpy(w->p.reason, "interrupted; checkpoint kept", sizeof(w->p.reason));
            return;
        }
        cJSON_Delete(it.state); /* the failed attempt's state: start again from the checkpoint */
        it.state = NULL;
    }
    if (res == WRK_FINISHED) {
        ckpt_close(c);
        ckpt_remove(path);
        crash_point("item_done"); /* crash tests: result written, item not yet marked done */
        w->p.state = wrk_outcome_state(it.outcome);
        w->p.rounds = (uint32_t)it.rounds;
        log_completed(w->log, w->p.state, it.rounds, "");
    } else {
        ckpt_close(c);
        if (res == WRK_STOPPED) {
            w->p.state = PROG_INTERRUPTED;
            util_strlcpy(w->p.reason, "interrupted; checkpoint kept", sizeof(w->p.reason));
            struct audit_fields f = AUDIT_FIELDS_INIT;
            f.node = w->p.node;
            log_audit(w->log, "item_interrupted", &f);
        }
    }
    cJSON *rounds = cJSON_GetObjectItemCaseSensitive(it.state, "rounds");
    if (res != WRK_FINISHED && cJSON_IsNumber(rounds) && rounds->valuedouble >= 0 &&
        rounds->valuedouble <= 1000)
        w->p.rounds = (uint32_t)rounds->valuedouble;
    cJSON_Delete(it.state);
}

#define WRK_OWN_TRIES 3 /* a plan may hold an item's lock for an instant (own.h) */

/*
 * Own the item (runtime/own.h) before anything touches its checkpoint.
 * 0 owned (*fd holds the lock); 1 another live run holds it: the item ends
 * other-run, left to that run, with nothing touched; -errno when the lock
 * cannot be taken (why in reason; the item fails).
 */
static int own_item(struct wrk_item *w, const struct item *src, char *lock, size_t len, int *fd,
                    char *reason, size_t reasonlen)
{
    char owner[SHM_RUN_ID_MAX] = "";
    *fd = -1;
    int r = own_lock_path(w->rc, src, lock, len);
    if (r < 0) {
        util_errf(reason, reasonlen, "the lock file path of %s is too long", src->id);
        return r;
    }
    for (int i = 0;; i++) {
        r = own_take(lock, w->rc->run_id, fd, owner, sizeof(owner));
        if (r != -EWOULDBLOCK || i + 1 == WRK_OWN_TRIES || wrk_stop)
            break;
        util_sleep_ns(20 * UTIL_NS_PER_MS);
    }
    if (r == -EWOULDBLOCK) {
        w->p.state = PROG_OTHER_RUN;
        util_errf(w->p.reason, sizeof(w->p.reason), "being processed by %s%s",
                  owner[0] ? "run " : "another run", owner);
        return 1;
    }
    if (r < 0)
        util_errf(reason, reasonlen, "could not lock %s: %s", lock, strerror(-r));
    return r;
}

void wrk_run_one(struct run_ctx *rc, unsigned worker, struct shm_worker_sh *me,
                 struct log_sink *log, struct llm_client *llm, int idx)
{
    struct wrk_item w;
    memset(&w, 0, sizeof(w));
    w.rc = rc;
    w.me = me;
    w.slot = shm_prog_slot(&rc->seg, (uint32_t)idx);
    w.log = log;
    w.llm = llm;
    w.worker = worker;
    w.idx = idx;
    prog_read(w.slot, &w.p);
    const struct item *src = run_item(rc, (size_t)idx);
    heartbeat(); /* fresh before the watchdog sees an item */
    w.retries_left = src->retries;
    w.timeout_s = src->timeout_s > 0 ? src->timeout_s : rc->plan.timeout_per_step;
    atomic_store(&me->item_index, idx);
    llm->requests = llm->http_429 = 0;
    /* tokens were paid for even by an attempt that died: they add up over attempts */
    llm->input_tokens = (int64_t)w.p.input_tokens;
    llm->output_tokens = (int64_t)w.p.output_tokens;
    llm->cost = w.p.cost;
    llm->on_wait_arg = &w;
    w.p.state = PROG_RUNNING;
    w.p.worker_pid = llm->pid;
    w.p.attempts++;
    w.p.reason[0] = '\0';
    w.p.started_ns = util_now_mono_ns();
    publish(&w);

    char lock[PATH_MAX], why[PATH_MAX + 128];
    int lock_fd = -1;
    int own = own_item(&w, src, lock, sizeof(lock), &lock_fd, why, sizeof(why));
    int lrc = own == 1 ? 0 : log_open_item(log, rc->run_dir, src->id);
    if (own == 1) {
        /* left to the run that holds it: no log files, nothing touched */
    } else if (lrc < 0) {
        char reason[256];
        util_errf(reason, sizeof(reason), "could not open log files in %s: %s", rc->run_dir,
                  strerror(-lrc));
        fail_item(&w, NULL, reason);
    } else if (own < 0) {
        fail_item(&w, NULL, why);
    } else {
        struct audit_fields f = AUDIT_FIELDS_INIT;
        log_audit(log, "item_start", &f);
        process_item(&w, src);
    }
    own_release(lock, lock_fd); /* after the item's last checkpoint write, result included */
    w.p.finished_ns = util_now_mono_ns();
    publish(&w);
    log_close_item(log);
    log_flush(log);
    prog_set_claim(w.slot, PROG_CLAIM_DONE, llm->pid);
    atomic_store(&me->item_index, -1);
    atomic_fetch_add(&me->items_processed, 1);
    atomic_store(&me->rss_kib, util_rss_kib());
}
