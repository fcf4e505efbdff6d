#!/usr/bin/env bash
# Installs what gevinstd needs to build, test and run its local demo on Debian 12.
# Idempotent: installs only what is missing; apt-get update only when something is.
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang-format clang libclang-rt-14-dev
      librdkafka-dev libpq-dev libjansson-dev libcmocka-dev libssl-dev
      libsystemd-dev libmicrohttpd-dev libcurl4-openssl-dev
      postgresql-15 postgresql-client-15 kcat openssl procps
      systemd prometheus   # systemd-analyze (unit tests), promtool (metrics format)
      python3)             # tests/support/*.py: loopback SMTP and HTTP receivers (stdlib only)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
