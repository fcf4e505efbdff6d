/* Unit tests for src/notify.c: NOTIFY_SOCKET points at the test's own
 * datagram socket, and READY=1, STATUS=, WATCHDOG=1, RELOADING=1 (with
 * MONOTONIC_USEC=), READY=1 and STOPPING=1 must arrive in that order. Built
 * without libsystemd, nothing may arrive at all. */
#include "gevinst/notify.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
    char dir[64];
    char path[96];
    int fd;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/gevinst-notify.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
    f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(f->fd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->path);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {0, 300 * 1000};
    setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setenv("NOTIFY_SOCKET", f->path, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    unsetenv("NOTIFY_SOCKET");
    close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The next datagram, NUL-terminated; NULL after the timeout. */
static char *next(fixture_t *f)
{
    static char buf[1024];
    ssize_t n = recv(f->fd, buf, sizeof(buf) - 1, 0);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

#ifdef GEVINST_HAVE_SYSTEMD

static void expect(fixture_t *f, const char *want)
{
    char *got = next(f);
    if (!got)
        fail_msg("expected \"%s\", nothing arrived", want);
    assert_string_equal(got, want);
}

static void test_sequence(void **state)
{
    fixture_t *f = *state;
    notify_extend_timeout(45000000);
    notify_ready();
    notify_status("consuming %d partitions", 3);
    notify_watchdog();

    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long before = (unsigned long long)ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
    notify_reloading();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long after = (unsigned long long)ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
    notify_ready();
    notify_status("two\nlines");
    notify_stopping();

    expect(f, "EXTEND_TIMEOUT_USEC=45000000");
    expect(f, "READY=1");
    expect(f, "STATUS=consuming 3 partitions");
    expect(f, "WATCHDOG=1");
    char *got = next(f);
    assert_non_null(got);
    unsigned long long usec = 0;
    if (sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec) != 1)
        fail_msg("unexpected reload message \"%s\"", got);
    assert_true(usec >= before && usec <= after);
    expect(f, "READY=1");
    expect(f, "STATUS=two lines"); /* one line: a line feed would start another field */
    expect(f, "STOPPING=1");
    assert_null(next(f));
}

static void test_watchdog_interval(void **state)
{
    (void)state;
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(notify_watchdog_interval_us(), 15000000);
    /* Meant for another process (a child of ours, say): off for us. */
    setenv("WATCHDOG_PID", "1", 1);
    assert_int_equal(notify_watchdog_interval_us(), 0);
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(notify_watchdog_interval_us(), 0);
}

#else

static void test_compiled_out(void **state)
{
    fixture_t *f = *state;
    notify_ready();
    notify_extend_timeout(1);
    notify_reloading();
    notify_status("x");
    notify_watchdog();
    notify_stopping();
    assert_null(next(f));
    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(notify_watchdog_interval_us(), 0);
    unsetenv("WATCHDOG_USEC");
}

#endif

/* Outside systemd every call is a no-op. */
static void test_without_socket(void **state)
{
    fixture_t *f = *state;
    unsetenv("NOTIFY_SOCKET");
    notify_ready();
    notify_extend_timeout(1);
    notify_reloading();
    notify_status("x");
    notify_watchdog();
    notify_stopping();
    assert_null(next(f));
    setenv("NOTIFY_SOCKET", "/nonexistent/socket", 1);
    notify_ready(); /* fails quietly */
    assert_null(next(f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifdef GEVINST_HAVE_SYSTEMD
        cmocka_unit_test_setup_teardown(test_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_interval, setup, teardown),
#else
        cmocka_unit_test_setup_teardown(test_compiled_out, setup, teardown),
#endif
        cmocka_unit_test_setup_teardown(test_without_socket, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
