/*
 * prompt.h - prompt templates: loading (with per-user overrides) and
 * {{placeholder}} substitution.
 *
 * Built-in templates live in workflows/prompts/ (installed to
 * share/agentos/prompts/); a file of the same name in <home>/prompts/
 * replaces one (SPEC 5). A placeholder is "{{name}}" where name is letters,
 * digits and '_' (spaces inside the braces are allowed: "{{ spec }}").
 * Unknown placeholders stay as they are, so a template written for a newer
 * version degrades visibly instead of silently; values are inserted verbatim
 * and never re-scanned, so a spec that contains "{{draft}}" stays literal.
 */
#ifndef AGENTOS_WORKFLOWS_PROMPT_H
#define AGENTOS_WORKFLOWS_PROMPT_H

#include <stddef.h>

#define PROMPT_TEMPLATE_MAX (256 * 1024)
#define PROMPT_NAME_MAX 64

/*
 * Render template `name` (a plain file name such as "lld_review.md": no '/')
 * into a malloc'd *out. vars is a NULL-terminated list of key, value pairs
 * (NULL vars = no substitution). Loads <home>/prompts/<name> when that file
 * exists (home may be NULL), else <prompts_dir>/<name>. Returns 0, -ENOENT
 * (no template; err names the path looked for), -EFBIG (template over
 * PROMPT_TEMPLATE_MAX), -EINVAL (bad name) or another -errno; err is filled
 * on every failure.
 */
int prompt_render(const char *home, const char *prompts_dir, const char *name,
                  const char *const *vars, char **out, char *err, size_t errlen);

/*
 * Substitute {{key}} placeholders in tmpl (rules above) into a malloc'd
 * *out. 0 or -ENOMEM. Exposed for tests.
 */
int prompt_substitute(const char *tmpl, const char *const *vars, char **out);

#endif
