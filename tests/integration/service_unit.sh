#!/usr/bin/env bash
# systemd/gevinstd.service: `systemd-analyze verify` finds nothing to say about it, it sets
# what the issue and daemon.md ask for, and `systemd-analyze security --offline` rates its
# exposure 2.0 or better. Needs no running systemd: verify and security --offline read the
# unit file only (in a container too). systemd-analyze comes with Debian's systemd package
# (scripts/install-deps.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UNIT=$GEVINST_SRC/systemd/gevinstd.service
MAX_EXPOSURE=2.0

command -v systemd-analyze >/dev/null ||
    it_fail "systemd-analyze is not installed (apt-get install systemd; scripts/install-deps.sh)"
[ -x "$GEVINSTD" ] || it_fail "$GEVINSTD is not built"
[ -f "$UNIT" ] || it_fail "$UNIT is missing"

# verify checks that ExecStart= is executable: a copy runs the build's binary instead of
# /usr/bin/gevinstd. The file keeps its name: the unit name comes from it.
mkdir -p "$IT_TMP/units"
sed "s|/usr/bin/gevinstd|$GEVINSTD|" "$UNIT" >"$IT_TMP/units/gevinstd.service"
grep -q "^ExecStart=$GEVINSTD " "$IT_TMP/units/gevinstd.service" ||
    it_fail "ExecStart= of the unit does not start /usr/bin/gevinstd"

# verify exits 0 on unknown keys and bad values, only printing them: any output fails.
verify() {
    local status=0
    SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$1" >"$IT_TMP/verify.out" 2>&1 ||
        status=$?
    [ "$status" -eq 0 ] && [ ! -s "$IT_TMP/verify.out" ]
}

it_step "systemd-analyze verify"
if ! verify "$IT_TMP/units/gevinstd.service"; then
    sed 's/^/    /' "$IT_TMP/verify.out" >&2
    it_fail "systemd-analyze verify complains about the unit"
fi

it_step "verify catches a misspelt key and a missing binary (so its silence means something)"
sed 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' "$IT_TMP/units/gevinstd.service" \
    >"$IT_TMP/gevinstd.service"
mkdir -p "$IT_TMP/typo" && mv "$IT_TMP/gevinstd.service" "$IT_TMP/typo/"
! verify "$IT_TMP/typo/gevinstd.service" || it_fail "verify accepted NoNewPrivilege="
it_assert_grep "$IT_TMP/verify.out" "NoNewPrivilege" "verify names the unknown key"
mkdir -p "$IT_TMP/nobin"
sed "s|^ExecStart=$GEVINSTD|ExecStart=$IT_TMP/no-such-binary|" \
    "$IT_TMP/units/gevinstd.service" >"$IT_TMP/nobin/gevinstd.service"
! verify "$IT_TMP/nobin/gevinstd.service" || it_fail "verify accepted a missing ExecStart binary"

it_step "the settings the issue asks for"
required=(
    'Type=notify'
    'NotifyAccess=main'
    'WatchdogSec=30s'
    'ExecStart=/usr/bin/gevinstd --config /etc/gevinstd/gevinstd.conf'
    'ExecReload=/bin/kill -HUP $MAINPID'
    'Restart=on-failure'
    'RestartPreventExitStatus=2'
    'DynamicUser=yes'
    'User=gevinstd'
    'LoadCredential=pseudonym.key:/etc/gevinstd/pseudonym.key'
    'LoadCredential=pgpass:/etc/gevinstd/pgpass'
    'Environment=PGPASSFILE=%d/pgpass'
    'NoNewPrivileges=yes'
    'ProtectSystem=strict'
    'ProtectHome=yes'
    'PrivateTmp=yes'
    'PrivateDevices=yes'
    'PrivateUsers=yes'
    'ProtectKernelTunables=yes'
    'ProtectKernelModules=yes'
    'ProtectKernelLogs=yes'
    'ProtectControlGroups=yes'
    'ProtectClock=yes'
    'ProtectHostname=yes'
    'ProtectProc=invisible'
    'ProcSubset=pid'
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'
    'RestrictNamespaces=yes'
    'RestrictRealtime=yes'
    'RestrictSUIDSGID=yes'
    'LockPersonality=yes'
    'MemoryDenyWriteExecute=yes'
    'SystemCallArchitectures=native'
    'SystemCallFilter=@system-service'
    'CapabilityBoundingSet='
    'UMask=0077'
)
for line in "${required[@]}"; do
    grep -qxF -- "$line" "$UNIT" || it_fail "$UNIT has no line '$line'"
done

it_step "systemd-analyze security --offline: exposure <= $MAX_EXPOSURE"
SYSTEMD_COLORS=0 systemd-analyze security --offline=yes --no-pager \
    "$IT_TMP/units/gevinstd.service" >"$IT_TMP/security.out" 2>&1 || true
it_log_file security "$IT_TMP/security.out"
exposure=$(sed -n 's/.*Overall exposure level for gevinstd.service: \([0-9.]*\).*/\1/p' \
    "$IT_TMP/security.out")
[ -n "$exposure" ] || it_fail "no overall exposure level in the output of systemd-analyze security"
it_log "exposure level: $exposure (at most $MAX_EXPOSURE)"
awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' ||
    it_fail "exposure level $exposure is over $MAX_EXPOSURE: $(grep '✗' "$IT_TMP/security.out" |
        tr -s ' ' | paste -sd';')"

it_pass
