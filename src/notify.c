/* notify: sd_notify wrappers. Without libsystemd every call compiles to
 * nothing, so callers need no #ifdef. */
#include "gevinst/notify.h"

#include "gevinst/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#ifdef GEVINST_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static void send_state(const char *state)
{
    /* 0: keep NOTIFY_SOCKET in the environment, the daemon notifies all its life. */
    int r = sd_notify(0, state);
    if (r < 0)
        log_debug("notify: sd_notify(%s) failed: error %d", state, -r);
}
#else
static void send_state(const char *state)
{
    (void)state;
}
#endif

void notify_ready(void)
{
    send_state("READY=1");
}

void notify_reloading(void)
{
    struct timespec ts;
    char buf[64];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    send_state(buf);
}

void notify_stopping(void)
{
    send_state("STOPPING=1");
}

void notify_status(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n = snprintf(buf, sizeof(buf), "STATUS=");
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    /* A line feed would start another assignment: keep the status one line. */
    for (char *c = buf; *c; c++)
        if (*c == '\n')
            *c = ' ';
    send_state(buf);
}

void notify_watchdog(void)
{
    send_state("WATCHDOG=1");
}

void notify_extend_timeout(uint64_t usec)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
    send_state(buf);
}

uint64_t notify_watchdog_interval_us(void)
{
#ifdef GEVINST_HAVE_SYSTEMD
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0)
        return usec / 2;
#endif
    return 0;
}
