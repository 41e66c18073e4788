/*
 * agentos-run - run a batch of workflow items in parallel.
 *
 * One program, three names: `agentos-run WORKFLOW ...` (and `agentos-run
 * workstream FILE.json`), and `lld-workflow` /
 * `issue-workflow` (links to it) which imply the workflow from argv[0]. This
 * file only wires things together: it parses the command line, picks the
 * built-in workflow from the table in workflows/, finds the prompt
 * templates, and hands over to the coordinator.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/args.h"
#include "runtime/plan.h"
#include "runtime/run.h"
#include "runtime/summarize.h"
#include "workflows/workflows.h"

#define AGENTOS_VERSION "0.1.0"

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s%s [--all | ID...] [options]\n"
            "       agentos-run workstream FILE.json [options]\n"
            "       agentos-run summarize [--json] [--out FILE] RUN_DIR...\n"
            "\n"
            "Run workflow items (design specs, issue briefs) through their LLM review\n"
            "loop, several at once, checkpointing every item after every node.\n"
            "\n"
            "Selection:\n"
            "  --all                 every pending item (result missing or made from other input)\n"
            "  ID...                 just these items: 42 or LLD-42\n"
            "\n"
            "Options:\n"
            "  --parallel [N]        run N items at once (bare: 3; above 10 is capped to 10;\n"
            "                        without the flag: 1, one after the other)\n"
            "  --parallel auto       the width from the machine (CPUs, memory, load, open\n"
            "                        files) and the keys' request slots, at most 10; implies\n"
            "                        --adaptive; the first line says what was chosen and why\n"
            "  --adaptive            per provider endpoint, fewer requests at a time when\n"
            "                        errors or latency climb, more when healthy\n"
            "  --config FILE         run file: per-node max_concurrent and keys, adaptive\n"
            "                        settings (default <home>/agentos.json if present)\n"
            "  --dry-run             list what would run (ID, input, new or resume at NODE);\n"
            "                        sends no request, writes no file\n"
            "  --items DIR           input folder (lld: lld/pending, issue: issues/pending)\n"
            "  --out DIR             result folder (lld: lld/done, issue: issues/done)\n"
            "  --home DIR            state folder (default $AGENTOS_HOME, else ~/.agentos)\n"
            "  --credentials FILE    API keys (default <home>/credentials.json): providers\n"
            "                        openai, gemini, anthropic, azure; rpm, tpm, price,\n"
            "                        max_tokens, temperature, system, timeout_s, extra\n"
            "                        (see docs/credentials.md)\n"
            "  --max-reviews K       review rounds before \"needs revision\" (default 3)\n"
            "  --timeout-per-step S  a node running longer fails its item (default 300);\n"
            "                        one request stops at its key's timeout_s (120)\n"
            "  --pause-timeout S     how long to wait when every key is disabled before\n"
            "                        checkpointing and exiting 75 (default: until reloaded)\n"
            "  --fresh               delete the selected items' checkpoints and start anew\n"
            "  --no-progress         no progress bar or progress lines\n"
            "  --quiet               only failures and coordinator lines\n"
            "  --shard I/N           only the items whose FNV-1a hash of ID mod N is I\n"
            "                        (0 <= I < N); --dry-run shows the share\n"
            "  --shard slurm         I and N from SLURM_ARRAY_TASK_ID / _COUNT (job arrays)\n"
            "  --budget redis://HOST[:PORT][/DB]\n"
            "                        share the keys' budget (rpm, leases, 429s, disabled keys)\n"
            "                        with every run using that Redis; also \"budget\" in the\n"
            "                        credentials file. Redis down at start: exit 2\n"
            "  -h, --help            this text\n"
            "  --version             print the version\n"
            "\n"
            "Examples:\n"
            "  lld-workflow --all --parallel 3          every pending spec, 3 at a time\n"
            "  lld-workflow --all --parallel            the same (bare --parallel is 3)\n"
            "  lld-workflow 42 43 --parallel 2          two specs, both at once\n"
            "  lld-workflow --all --dry-run             what would run, and where each resumes\n"
            "  issue-workflow --all --parallel 10 --max-reviews 2\n"
            "  agentos-run lld --all --items specs/ --out designs/ --parallel 5\n"
            "  lld-workflow --all --parallel auto       as wide as the machine and keys allow\n"
            "  lld-workflow --all --parallel 8 --config review-limits.json\n"
            "  lld-workflow --all --shard 2/4 --dry-run   shard 2 of 4: what it would run\n"
            "  lld-workflow --all --shard slurm --budget redis://10.0.0.5:6379 --parallel 3\n"
            "\n"
            "Several runs (the shards of a batch) in one summary:\n"
            "  agentos-run summarize [--json] [--out FILE] RUN_DIR...\n"
            "                        counts, speed-up, one line per item; --json prints the\n"
            "                        merged summary.json, --out FILE writes it\n"
            "\n"
            "Workstreams (a JSON file of steps with depends_on, run as a graph):\n"
            "  --parallel N          steps at once (default: execution.max_workers, else 3;\n"
            "                        execution.parallel false runs one at a time;\n"
            "                        max_workers \"auto\" is --parallel auto)\n"
            "  (the file may also set rate_limit_delay, adaptive_scaling, ${env.NAME:-default}\n"
            "   values, per-step timeout and retries, and step_groups: docs/workstreams.md)\n"
            "  --fail-fast           stop every step at the first failure (items too)\n"
            "  --dry-run             print the steps wave by wave, and what each would do\n"
            "  --dot                 print the graph as Graphviz DOT\n"
            "  agentos-run workstream ws.json --parallel 4\n"
            "  agentos-run workstream ws.json --dot | dot -Tsvg > ws.svg\n"
            "\n"
            "Exit status: 0 all processed (approved or needs revision; every step passed),\n"
            "1 an item or step failed (or a step was skipped),\n"
            "2 usage or configuration error, 75 paused past --pause-timeout,\n"
            "130 interrupted (checkpoints kept; run again to resume).\n"
            "Environment: AGENTOS_HOME, AGENTOS_CREDENTIAL_LIMIT=N, AGENTOS_SIMULATE_429=N,\n"
            "AGENTOS_WORKFLOW_DB=PATH (one item), AGENTOS_PROMPTS_DIR=DIR,\n"
            "AGENTOS_BUDGET_LEASE_MS=N (a Redis lease's time-to-live; default the step\n"
            "timeout + 5 s, at most 30 s, renewed while a request runs).\n",
            prog, strcmp(prog, "agentos-run") ? "" : " WORKFLOW");
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Built-in prompt templates: $AGENTOS_PROMPTS_DIR, the source tree, or the installed copy. */
static const char *find_prompts_dir(void)
{
    static char buf[PATH_MAX + 64];
    const char *env = getenv("AGENTOS_PROMPTS_DIR");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        const char *rel[] = {"/../../workflows/prompts", "/../share/agentos/prompts"};
        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            snprintf(buf, sizeof(buf), "%s%s", exe, rel[i]);
            if (is_dir(buf))
                return buf;
        }
    }
    return "workflows/prompts";
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    const char *implied = args_workflow_from_argv0(argv[0]);
    if (!implied && argc > 1 && !strcmp(argv[1], "summarize"))
        return summarize_main(argc - 1, argv + 1, wf_find);
    struct run_opts o;
    char err[512], warn[256];
    if (args_parse(argc, argv, implied, &o, err, sizeof(err), warn, sizeof(warn)) < 0) {
        fprintf(stderr, "%s: %s\n", base, err);
        fprintf(stderr, "Try '%s --help' for more information.\n", base);
        args_free(&o);
        return RUN_EXIT_USAGE;
    }
    if (o.help) {
        usage(stdout, base);
        args_free(&o);
        return 0;
    }
    if (o.version) {
        printf("agentos %s\n", AGENTOS_VERSION);
        args_free(&o);
        return 0;
    }
    if (warn[0])
        fprintf(stderr, "%s: warning: %s\n", base, warn);
    const struct wf_desc *wf = wf_find(o.workflow);
    if (!wf) {
        char names[128] = "";
        for (size_t i = 0; wf_builtin[i]; i++)
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
                     wf_builtin[i]->name);
        fprintf(stderr, "%s: unknown workflow \"%s\" (built in: %s)\n", base, o.workflow, names);
        args_free(&o);
        return RUN_EXIT_USAGE;
    }
    plan_known_workflows(wf_builtin);
    int status = coord_run(wf, &o, find_prompts_dir());
    args_free(&o);
    return status;
}
