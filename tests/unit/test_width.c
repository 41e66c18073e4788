/*
 * test_width.c - unit tests of `--parallel auto`.
 *
 * Each test describes a machine by its figures (a struct width_machine) and
 * checks the width and the line that explains it; nothing is read from the
 * machine the test runs on except in test_probe_reads_this_machine, which
 * only checks that the figures are plausible.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/width.h"

#define GIB (1024ull * 1024) /* in KiB */

/* A roomy machine: 2 cpus, 8 GiB available, idle, 1024 open files. */
static struct width_machine roomy(void)
{
    return (struct width_machine){.online_cpus = 2,
                                  .mem_available_kib = 8 * GIB,
                                  .worker_rss_kib = 0,
                                  .loadavg1 = 0.3,
                                  .nofile_limit = 1024,
                                  .fds_per_worker = 0};
}

static void test_keys_bound(void **state)
{
    (void)state;
    struct width_machine m = roomy();
    char why[WIDTH_WHY_MAX];
    assert_int_equal(width_auto(&m, 4, why, sizeof(why)), 4);
    assert_string_equal(why, "--parallel auto: 4 (bounded by the keys' request slots: 4; cpus 2 "
                             "allow 8, memory 8.0 GiB allows 10+, load 0.30, open files 1024 "
                             "allow 10+)");
}

static void test_cpu_bound(void **state)
{
    (void)state;
    struct width_machine m = roomy();
    char why[WIDTH_WHY_MAX];
    m.online_cpus = 1;
    assert_int_equal(width_auto(&m, 20, why, sizeof(why)), 4);
    assert_non_null(strstr(why, "(bounded by cpus 1 allow 4; the keys' request slots: 20,"));
    m.online_cpus = 0; /* unknown counts as one */
    assert_int_equal(width_auto(&m, 20, NULL, 0), 4);
}

static void test_memory_bound(void **state)
{
    (void)state;
    struct width_machine m = roomy();
    char why[WIDTH_WHY_MAX];
    /* 300 MiB available, half of it for workers at the default 32 MiB each */
    m.mem_available_kib = 300 * 1024;
    assert_int_equal(width_auto(&m, 8, why, sizeof(why)), 4);
    assert_string_equal(why, "--parallel auto: 4 (bounded by memory 300 MiB available at 32 MiB a "
                             "worker allows 4; the keys' request slots: 8, cpus 2 allow 8, load "
                             "0.30, open files 1024 allow 10+)");
    /* a measured small worker lets more in */
    m.worker_rss_kib = 6 * 1024;
    assert_int_equal(width_auto(&m, 8, why, sizeof(why)), 8);
    /* unknown memory does not bound */
    m.mem_available_kib = 0;
    assert_int_equal(width_auto(&m, 8, why, sizeof(why)), 8);
    assert_non_null(strstr(why, "memory unknown"));
}

static void test_load_bound(void **state)
{
    (void)state;
    struct width_machine m = roomy();
    char why[WIDTH_WHY_MAX];
    /* load up to the cpus takes nothing away */
    m.loadavg1 = 2.0;
    assert_int_equal(width_auto(&m, 10, why, sizeof(why)), 8);
    /* twice the cpus halves the cpus bound */
    m.loadavg1 = 4.0;
    assert_int_equal(width_auto(&m, 10, why, sizeof(why)), 4);
    assert_non_null(strstr(why, "(bounded by load 4.00 on 2 cpus allows 4; "));
    /* a machine buried under load still gets one worker */
    m.loadavg1 = 500.0;
    assert_int_equal(width_auto(&m, 10, why, sizeof(why)), 1);
    m.loadavg1 = -1; /* unknown */
    assert_int_equal(width_auto(&m, 10, why, sizeof(why)), 8);
    assert_non_null(strstr(why, "load unknown"));
}

