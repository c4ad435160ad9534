# shellcheck shell=bash
# Helpers shared by run.sh and zkcli_checks.sh (sourced, not executed).

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$COMPAT_DIR/../.." && pwd)"
ZK_HOME="${ZK_HOME:-/usr/share/zookeeper}"
ZK_CLI="${ZK_CLI:-$ZK_HOME/bin/zkCli.sh}"
COMPAT_VENV="${COMPAT_VENV:-$REPO_ROOT/target/compat-venv}"

say() { printf '%s\n' "$*"; }
warn() { printf 'compat: %s\n' "$*" >&2; }

# fourlw HOST PORT WORD: print the server's answer to a four-letter word
# (bash /dev/tcp; the server closes the connection after answering).
fourlw() {
  local host=$1 port=$2 word=$3 fd out
  exec {fd}<>"/dev/tcp/$host/$port" 2>/dev/null || return 1
  printf '%s' "$word" >&"$fd" 2>/dev/null || { exec {fd}>&-; return 1; }
  out=$(timeout 5 cat <&"$fd" 2>/dev/null) || true
  exec {fd}>&-
  printf '%s' "$out"
}

# free_port: an unused TCP port on 127.0.0.1
free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# run_bounded SECONDS CMD...: run CMD in its own session (process group) with
# the caller's stdin/stdout/stderr; after SECONDS kill the whole group
# (TERM, then KILL) and return 124. Leftover group members are killed even on
# a normal exit, so nothing started by CMD outlives it.
run_bounded() {
  local secs=$1 pid rc ticks=0
  shift
  setsid "$@" <&0 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if ((ticks >= secs * 10)); then
      warn "timed out after ${secs}s: $*"
      kill -TERM -- "-$pid" 2>/dev/null || true
      sleep 2
      kill -KILL -- "-$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 124
    fi
    sleep 0.1
    ticks=$((ticks + 1))
  done
  rc=0
  wait "$pid" || rc=$?
  kill -KILL -- "-$pid" 2>/dev/null || true
  return "$rc"
}
