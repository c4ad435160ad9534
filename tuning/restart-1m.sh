#!/usr/bin/env bash
# Restart with 1M znodes: corekeeper beside Apache ZooKeeper 3.8 (Debian's
# package) on the same data. For each server, one at a time: load NODES
# znodes of VALUE bytes through the load generator (`create`, 64 sessions x 8
# in flight, forceSync=yes, default snapCount, so the server has taken its own
# snapshots on the way and keeps a log tail after the last one), create a
# marker znode, stop the server (SIGKILL: a crash), then ROUNDS times: start
# it and time from the moment it is started until it answers getData of the
# marker (tuning/zk-first-read.py), and stop it again.
#
#   cargo build --release --bin corekeeper -p corekeeper-loadgen
#   tuning/restart-1m.sh [OUT_DIR]
#
# DROP_CACHES=1 drops the page cache before each start (cold reads; needs
# root). CK_ENV adds environment to corekeeper's start (e.g.
# CK_ENV="MIMALLOC_ALLOW_THP=0"). Every server this script starts, it stops.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LG=${LG:-$ROOT/target/release/corekeeper-loadgen}
CK=${CK:-$ROOT/target/release/corekeeper}
OUT=${1:-$(mktemp -d /tmp/ck-restart.XXXXXX)}
NODES=${NODES:-1000000}
VALUE=${VALUE:-100}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-"corekeeper zookeeper"}
DROP_CACHES=${DROP_CACHES:-0}
CK_ENV=${CK_ENV:-}
LOAD=${LOAD:-1}
PROBE=/restart-probe
mkdir -p "$OUT"
SERVER_PID=

port_free() { ! ss -ltn | awk '{print $4}' | grep -q ":$1\$"; }
wait_port() {
    for _ in $(seq 1 600); do
        if ! port_free "$1"; then return 0; fi
        sleep 0.1
    done
    echo "server on port $1 did not come up" >&2
    return 1
}
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT
now_ns() { python3 -c 'import time; print(time.monotonic_ns())'; }

configure() { # name -> writes $OUT/name/zoo.cfg, sets PORT
    local name=$1 dir=$OUT/$1
    mkdir -p "$dir/data"
    case $name in
    corekeeper)
        PORT=${CK_PORT:-23181}
        printf '%s\n' tickTime=2000 "dataDir=$dir/data" clientPort=$PORT clientPortAddress=127.0.0.1 \
            maxClientCnxns=0 '4lw.commands.whitelist=*' forceSync=yes >"$dir/zoo.cfg"
        ;;
    zookeeper)
        PORT=${ZK_PORT:-33181}
        printf '%s\n' tickTime=2000 "dataDir=$dir/data" clientPort=$PORT clientPortAddress=127.0.0.1 \
            maxClientCnxns=0 '4lw.commands.whitelist=*' admin.enableServer=false forceSync=yes \
            >"$dir/zoo.cfg"
        ;;
    esac
}

start_server() { # name log
    local name=$1 log=$2 dir=$OUT/$1
    port_free "$PORT" || { echo "port $PORT busy" >&2; exit 1; }
    case $name in
    corekeeper)
        # shellcheck disable=SC2086
        env $CK_ENV RUST_LOG=info "$CK" --config "$dir/zoo.cfg" >"$log" 2>&1 &
        ;;
    zookeeper)
        java -Xmx4g -cp "$(ls /usr/share/java/*.jar | tr '\n' :)" \
            org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$log" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
}

for server in $SERVERS; do
    configure "$server"
    dir=$OUT/$server
    if [[ $LOAD == 1 ]]; then
        rm -rf "$dir/data" && mkdir -p "$dir/data"
        start_server "$server" "$dir/load.log"
        wait_port "$PORT"
        echo "== $server: loading $NODES znodes of $VALUE B" >&2
        "$LG" run --target 127.0.0.1:$PORT --workload create --ops "$NODES" --value-size "$VALUE" \
            --sessions 64 --depth 8 --warmup 0 --quiet --json >"$dir/load.txt" 2>"$dir/load.err"
        python3 "$ROOT/tuning/zk-first-read.py" create 127.0.0.1:$PORT $PROBE here
        stop_server
    fi
    du -sh "$dir/data" >&2
    for round in $(seq 1 "$ROUNDS"); do
        if [[ $DROP_CACHES == 1 ]]; then
            sync && echo 3 >/proc/sys/vm/drop_caches
        fi
        load=$(cut -d' ' -f1 /proc/loadavg)
        t0=$(now_ns)
        start_server "$server" "$dir/restart-$round.log"
        ms=$(python3 "$ROOT/tuning/zk-first-read.py" wait-read 127.0.0.1:$PORT $PROBE "$t0" 300)
        stop_server
        echo "$server round $round: first read after ${ms} ms (load $load)" >&2
        printf '{"server":"%s","round":%d,"first_read_ms":%s,"load":%s}\n' \
            "$server" "$round" "$ms" "$load" >>"$OUT/results.jsonl"
    done
done
echo "results: $OUT/results.jsonl" >&2
