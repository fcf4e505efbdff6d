#ifndef GEVINST_NOTIFY_H
#define GEVINST_NOTIFY_H

#include <stdint.h>

/* notify: the service manager protocol (sd_notify), for Type=notify units.
 *
 * Every call is a no-op when the process was not started by systemd
 * (NOTIFY_SOCKET unset) or the build has no libsystemd (GEVINST_SYSTEMD=OFF,
 * GEVINST_HAVE_SYSTEMD undefined). Failures are logged at debug level only:
 * nothing the daemon could do about them. */

/* READY=1: start-up finished (call once consuming), and again after a reload. */
void notify_ready(void);

/* RELOADING=1 with MONOTONIC_USEC= (systemd 253+ wants it to match the reload
 * to its READY=1); follow with notify_ready() once the reload is done. */
void notify_reloading(void);

/* STOPPING=1: shutdown has begun. */
void notify_stopping(void);

/* STATUS=...: the one-line status `systemctl status` shows. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* WATCHDOG=1: the main loop is alive. */
void notify_watchdog(void);

/* EXTEND_TIMEOUT_USEC=usec: still starting (waiting for PostgreSQL or Kafka),
 * give me usec more before TimeoutStartSec= fails the start. Call it with the
 * watchdog pings until notify_ready(): a daemon that waits for its servers at
 * boot is not killed for it, one that hangs still is. */
void notify_extend_timeout(uint64_t usec);

/* How often to call notify_watchdog(), in microseconds: half of WatchdogSec
 * (WATCHDOG_USEC), or 0 when the watchdog is off for this process. */
uint64_t notify_watchdog_interval_us(void);

#endif
