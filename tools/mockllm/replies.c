/*
 * replies.c - the texts agentos-mockllm writes: design drafts and reviews.
 *
 * A draft is a fixed design outline titled after the item's first "# " heading,
 * stamped with the prompt's digest and carrying every MOCK- marker line of the
 * prompt forward, so markers put in an item reach the reviewer through each draft.
 * A review approves unless a marker says otherwise: MOCK-BLOCKED, MOCK-REVISE-ALWAYS,
 * MOCK-REVISE-ONCE (REVISE the first time a heading is reviewed, then APPROVED),
 * MOCK-NO-VERDICT; MOCK-CHECKBOX spells the verdict as a checked box instead of a
 * "VERDICT:" line. MOCK-EMPTY makes any reply the empty string and MOCK-QUOTE-KEY
 * quotes the request's API key in it (secret-scrubbing tests); MOCK-HTTP-400/404/422
 * ask for a rejection instead of a reply. docs/mockllm.md lists the markers.
 */
#include "tools/mockllm/mockllm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/util.h"
/* The item's title: the first "# " line, without "Design: " prefixes earlier drafts add. */
static void mock_title(const char *prompt, char *out, size_t size)
{
    const char *p = prompt;
    while (p && strncmp(p, "# ", 2) != 0) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    if (!p) {
        util_strlcpy(out, "Untitled", size);
        return;
    }
    p += 2;
    for (;;) {
        p += strspn(p, " \t");
        if (strncmp(p, "Design:", 7) != 0)
            break;
        p += 7;
    }
    size_t n = strcspn(p, "\r\n");
    n = n >= size ? size - 1 : n;
    while (n > 0 && (((unsigned char)p[n] & 0xC0) == 0x80 || p[n - 1] == ' '))
        n--; /* never cut a UTF-8 sequence; drop trailing blanks */
    memcpy(out, p, n);
    out[n] = '\0';
    if (n == 0)
        util_strlcpy(out, "Untitled", size);
}

/* Every distinct line of the prompt naming a MOCK- marker, so drafts carry them on. */
static char *mock_marker_lines(const char *prompt)
{
    size_t len = 0, count = 0;
    char *out = calloc(1, 1);
    for (const char *p = prompt; out && *p && count < 64;) {
        size_t n = strcspn(p, "\n");
        char *line = strndup(p, n);
        if (line && strstr(line, "MOCK-") && !strstr(out, line)) {
            char *no = realloc(out, len + n + 2);
            if (no) {
                memcpy(no + len, line, n);
                len += n;
                no[len++] = '\n';
                no[len] = '\0';
                out = no;
                count++;
            }
        }
        free(line);
        p += n + (p[n] == '\n');
    }
    return out;
}

char *mock_draft(const char *prompt, const unsigned char digest[32])
{
    char title[256], *markers = mock_marker_lines(prompt);
    mock_title(prompt, title, sizeof(title));
    char *s = util_asprintf(
        "# Design: %s\n\n## Overview\n\nThis design covers \"%s\". Mock draft "
        "%02x%02x%02x%02x%02x%02x.\n\n## Components\n\n- Interface: one entry point with "
        "validated input.\n- Storage: state kept in a single file, replaced atomically.\n"
        "- Errors: every failure is reported once, with its cause.\n\n## Testing\n\nUnit "
        "tests per component; one end-to-end test.\n%s%s",
        title, title, digest[0], digest[1], digest[2], digest[3], digest[4], digest[5],
        markers && *markers ? "\n" : "", markers ? markers : "");
    free(markers);
    return s;
}

/* The reviewer: approves unless a marker in the reviewed text says otherwise. */
char *mock_review(const char *prompt, int commit)
{
    const char *verdict = "APPROVED";
    if (strstr(prompt, "MOCK-BLOCKED")) {
        verdict = "BLOCKED";
    } else if (strstr(prompt, "MOCK-REVISE-ALWAYS")) {
        verdict = "REVISE";
    } else if (strstr(prompt, "MOCK-REVISE-ONCE")) {
        char title[256];
        unsigned char d[32];
        mock_title(prompt, title, sizeof(title));
        mock_sha256(title, strlen(title), d);
        pthread_mutex_lock(&mock_st.mu);
        uint32_t seen =
            commit ? mock_dig_bump(&mock_st.headings, d) : mock_dig_count(&mock_st.headings, d);
        pthread_mutex_unlock(&mock_st.mu);
        verdict = seen == 0 ? "REVISE" : "APPROVED";
    } else if (strstr(prompt, "MOCK-NO-VERDICT")) {
        verdict = NULL;
    }
    char line[64] = "";
    if (verdict && strstr(prompt, "MOCK-CHECKBOX"))
        snprintf(line, sizeof(line), "- [x] **%s**\n",
                 strcmp(verdict, "BLOCKED") == 0 ? "DISCUSS" : verdict);
    else if (verdict)
        snprintf(line, sizeof(line), "VERDICT: %s\n", verdict);
    return util_asprintf("Review notes (agentos-mockllm)\n\n- The overview states the goal.\n"
                         "- Components and error handling are described.\n- Testing is "
                         "covered.\n\n%s",
                         line);
}

char *mock_reply_text(const struct mock_job *j, int commit)
{
    if (strstr(j->prompt, "MOCK-EMPTY"))
        return strdup("");
    char *t =
        j->kind == KIND_REVIEW ? mock_review(j->prompt, commit) : mock_draft(j->prompt, j->digest);
    if (!t || !strstr(j->prompt, "MOCK-QUOTE-KEY"))
        return t;
    /* Deliberately the whole key: what a client must scrub before logging a reply. */
    char *q = util_asprintf("%s\nEchoed API key: %s\n", t, j->key);
    free(t);
    return q;
}

unsigned mock_marker_status(const char *prompt)
{
    static const unsigned codes[] = {400, 404, 422};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char m[24];
        snprintf(m, sizeof(m), "MOCK-HTTP-%u", codes[i]);
        if (strstr(prompt, m))
            return codes[i];
    }
    return 0;
}
