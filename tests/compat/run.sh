#!/usr/bin/env bash
# Real-client compatibility suite: kazoo (Python) and zkCli.sh (Java, Apache
# ZooKeeper 3.8) against a ZooKeeper-compatible server on 127.0.0.1.
#
#   bash tests/compat/run.sh                      build and start corekeeper, run the checks
#   bash tests/compat/run.sh --against-zookeeper  same checks against Apache ZooKeeper 3.8
#   bash tests/compat/run.sh --target HOST:PORT   same checks against a running server
#   bash tests/compat/run.sh --ensemble           same checks against a follower of a
#                                                 3-member corekeeper ensemble on 127.0.0.1
#
# Options: --skip-install (tests/compat/install.sh is run otherwise),
#          --only kazoo|zkcli, -k SUBSTRING (kazoo checks to run; repeatable),
#          --keep (keep the temporary dataDir and logs),
#          --baseline FILE (known failures, one "suite:check" a line: they are
#            reported but do not fail the run), --write-baseline FILE.
# Exit status 0 only if every check passed (or failed as the baseline
# expects); the last line is "compat: N passed, M failed, K skipped"
# (K = known failures from the baseline).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=corekeeper
TARGET=
ONLY=
KEEP=0
INSTALL=1
KFILTER=()
BASELINE=
WRITE_BASELINE=
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET=${2:?--target needs HOST:PORT}; MODE=target; shift 2 ;;
    --target=*) TARGET=${1#--target=}; MODE=target; shift ;;
    --against-zookeeper) MODE=zookeeper; shift ;;
    --ensemble) MODE=ensemble; shift ;;
    --skip-install) INSTALL=0; shift ;;
    --only) ONLY=${2:?--only needs kazoo or zkcli}; shift 2 ;;
    -k) KFILTER+=(-k "${2:?-k needs a substring}"); shift 2 ;;
    --keep) KEEP=1; shift ;;
    --baseline) BASELINE=${2:?--baseline needs a file}; shift 2 ;;
    --write-baseline) WRITE_BASELINE=${2:?--write-baseline needs a file}; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) warn "unknown argument: $1 (see --help)"; exit 2 ;;
  esac
done

SERVER_START_TIMEOUT=${SERVER_START_TIMEOUT:-60}   # seconds to answer ruok
BUILD_TIMEOUT=${BUILD_TIMEOUT:-2700}               # cargo build --release
KAZOO_TIMEOUT=${KAZOO_TIMEOUT:-600}
ZKCLI_SUITE_TIMEOUT=${ZKCLI_SUITE_TIMEOUT:-300}

T0=$SECONDS
WORKDIR=
SERVER_PID=
SERVER_LOG=
LOGDIR="$REPO_ROOT/target/compat-logs"

MEMBER_PIDS=()     # ensemble mode: every member's process group

