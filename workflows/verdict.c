/*
 * verdict.c - the reviewer-verdict parser (rules in verdict.h).
 *
 * The reply is scanned line by line without copying; each line is tried as a
 * "VERDICT:" line, then as a checked box. Markdown emphasis characters are
 * treated as transparent wherever a model is likely to put them, and the
 * last line that bears a verdict decides. Everything unclear degrades to
 * REVISE, because a wrong APPROVED ships an unreviewed design while a wrong
 * REVISE only costs one more round.
 */
#include "workflows/verdict.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#define NOT_A_VERDICT (-1)
#define VERDICT_DISCUSS 3 /* checkbox form only; reads as REVISE */

static int is_emph(char c)
{
    return c == '*' || c == '_' || c == '`';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static const char *skip_set(const char *p, const char *end, const char *set)
{
    while (p < end && *p != '\0' && strchr(set, *p))
        p++;
    return p;
}

static const char *skip_emph_space(const char *p, const char *end)
{
    while (p < end && (is_emph(*p) || is_space(*p)))
        p++;
    return p;
}

/* Case-insensitive match of word (lower case) at p; returns the end or NULL. */
static const char *match_word(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(end - p) < n || strncasecmp(p, word, n) != 0)
        return NULL;
    return p + n;
}

/* Reads the run of letters at *pp as a verdict word; NOT_A_VERDICT if it is none. */
static int read_verdict_word(const char **pp, const char *end, int allow_discuss)
{
    static const struct {
        const char *word;
        int verdict;
    } words[] = {
        {"approved", VERDICT_APPROVED},
        {"revise", VERDICT_REVISE},
        {"blocked", VERDICT_BLOCKED},
        {"discuss", VERDICT_DISCUSS},
    };
    const char *p = *pp, *w = p;
    while (w < end && is_alpha(*w))
        w++;
    size_t len = (size_t)(w - p);
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (words[i].verdict == VERDICT_DISCUSS && !allow_discuss)
            continue;
        if (len == strlen(words[i].word) && strncasecmp(p, words[i].word, len) == 0) {
            *pp = w;
            return words[i].verdict;
        }
    }
    return NOT_A_VERDICT;
}

/* "VERDICT: WORD" line; the tail may hold only whitespace, emphasis and ASCII punctuation. */
static int parse_verdict_line(const char *p, const char *end)
{
    p = skip_set(p, end, " \t\r#>+-*_`");
    p = match_word(p, end, "verdict");
    if (!p)
        return NOT_A_VERDICT;
    p = skip_emph_space(p, end);
    if (p >= end || *p != ':')
        return NOT_A_VERDICT;
    p = skip_emph_space(p + 1, end);
    int v = read_verdict_word(&p, end, 0);
    if (v == NOT_A_VERDICT)
        return VERDICT_REVISE; /* "VERDICT: see above": a verdict line, not a clear one */
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(is_space(*p) || is_emph(*p) || (c < 0x80 && strchr(".!,;:)(-", *p))))
            return VERDICT_REVISE; /* "VERDICT: APPROVED with changes" */
    }
    return v;
}

/* After a checkbox word: end of line, or a separator that starts a description. */
static int checkbox_tail_clear(const char *p, const char *end)
{
    p = skip_emph_space(p, end);
    if (p >= end)
        return 1;
    if (strchr("-:(.,!|", *p))
        return 1;
    /* U+2013 en dash, U+2014 em dash */
    return end - p >= 3 && (unsigned char)p[0] == 0xE2 && (unsigned char)p[1] == 0x80 &&
           ((unsigned char)p[2] == 0x93 || (unsigned char)p[2] == 0x94);
}

/* "- [x] **APPROVED** - description" */
static int parse_checkbox_line(const char *p, const char *end)
{
    p = skip_set(p, end, " \t\r>+-*_`");
    if (end - p < 3 || p[0] != '[' || (p[1] != 'x' && p[1] != 'X') || p[2] != ']')
        return NOT_A_VERDICT;
    p = skip_emph_space(p + 3, end);
    int v = read_verdict_word(&p, end, 1);
    if (v == NOT_A_VERDICT)
        return NOT_A_VERDICT; /* "[x] Tests pass": a checklist item, not a verdict */
    if (!checkbox_tail_clear(p, end))
        return VERDICT_REVISE;
    return v == VERDICT_DISCUSS ? VERDICT_REVISE : v;
}

enum wf_verdict verdict_parse(const char *reply)
{
    int last = VERDICT_REVISE;
    if (!reply)
        return VERDICT_REVISE;
    const char *line = reply;
    for (;;) {
        const char *nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        int v = parse_verdict_line(line, end);
        if (v == NOT_A_VERDICT)
            v = parse_checkbox_line(line, end);
        if (v != NOT_A_VERDICT)
            last = v;
        if (!nl)
            break;
        line = nl + 1;
    }
    return last == VERDICT_APPROVED  ? VERDICT_APPROVED
           : last == VERDICT_BLOCKED ? VERDICT_BLOCKED
                                     : VERDICT_REVISE;
}

const char *verdict_name(enum wf_verdict v)
{
    switch (v) {
    case VERDICT_APPROVED:
        return "APPROVED";
    case VERDICT_BLOCKED:
        return "BLOCKED";
    case VERDICT_REVISE:
    default:
        return "REVISE";
    }
}

enum wf_verdict verdict_from_name(const char *name)
{
    if (name && strcasecmp(name, "APPROVED") == 0)
        return VERDICT_APPROVED;
    if (name && strcasecmp(name, "BLOCKED") == 0)
        return VERDICT_BLOCKED;
    return VERDICT_REVISE;
}
