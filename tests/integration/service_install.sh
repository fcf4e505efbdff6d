#!/usr/bin/env bash
# `cmake --install` into a staging root (DESTDIR=, as a package build does): the binary, the
# systemd unit pointing at it, the example configuration and goals file, and the SQL
# migrations land where a package puts them; the installed binary runs, the installed unit
# passes `systemd-analyze verify`, and the example configuration passes --check.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$GEVINSTD" ] || it_fail "$GEVINSTD is not built"
[ -f "$GEVINST_BUILD/cmake_install.cmake" ] || it_fail "$GEVINST_BUILD is not configured"

# Paths as configured; with prefix /usr the configuration goes to /etc (GNUInstallDirs).
cache_get() {
    sed -n "s/^$1:[A-Z]*=//p" "$GEVINST_BUILD/CMakeCache.txt"
}
PREFIX=$(cache_get CMAKE_INSTALL_PREFIX)
[ -n "$PREFIX" ] || it_fail "no CMAKE_INSTALL_PREFIX in $GEVINST_BUILD/CMakeCache.txt"
BINDIR=$(cache_get CMAKE_INSTALL_BINDIR)
DATADIR=$(cache_get CMAKE_INSTALL_DATADIR) # empty: DATAROOTDIR
[ -n "$DATADIR" ] || DATADIR=$(cache_get CMAKE_INSTALL_DATAROOTDIR)
SYSCONFDIR=$(cache_get CMAKE_INSTALL_SYSCONFDIR)
case "$BINDIR" in /*) ;; *) BINDIR=$PREFIX/$BINDIR ;; esac
case "$DATADIR" in /*) ;; *) DATADIR=$PREFIX/$DATADIR ;; esac
case "$SYSCONFDIR" in
/*) ;;
*) if [ "$PREFIX" = /usr ] || [ "$PREFIX" = / ]; then SYSCONFDIR=/etc; else
    SYSCONFDIR=$PREFIX/$SYSCONFDIR
fi ;;
esac
ROOT=$IT_TMP/root

it_step "DESTDIR=$ROOT cmake --install (prefix $PREFIX)"
DESTDIR=$ROOT cmake --install "$GEVINST_BUILD" >"$IT_TMP/install.log" 2>&1 ||
    it_fail "cmake --install failed: $(tail -n 5 "$IT_TMP/install.log")"
it_log_file install "$IT_TMP/install.log"
( cd "$ROOT" && find . -type f | sort ) >"$IT_TMP/files"
it_log "installed: $(paste -sd' ' "$IT_TMP/files")"
# Nothing outside the staging root: every file cmake reports is under it.
if grep -E '^-- (Installing|Up-to-date): ' "$IT_TMP/install.log" | grep -vF -- "$ROOT/" |
    grep -q .; then
    it_fail "cmake --install wrote outside DESTDIR: $(grep -vF -- "$ROOT/" "$IT_TMP/install.log" |
        grep -E '^-- (Installing|Up-to-date)' | head -n 3 | paste -sd' ')"
fi

BIN=$ROOT$BINDIR/gevinstd
UNIT=$ROOT$PREFIX/lib/systemd/system/gevinstd.service
ETC=$ROOT$SYSCONFDIR/gevinstd
SQL=$ROOT$DATADIR/gevinstd/sql

it_step "the files"
[ -x "$BIN" ] || it_fail "no executable $BIN"
[ -f "$UNIT" ] || it_fail "no unit $UNIT"
[ -f "$ETC/gevinstd.conf.example" ] || it_fail "no $ETC/gevinstd.conf.example"
[ -f "$ETC/goals.json.example" ] || it_fail "no $ETC/goals.json.example"
cmp -s "$ETC/gevinstd.conf.example" "$GEVINST_SRC/config/gevinstd.conf.example" ||
    it_fail "the installed example configuration differs from config/gevinstd.conf.example"
for f in "$GEVINST_SRC"/sql/*.sql; do
    cmp -s "$f" "$SQL/${f##*/}" || it_fail "$SQL/${f##*/} is missing or differs from sql/"
done
it_assert_eq "$(find "$GEVINST_SRC/sql" -name '*.sql' | wc -l)" \
    "$(find "$SQL" -name '*.sql' | wc -l)" "number of SQL files installed"
# Nothing but these: no headers, static libraries or test programs.
if grep -vE "^\./(${BINDIR#/}/gevinstd|${PREFIX#/}/lib/systemd/system/gevinstd\.service|\
${SYSCONFDIR#/}/gevinstd/(gevinstd\.conf|goals\.json)\.example|${DATADIR#/}/gevinstd/sql/[^/]+\.sql)$" \
    "$IT_TMP/files" >"$IT_TMP/extra"; then
    it_fail "unexpected files installed: $(paste -sd' ' "$IT_TMP/extra")"
fi

it_step "the installed binary runs"
it_run version "$BIN" --version
it_assert_status 0 version "installed gevinstd --version"
it_assert_grep "$IT_TMP/version.out" "^gevinstd [0-9]+\.[0-9]+" "version line"

it_step "the installed unit starts this prefix's binary and reads this prefix's config"
it_assert_grep "$UNIT" "^ExecStart=$BINDIR/gevinstd --config $SYSCONFDIR/gevinstd/gevinstd.conf\$" \
    "ExecStart= of the installed unit"
it_assert_grep "$UNIT" "^LoadCredential=pseudonym.key:$SYSCONFDIR/gevinstd/pseudonym.key\$" \
    "LoadCredential= of the installed unit"
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$IT_TMP/units"
    sed "s|^ExecStart=$BINDIR/gevinstd|ExecStart=$BIN|" "$UNIT" >"$IT_TMP/units/gevinstd.service"
    status=0
    SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$IT_TMP/units/gevinstd.service" \
        >"$IT_TMP/verify.out" 2>&1 || status=$?
    if [ "$status" -ne 0 ] || [ -s "$IT_TMP/verify.out" ]; then
        sed 's/^/    /' "$IT_TMP/verify.out" >&2
        it_fail "systemd-analyze verify complains about the installed unit"
    fi
else
    it_log "systemd-analyze not installed: verify skipped here (service_unit fails instead)"
fi

it_step "the example configuration passes --check (with a key file and the example goals)"
openssl rand -hex 32 >"$IT_TMP/pseudonym.key"
chmod 600 "$IT_TMP/pseudonym.key"
sed -e "s|^pseudonym_key_file *=.*|pseudonym_key_file = $IT_TMP/pseudonym.key|" \
    "$ETC/gevinstd.conf.example" >"$IT_TMP/gevinstd.conf"
it_run check "$BIN" --config "$IT_TMP/gevinstd.conf" --check
it_assert_status 0 check "--check on the installed example configuration"

it_pass
