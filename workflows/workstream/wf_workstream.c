/*
 * wf_workstream.c - the steps of a workstream (SPEC 8) as a two-node
 * workflow, so a step is checkpointed, retried, logged and inspected exactly
 * like an item:
 *
 *   S1_execute  run the step's shell command, or send its prompt to a draft
 *               key and write the reply to its output file (atomically);
 *   S2_accept   run its acceptance tests one by one; when all exit 0, record
 *               the step as passed.
 *
 * The checkpoint after S1_execute means a step whose command ran but whose
 * worker died (or whose run was interrupted) resumes at its acceptance tests
 * and does not run the command again. A step's record of having passed is a
 * result file under $AGENTOS_HOME/workstreams/<workstream>/<key>/<step>.md whose
 * source_sha256 is the step's hash (its definition and its dependencies'
 * hashes): the plan finds it up to date until the step or one it depends on
 * changes.
 *
 * Commands run through /bin/sh in the current folder, with stdout and stderr
 * in the step's <ID>.log, AGENTOS_STEP set to the step id, the variables that
 * hold the run's API keys removed from their environment, their own process
 * group (a timeout or a shutdown ends the whole tree), and --timeout-per-step
 * (or execution.timeout_per_step) as the limit for the node.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workflows/workstream/proc.h"
#include "runtime/result.h"
#include "shm/util.h"
#include "workflows/workstream/ws.h"
#include "workflows/workstream/ws_plan.h"
#include "workflows/workflows.h"

#define STEP_KILL_GRACE_MS 2000

/*
 * Milliseconds left of the node's time budget (and of its group's), at least 1.
 * The group's share is rounded up: a command stopped for its group is stopped at
 * or after the group's deadline, never a fraction of a millisecond before it, so
 * the runtime, looking at the clock afterwards, names the group as the cause.
 */
static long ms_left(const struct wf_item *it, int64_t started_ns)
{
    int64_t now = util_now_mono_ns();
    int64_t left = it->timeout_s * 1000 - (now - started_ns) / UTIL_NS_PER_MS;
    if (it->deadline_ns) {
        int64_t group = (it->deadline_ns - now + UTIL_NS_PER_MS - 1) / UTIL_NS_PER_MS;
        if (group < left)
            left = group;
    }
    return left > 0 ? (long)left : 1;
}

/* The first line of a command, cut, for messages ("make -C a"). */
static void short_cmd(const char *cmd, char *out, size_t len)
{
    size_t n = strcspn(cmd, "\n");
    if (n > 60)
        n = 60;
    snprintf(out, len, "%.*s%s", (int)n, cmd, cmd[n] ? "..." : "");
}

/*
 * The command's environment changes: AGENTOS_STEP=<id>, and every inherited
 * variable holding an API key of the run removed (api_key_env points at
 * one): a step has no business with the keys, and a command that prints its
 * environment would put them in the step's log. NULL-terminated, malloc'd
 * (free with free_env), or NULL when out of memory.
 */
static char **step_env(const struct wf_item *it)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof(*env));
    if (!env)
        return NULL;
    size_t k = 0;
    env[k++] = util_asprintf("AGENTOS_STEP=%s", it->stem);
    const struct cred_file *cf = it->llm ? it->llm->creds : NULL;
    for (size_t i = 0; i < n && cf; i++) {
        const char *eq = strchr(environ[i], '=');
        for (size_t j = 0; eq && eq[1] && j < cf->n; j++)
            if (cf->v[j].secret && !strcmp(eq + 1, cf->v[j].secret)) {
                env[k++] = strndup(environ[i], (size_t)(eq - environ[i]));
                break;
            }
    }
    for (size_t i = 0; i < k; i++)
        if (!env[i]) {
            for (size_t j = 0; j < k; j++)
                free(env[j]);
            free(env);
            return NULL;
        }
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/*
 * Run one command with the item's log as its output. 0 when it exited 0;
 * -ECANCELED when the run is stopping; else -EIO with it->reason saying what
 * happened to `what` (e.g. "command `make` exited with status 2").
 */