static void test_fd_bound(void **state)
{
    (void)state;
    struct width_machine m = roomy();
    char why[WIDTH_WHY_MAX];
    m.nofile_limit = 128; /* 64 for the coordinator, 16 a worker: 4 */
    assert_int_equal(width_auto(&m, 10, why, sizeof(why)), 4);
    assert_non_null(strstr(why, "(bounded by open files 128 allow 4; "));
    m.fds_per_worker = 32;
    assert_int_equal(width_auto(&m, 10, NULL, 0), 2);
    m.nofile_limit = 50; /* not even the coordinator's share: still one */
    assert_int_equal(width_auto(&m, 10, NULL, 0), 1);
    m.nofile_limit = UINT64_MAX; /* unlimited */
    assert_int_equal(width_auto(&m, 10, why, sizeof(why)), 8);
    assert_non_null(strstr(why, "open files unlimited"));
}

static void test_cap_ten(void **state)
{
    (void)state;
    struct width_machine m = roomy();
    char why[WIDTH_WHY_MAX];
    m.online_cpus = 64;
    m.mem_available_kib = 512 * GIB;
    m.nofile_limit = 1048576;
    assert_int_equal(width_auto(&m, 100, why, sizeof(why)), 10);
    assert_string_equal(why, "--parallel auto: 10 (bounded by the cap of 10; the keys' request "
                             "slots: 100, cpus 64 allow 10+, memory 512.0 GiB allows 10+, load "
                             "0.30, open files 1048576 allow 10+)");
    /* a bound exactly at the cap is named rather than the cap */
    assert_int_equal(width_auto(&m, 10, why, sizeof(why)), 10);
    assert_non_null(strstr(why, "(bounded by the keys' request slots: 10; "));
    /* no key needed: the machine alone decides */
    assert_int_equal(width_auto(&m, WIDTH_NO_POOL, why, sizeof(why)), 10);
    assert_non_null(strstr(why, "no key needed"));
}

static void test_never_zero(void **state)
{
    (void)state;
    struct width_machine m = roomy(), zero;
    memset(&zero, 0, sizeof(zero));
    char why[WIDTH_WHY_MAX];
    assert_int_equal(width_auto(&m, 0, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "--parallel auto: 1 (bounded by the keys' request slots: 0;"));
    m.mem_available_kib = 1024; /* 1 MiB: allows 0 */
    assert_int_equal(width_auto(&m, 5, NULL, 0), 1);
    assert_int_equal(width_auto(&zero, WIDTH_NO_POOL, why, sizeof(why)), 4);
    /* a short buffer is cut, never overrun */
    char tiny[24];
    memset(tiny, 'x', sizeof(tiny));
    assert_int_equal(width_auto(&m, 5, tiny, sizeof(tiny)), 1);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

static void test_meminfo_parse(void **state)
{
    (void)state;
    assert_int_equal(width_meminfo_available_kib("MemTotal:       16318164 kB\n"
                                                 "MemFree:         1234567 kB\n"
                                                 "MemAvailable:    9876543 kB\n"
                                                 "Buffers:          312000 kB\n"),
                     9876543);
    /* old kernels have no MemAvailable */
    assert_int_equal(width_meminfo_available_kib("MemTotal: 100 kB\nMemFree: 42 kB\n"), 42);
    assert_int_equal(width_meminfo_available_kib(""), 0);
    assert_int_equal(width_meminfo_available_kib("garbage\n\n"), 0);
}

static void test_probe_reads_this_machine(void **state)
{
    (void)state;
    struct width_machine m;
    char why[WIDTH_WHY_MAX];
    assert_int_equal(width_probe(&m), 0);
    assert_true(m.online_cpus >= 1);
    assert_true(m.mem_available_kib > 0);
    assert_true(m.loadavg1 >= 0);
    assert_true(m.nofile_limit > 0);
    assert_int_equal(m.worker_rss_kib, WIDTH_DEFAULT_WORKER_RSS_KIB);
    uint32_t w = width_auto(&m, 3, why, sizeof(why));
    assert_true(w >= 1 && w <= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_bound),
        cmocka_unit_test(test_cpu_bound),
        cmocka_unit_test(test_memory_bound),
        cmocka_unit_test(test_load_bound),
        cmocka_unit_test(test_fd_bound),
        cmocka_unit_test(test_cap_ten),
        cmocka_unit_test(test_never_zero),
        cmocka_unit_test(test_meminfo_parse),
        cmocka_unit_test(test_probe_reads_this_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
