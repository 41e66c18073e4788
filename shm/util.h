/*
 * util.h - small helpers under every layer (shm/ and everything above it):
 * clocks, folders, whole-file reads, atomic file replacement, SHA-256, UTF-8
 * validation, bounded string copies, paths that fail rather than be cut
 * (util_pathf) and messages that may be cut (util_errf).
 * All return 0 or -errno unless they say otherwise.
 */
#ifndef AGENTOS_SHM_UTIL_H
#define AGENTOS_SHM_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_NS_PER_SEC 1000000000LL
#define UTIL_NS_PER_MS 1000000LL

int64_t util_now_mono_ns(void); /* CLOCK_MONOTONIC */
int64_t util_now_real_ns(void); /* CLOCK_REALTIME */

/* Sleep ns nanoseconds (returns early on a signal). */
void util_sleep_ns(int64_t ns);

/* mkdir -p with the given mode for every folder it creates. */
int util_mkdir_p(const char *path, unsigned mode);

/*
 * Read a whole file of at most max bytes into a NUL-terminated malloc'd buffer.
 * -EFBIG if larger than max. *len excludes the NUL.
 */
int util_read_file(const char *path, size_t max, char **buf, size_t *len);

/*
 * Write data to path atomically: a temporary file in the same folder (mode
 * 0600), fsync, rename over path, fsync the folder. On any failure the
 * temporary file is removed and path is untouched.
 */
int util_write_file_atomic(const char *path, const void *data, size_t len);

/* strlcpy semantics: always NUL-terminates when size > 0; returns strlen(src). */
size_t util_strlcpy(char *dst, const char *src, size_t size);

/*
 * Format a one-line message into err (nothing if err is NULL or errlen 0),
 * cut to fit: for the "char *err, size_t errlen" out-parameters used across
 * the runtime and for failure reasons, where a cut message is still right.
 */
void util_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Format a path (or any text that must not be cut) into out: 0, or
 * -ENAMETOOLONG when it does not fit (out then holds "" so a cut path is never
 * used). Messages that may be cut go through util_errf instead.
 */
int util_pathf(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* snprintf into a malloc'd string; NULL on allocation failure. */
char *util_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Offset of the first byte of p[0..len) that does not start a valid UTF-8
 * sequence (overlong forms, surrogates and code points above U+10FFFF are
 * invalid), or len when all of it is valid.
 */
size_t util_utf8_invalid_at(const void *p, size_t len);

/* Lower-case hex SHA-256 (libcrypto) of data into out[65]. */
int util_sha256_hex(const void *data, size_t len, char out[65]);

/* Resident set size of this process in KiB (from /proc/self/statm), 0 if unknown. */
uint64_t util_rss_kib(void);

#endif
