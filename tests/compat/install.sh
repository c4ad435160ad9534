#!/usr/bin/env bash
# Installs what the compatibility suite needs, idempotently:
#   apt:  zookeeper (Apache ZooKeeper 3.8 server, jars and zkCli.sh),
#         zookeeper-bin, netcat-openbsd, python3-venv (only if venv/ensurepip
#         is missing), and a Java runtime (pulled in by zookeeper)
#   pip:  kazoo (pinned) into a venv at target/compat-venv ($COMPAT_VENV)
# apt-get update runs only when a package is missing. Non-interactive.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAZOO_VERSION=2.11.0
export DEBIAN_FRONTEND=noninteractive

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); else
    warn "not root and no sudo: apt packages can only be checked, not installed"
  fi
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

want=(zookeeper zookeeper-bin netcat-openbsd)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || want+=(python3-venv)
command -v java >/dev/null 2>&1 || want+=(default-jre-headless)

missing=()
for p in "${want[@]}"; do installed "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "compat install: apt-get install ${missing[*]}"
  timeout 900 "${SUDO[@]}" apt-get update -qq
  timeout 1800 "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "compat install: apt packages present (${want[*]})"
fi
[ -x "$ZK_CLI" ] || { warn "zkCli.sh not found at $ZK_CLI after install"; exit 1; }
[ -f /usr/share/java/zookeeper.jar ] || { warn "/usr/share/java/zookeeper.jar missing after install"; exit 1; }

have_kazoo() {
  [ -x "$COMPAT_VENV/bin/python" ] &&
    "$COMPAT_VENV/bin/python" -c "import sys, kazoo.version as v; sys.exit(v.__version__ != '$KAZOO_VERSION')" 2>/dev/null
}
if have_kazoo; then
  say "compat install: kazoo $KAZOO_VERSION present in $COMPAT_VENV"
else
  say "compat install: kazoo $KAZOO_VERSION into $COMPAT_VENV"
  mkdir -p "$(dirname "$COMPAT_VENV")"
  [ -x "$COMPAT_VENV/bin/python" ] || timeout 300 python3 -m venv "$COMPAT_VENV"
  timeout 600 "$COMPAT_VENV/bin/python" -m pip install -q --disable-pip-version-check "kazoo==$KAZOO_VERSION"
  have_kazoo || { warn "kazoo $KAZOO_VERSION not importable from $COMPAT_VENV"; exit 1; }
fi