stop_server() {
  local pid
  for pid in "${MEMBER_PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${MEMBER_PIDS[@]}"; do
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  MEMBER_PIDS=()
  [ -n "$SERVER_PID" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
  fi
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
cleanup() {
  local rc=$?
  stop_server
  if [ -n "$WORKDIR" ] && [ -d "$WORKDIR" ]; then
    if [ "$KEEP" = 1 ]; then say "compat: kept $WORKDIR"; else rm -rf "$WORKDIR"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

FAILS=()          # "suite:check" of every failed check
TOTAL_PASS=0

# finish: compare the failures with the baseline, print the summary, exit
finish() {
  local known=() unexpected=() fixed=() f line
  local -A base=() seen=()
  if [ -n "$BASELINE" ]; then
    [ -f "$BASELINE" ] || { say "compat: baseline $BASELINE not found"; BASELINE=; }
  fi
  if [ -n "$BASELINE" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%%$'\r'}
      case "$line" in '' | '#'*) continue ;; esac
      base["$line"]=1
    done <"$BASELINE"
  fi
  for f in "${FAILS[@]}"; do
    seen["$f"]=1
    if [ -n "${base[$f]:-}" ]; then known+=("$f"); else unexpected+=("$f"); fi
  done
  if [ -n "$BASELINE" ] && [ -z "${seen[server:start]:-}" ]; then
    for f in "${!base[@]}"; do
      [ -n "${seen[$f]:-}" ] || fixed+=("$f")
    done
  fi
  if [ -n "$WRITE_BASELINE" ]; then
    { say "# compat checks known to fail (written by tests/compat/run.sh --write-baseline)"
      printf '%s\n' "${FAILS[@]}" | sort; } >"$WRITE_BASELINE"
    say "compat: wrote ${#FAILS[@]} failures to $WRITE_BASELINE"
  fi
  say "== compat: mode $MODE${TARGET:+, target $TARGET}, $((SECONDS - T0))s in all"
  if [ "${#known[@]}" -gt 0 ]; then
    say "compat: ${#known[@]} known failures (baseline $BASELINE), not counted:"
    printf '  %s\n' "${known[@]}" | sort | head -n 40
  fi
  if [ "${#fixed[@]}" -gt 0 ]; then
    say "compat: now passing, remove from $BASELINE:"
    printf '  %s\n' "${fixed[@]}" | sort
  fi
  if [ "${#unexpected[@]}" -gt 0 ]; then
    say "compat: failed:"
    printf '  %s\n' "${unexpected[@]}"
  fi
  say "compat: $TOTAL_PASS passed, ${#unexpected[@]} failed, ${#known[@]} skipped"
  [ "${#unexpected[@]}" = 0 ]
  exit
}

die() { # the suite could not run at all: one failure, named $1
  FAILS+=("$1")
  shift
  say "compat: ERROR: $*"
  finish
}

server_log_tail() {
  if [ -n "$SERVER_LOG" ] && [ -s "$SERVER_LOG" ]; then
    mkdir -p "$LOGDIR"
    cp "$SERVER_LOG" "$LOGDIR/$MODE-server.log"
    say "---- last lines of the server log ($LOGDIR/$MODE-server.log) ----"
    tail -n 30 "$SERVER_LOG"
    say "----"
  fi
}

write_zoo_cfg() { # DIR PORT
  cat >"$1/zoo.cfg" <<EOF
tickTime=2000
dataDir=$1/data
clientPort=$2
4lw.commands.whitelist=*
extendedTypesEnabled=true
clientPortAddress=127.0.0.1
admin.enableServer=false
EOF
  mkdir -p "$1/data"
}

# wait_ruok HOST PORT SECONDS: until the server answers imok; fails early if
# the server process died
wait_ruok() {
  local host=$1 port=$2 secs=$3 deadline=$((SECONDS + $3))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
      local rc=0
      wait "$SERVER_PID" 2>/dev/null || rc=$?
      SERVER_PID=
      server_log_tail
      die server:start "the server process exited (status $rc) before answering ruok on $host:$port"
    fi
    if [ "$(fourlw "$host" "$port" ruok 2>/dev/null || true)" = imok ]; then return 0; fi
    sleep 0.25
  done
  server_log_tail
  die server:start "no 'imok' from $host:$port within ${secs}s (is a ZooKeeper-compatible server listening there, with ruok enabled?)"
}

start_server() { # CMD...; sets SERVER_PID
  SERVER_LOG="$WORKDIR/server.log"
  setsid "$@" >"$SERVER_LOG" 2>&1 </dev/null &
  SERVER_PID=$!
}

# ---------------------------------------------------------------------------

say "== compat: mode $MODE"
WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/compat-$MODE.XXXXXX")
mkdir -p "$WORKDIR/suites"
if [ "$INSTALL" = 1 ]; then
  bash "$COMPAT_DIR/install.sh" || die setup:install "tests/compat/install.sh failed"
fi
[ -x "$COMPAT_VENV/bin/python" ] || die setup:install "no Python venv at $COMPAT_VENV (run tests/compat/install.sh)"

case "$MODE" in
  target)
    HOST=${TARGET%:*}
    PORT=${TARGET##*:}
    [ -n "$HOST" ] && [ -n "$PORT" ] && [ "$HOST" != "$TARGET" ] || die setup:args "--target wants HOST:PORT, got '$TARGET'"
    wait_ruok "$HOST" "$PORT" 10
    ;;
  ensemble)
    HOST=127.0.0.1
    say "== compat: cargo build --release"
    (cd "$REPO_ROOT" && run_bounded "$BUILD_TIMEOUT" cargo build --release) ||
      die server:start "cargo build --release failed (or took over ${BUILD_TIMEOUT}s)"
    BIN="$REPO_ROOT/target/release/corekeeper"
    declare -a CPORTS=() SERVERS=()
    for i in 1 2 3; do
      CPORTS[$i]=$(free_port)
      SERVERS+=("server.$i=127.0.0.1:$(free_port):$(free_port)")
    done
    for i in 1 2 3; do
      mkdir -p "$WORKDIR/m$i"
      write_zoo_cfg "$WORKDIR/m$i" "${CPORTS[$i]}"
      echo "$i" >"$WORKDIR/m$i/data/myid"
      printf 'initLimit=10\nsyncLimit=5\n' >>"$WORKDIR/m$i/zoo.cfg"
      printf '%s\n' "${SERVERS[@]}" >>"$WORKDIR/m$i/zoo.cfg"
      SERVER_LOG="$WORKDIR/m$i/server.log"
      setsid "$BIN" --config "$WORKDIR/m$i/zoo.cfg" >"$SERVER_LOG" 2>&1 </dev/null &
      MEMBER_PIDS+=($!)
    done
    # Wait for a leader and two followers; the checks run against a follower,
    # so every write goes through forwarding to the leader.
    PORT=
    deadline=$((SECONDS + SERVER_START_TIMEOUT))
    while [ "$SECONDS" -lt "$deadline" ] && [ -z "$PORT" ]; do
      modes=""
      for i in 1 2 3; do
        modes+="$({ fourlw "$HOST" "${CPORTS[$i]}" srvr 2>/dev/null || true; } | sed -n 's/^Mode: //p') "
      done
      if [ "$(grep -o leader <<<"$modes" | wc -l)" = 1 ] && [ "$(grep -o follower <<<"$modes" | wc -l)" = 2 ]; then
        for i in 1 2 3; do
          if [ "$({ fourlw "$HOST" "${CPORTS[$i]}" srvr 2>/dev/null || true; } | sed -n 's/^Mode: //p')" = follower ]; then PORT=${CPORTS[$i]}; break; fi
        done
      fi
      sleep 0.25
    done
    [ -n "$PORT" ] || { SERVER_LOG="$WORKDIR/m1/server.log"; server_log_tail; die server:start "the ensemble elected no leader within ${SERVER_START_TIMEOUT}s (modes: $modes)"; }
    say "== compat: ensemble up (modes: $modes); checks run against the follower on port $PORT"
    export COMPAT_EXPECT_MODE=follower
    ;;
  zookeeper | corekeeper)
    HOST=127.0.0.1
    PORT=$(free_port)
    write_zoo_cfg "$WORKDIR" "$PORT"
    if [ "$MODE" = zookeeper ]; then
      JAVA=${JAVA:-java}
      CP="/usr/share/java/zookeeper.jar"
      [ -f /usr/share/java/slf4j-simple.jar ] && CP="$CP:/usr/share/java/slf4j-simple.jar"
      command -v "$JAVA" >/dev/null || die setup:install "java not found"
      say "== compat: starting Apache ZooKeeper ($CP) on $HOST:$PORT, dataDir $WORKDIR/data"
      start_server "$JAVA" -Xmx256m -XX:+UseSerialGC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -cp "$CP" org.apache.zookeeper.server.ZooKeeperServerMain "$WORKDIR/zoo.cfg"
    else
      say "== compat: cargo build --release"
      t=$SECONDS
      (cd "$REPO_ROOT" && run_bounded "$BUILD_TIMEOUT" cargo build --release) ||
        die server:start "cargo build --release failed (or took over ${BUILD_TIMEOUT}s)"
      say "== compat: built in $((SECONDS - t))s"
      BIN="$REPO_ROOT/target/release/corekeeper"
      [ -x "$BIN" ] || die server:start "$BIN does not exist after cargo build --release"
      say "== compat: starting $BIN --config $WORKDIR/zoo.cfg on $HOST:$PORT"
      start_server "$BIN" --config "$WORKDIR/zoo.cfg"
    fi
    t=$SECONDS
    wait_ruok "$HOST" "$PORT" "$SERVER_START_TIMEOUT"
    say "== compat: server answered imok after $((SECONDS - t))s"
    ;;
