#!/usr/bin/env bash
# The daemon speaks the systemd notify protocol as a Type=notify service must: with
# NOTIFY_SOCKET pointing at the test's own datagram socket and WATCHDOG_USEC=2 s, it sends
# READY=1 once consuming, WATCHDOG=1 at least every second, RELOADING=1 (with
# MONOTONIC_USEC=) then READY=1 around a SIGHUP, and STOPPING=1 on SIGTERM, in that order,
# and exits 0.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$GEVINSTD" ] || it_fail "$GEVINSTD is not built"
command -v python3 >/dev/null || it_fail "python3 is not installed"

it_start_pg
it_start_kafka ehr.appointments:1 ehr.journal:1 ehr.audit:1
it_write_config "$IT_TMP/gevinstd.ini"

# The receiving end of NOTIFY_SOCKET: one line per datagram, line feeds shown as '|'.
SOCK=$IT_TMP/notify.sock
LOG=$IT_TMP/notify.log
: >"$LOG"
it_bg receiver python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    print("bound", flush=True)
    while True:
        out.write(s.recv(4096).decode().replace("\n", "|") + "\n")
        out.flush()
' "$SOCK" "$LOG"
it_wait_for "[ -S '$SOCK' ]" 10 || it_fail "the notify socket did not appear"
it_log_file notify "$LOG"

# No WATCHDOG_PID: sd_watchdog_enabled() then applies WATCHDOG_USEC to whoever reads it.
it_step "start gevinstd under NOTIFY_SOCKET, WATCHDOG_USEC=2000000"
it_bg daemon env NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=2000000 \
    "$GEVINSTD" --config "$IT_TMP/gevinstd.ini"
it_wait_for "grep -qx 'READY=1' '$LOG'" 60 || it_fail "no READY=1 within 60 s"

it_step "watchdog pings"
sleep 3
# Counted after READY=1: systemd arms the watchdog then (pings before it are harmless).
pings=$(awk '/^READY=1$/ { r = 1 } r && /^WATCHDOG=1$/ { n++ } END { print n + 0 }' "$LOG")
[ "$pings" -ge 2 ] || it_fail "$pings WATCHDOG=1 in the 3 s after READY=1 (WATCHDOG_USEC=2 s)"

it_step "SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1"
kill -HUP "$(it_pid daemon)"
it_wait_for "[ \$(grep -cx 'READY=1' '$LOG') -ge 2 ]" 30 ||
    it_fail "no second READY=1 within 30 s of SIGHUP"
it_assert_grep "$LOG" '^RELOADING=1\|MONOTONIC_USEC=[0-9]+$' "RELOADING=1 with MONOTONIC_USEC="

it_step "SIGTERM: STOPPING=1, exit 0"
it_stop daemon 15
it_assert_eq 0 "$IT_STATUS" "exit status after SIGTERM"
it_wait_for "grep -qx 'STOPPING=1' '$LOG'" 5 || it_fail "no STOPPING=1"

it_step "in order"
order=$(grep -E '^(READY|RELOADING|STOPPING)=1' "$LOG" | cut -d'|' -f1 | paste -sd' ')
it_assert_eq "READY=1 RELOADING=1 READY=1 STOPPING=1" "$order" "notification order"

it_pass
