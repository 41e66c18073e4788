/*
 * ckpt_private.h - what the two checkpoint files share (private to
 * runtime/ckpt*.c): ckpt.c speaks SQLite to an open checkpoint, ckpt_file.c
 * handles the file by its path. The public API is runtime/ckpt.h.
 */
#ifndef AGENTOS_RUNTIME_CKPT_PRIVATE_H
#define AGENTOS_RUNTIME_CKPT_PRIVATE_H

#include <stddef.h>

/*
 * Before SQLite opens path (ckpt_open): make it exist as a regular file of
 * mode 0600, its folder included. *is_new = 1 when it is empty (nothing in it
 * to lose). 0, or -errno with a one-line reason in err (-EBADMSG: not a
 * regular file, or not a database).
 */
int ckpt_create_file(const char *path, int *is_new, char *err, size_t errlen);

#endif