static int run_cmd(struct wf_item *it, const char *what, const char *cmd, int64_t started_ns)
{
    char shown[80];
    short_cmd(cmd, shown, sizeof(shown));
    char **env = step_env(it);
    if (!env) {
        snprintf(it->reason, sizeof(it->reason), "could not start %s `%s`: out of memory", what,
                 shown);
        return -ENOMEM;
    }
    log_flush(it->log); /* our lines first, then the command's, in the same O_APPEND file */
    struct proc_result res;
    long limit = ms_left(it, started_ns);
    int r = proc_run(cmd, it->log->log_fd, env, limit, STEP_KILL_GRACE_MS, it->stop, &res);
    free_env(env);
    if (r < 0) {
        snprintf(it->reason, sizeof(it->reason), "could not start %s `%s`: %s", what, shown,
                 strerror(-r));
        return -EIO;
    }
    if (res.stopped)
        return -ECANCELED;
    if (proc_ok(&res))
        return 0;
    char how[96];
    if (res.timed_out && it->deadline_ns && util_now_mono_ns() >= it->deadline_ns)
        snprintf(how, sizeof(how), "was stopped at its group's deadline");
    else
        proc_describe(&res, res.timed_out ? it->timeout_s * 1000 : limit, how, sizeof(how));
    snprintf(it->reason, sizeof(it->reason), "%s `%s` %s", what, shown, how);
    return -EIO;
}

/* Create the folder of an output file (0700, like every folder agentos makes). */
static int make_parent(const char *path)
{
    char dir[4096];
    util_strlcpy(dir, path, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    return util_mkdir_p(dir, 0700);
}

static int run_prompt(struct wf_item *it, const struct ws_step *st)
{
    char *reply = NULL, err[256] = "";
    log_printf(it->log, "Prompt to a draft key; the reply goes to %s", st->output);
    int r =
        llm_complete(it->llm, LLM_ROLE_DRAFT, "S1_execute", st->prompt, &reply, err, sizeof(err));
    if (r == -ECANCELED)
        return r;
    if (r < 0) {
        snprintf(it->reason, sizeof(it->reason), "%s", err[0] ? err : strerror(-r));
        return r;
    }
    log_file_only(it->log, "Reply", reply);
    r = make_parent(st->output);
    if (r == 0)
        r = util_write_file_atomic(st->output, reply, strlen(reply));
    free(reply);
    if (r < 0) {
        snprintf(it->reason, sizeof(it->reason), "could not write %s: %s", st->output,
                 strerror(-r));
        return r;
    }
    return 0;
}

static int step_execute(struct wf_item *it)
{
    const struct ws_step *st = it->def;
    int64_t started = util_now_mono_ns();
    int r;
    if (st->run) {
        char shown[80];
        short_cmd(st->run, shown, sizeof(shown));
        log_printf(it->log, "Running: %s", shown);
        r = run_cmd(it, "command", st->run, started);
    } else {
        r = run_prompt(it, st);
    }
    if (r < 0)
        return r;
    cJSON_DeleteItemFromObjectCaseSensitive(it->state, "executed");
    cJSON_AddTrueToObject(it->state, "executed");
    it->next = "S2_accept";
    return 0;
}

static int step_accept(struct wf_item *it)
{
    const struct ws_step *st = it->def;
    int64_t started = util_now_mono_ns();
    for (size_t i = 0; i < st->naccept; i++) {
        char shown[80];
        short_cmd(st->accept[i], shown, sizeof(shown));
        log_printf(it->log, "Acceptance test %zu/%zu: %s", i + 1, st->naccept, shown);
        int r = run_cmd(it, "acceptance test", st->accept[i], started);
        if (r < 0)
            return r;
    }
    char err[256] = "";
    struct result_meta m = {
        .status = "passed",
        .rounds = 0,
        .source_sha256 = it->source_sha256,
        .workflow = "workstream",
        .item_id = it->id,
    };
    char *body = util_asprintf("Step %s passed: %s, %zu acceptance test%s.\n", it->id,
                               st->run ? "command ran" : "reply written", st->naccept,
                               st->naccept == 1 ? "" : "s");
    int r = body ? result_write(it->out_path, &m, body, err, sizeof(err)) : -ENOMEM;
    free(body);
    if (r < 0) {
        snprintf(it->reason, sizeof(it->reason), "%s", err[0] ? err : strerror(-r));
        return r;
    }
    it->outcome = WF_OUTCOME_PASSED;
    it->next = NULL;
    return 0;
}

static const struct wf_node step_nodes[] = {
    {"S1_execute", step_execute},
    {"S2_accept", step_accept},
};

const struct wf_desc wf_workstream = {
    .name = "workstream",
    .noun = "step",
    .outcomes = 1u << PROG_PASSED | 1u << PROG_FAILED | 1u << PROG_SKIPPED,
    .nodes = step_nodes,
    .node_count = sizeof(step_nodes) / sizeof(step_nodes[0]),
    .load = ws_plan_load,
    .check = ws_plan_check,
    .write_dot = ws_plan_dot,
    .unload = ws_plan_unload,
};
