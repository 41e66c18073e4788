/*
 * secret.h - memory for API keys: each secret in pages of its own that are
 * left out of core dumps (MADV_DONTDUMP) and wiped before they are given
 * back. With the processes themselves not dumpable (PR_SET_DUMPABLE 0 in the
 * coordinator and its workers) this is the second fence: should a core be
 * written anyway (fs.suid_dumpable set by an administrator, a process that
 * skipped the prctl), the keys are not in it.
 */
#ifndef AGENTOS_LLM_SECRET_H
#define AGENTOS_LLM_SECRET_H

/* A copy of s in its own DONTDUMP pages, or NULL (errno set). Free with secret_free. */
char *secret_dup(const char *s);

/* Wipe and unmap a secret_dup copy. NULL is fine. */
void secret_free(char *s);

#endif