esac

TARGET="$HOST:$PORT"

# run_suite NAME SECONDS CMD...: run and echo a checker; count its PASS lines
# and collect its FAIL lines as "NAME:check". A checker that dies without its
# closing "NAME: N passed, M failed" line adds the failure "NAME:suite".
run_suite() {
  local name=$1 secs=$2 rc out t=$SECONDS line check
  shift 2
  out="$WORKDIR/suites/$name.log"
  say "== compat: $name"
  set +o pipefail
  run_bounded "$secs" "$@" </dev/null 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  set -o pipefail
  TOTAL_PASS=$((TOTAL_PASS + $(grep -c '^PASS ' "$out" || true)))
  while IFS= read -r line; do
    check=${line#FAIL }
    # kazoo: "FAIL name   1.23s  error"; zkcli: "FAIL label"
    [ "$name" = kazoo ] && check=${check%% *}
    FAILS+=("$name:$check")
  done < <(grep '^FAIL ' "$out" || true)
  if ! grep -qE "^$name: [0-9]+ passed, [0-9]+ failed$" "$out"; then
    say "FAIL $name suite ended without its result line (exit status $rc)"
    FAILS+=("$name:suite")
  elif [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$out"; then
    say "FAIL $name suite exit status $rc with no failed check"
    FAILS+=("$name:suite")
  fi
  say "== compat: $name took $((SECONDS - t))s"
}

if [ -z "$ONLY" ] || [ "$ONLY" = kazoo ]; then
  run_suite kazoo "$KAZOO_TIMEOUT" "$COMPAT_VENV/bin/python" -u "$COMPAT_DIR/kazoo_checks.py" --hosts "$TARGET" "${KFILTER[@]}"
fi
if [ -z "$ONLY" ] || [ "$ONLY" = zkcli ]; then
  run_suite zkcli "$ZKCLI_SUITE_TIMEOUT" bash "$COMPAT_DIR/zkcli_checks.sh" "$TARGET"
fi

if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
  say "FAIL the server process died during the checks"
  FAILS+=("server:alive")
fi
if [ "${#FAILS[@]}" -gt 0 ]; then server_log_tail; fi
finish
