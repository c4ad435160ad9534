#!/usr/bin/env bash
# The durability floor: synchronous writes (setData, depth 1) from 1, 2, 4 ...
# 256 sessions against corekeeper and against Apache ZooKeeper 3.8 (Debian's
# package), both with forceSync=yes, one server at a time, data on the same
# disk as OUT_DIR; beside them the disk's own fdatasync latency
# (tuning/fdatasync-probe.py). For each run: ops/s, latency percentiles, and
# txns per fsync (from the servers' own counters: the zxid in `srvr` and
# `cnt_fsynctime` in `mntr`, before and after the run).
#
#   cargo build --release --bin corekeeper -p corekeeper-loadgen
#   tuning/durability-floor.sh [OUT_DIR]
#
# Every line of OUT_DIR/results.jsonl is the loadgen's JSON plus server,
# sessions and txns_per_fsync. Every server this script starts, it stops.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LG=${LG:-$ROOT/target/release/corekeeper-loadgen}
CK=${CK:-$ROOT/target/release/corekeeper}
OUT=${1:-$(mktemp -d /tmp/ck-floor.XXXXXX)}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SERVERS=${SERVERS:-"corekeeper zookeeper"}
SESSIONS=${SESSIONS:-"1 2 4 8 16 32 64 128 256"}
EXTRA_RUNS=${EXTRA_RUNS:-"--sessions 64 --depth 8"}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
SERVER_PID=

port_free() { ! ss -ltn | awk '{print $4}' | grep -q ":$1\$"; }
wait_port() {
    for _ in $(seq 1 300); do
        if ! port_free "$1"; then return 0; fi
        sleep 0.1
    done
    echo "server on port $1 did not come up" >&2
    return 1
}
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT
word() { exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf '%s' "$1" >&3 && cat <&3; exec 3<&-; }
zxid() { echo $(($(word srvr | awk '/^Zxid:/ {print $2}'))); }
fsyncs() { word mntr | awk '$1 == "zk_cnt_fsynctime" {print $2}'; }

start_server() { # name -> sets SERVER_PID, PORT
    local name=$1 dir=$OUT/$1
    rm -rf "$dir" && mkdir -p "$dir/data"
    case $name in
    corekeeper)
        PORT=22181
        port_free $PORT || { echo "port $PORT busy" >&2; exit 1; }
        printf '%s\n' tickTime=2000 "dataDir=$dir/data" clientPort=$PORT clientPortAddress=127.0.0.1 \
            maxClientCnxns=0 '4lw.commands.whitelist=*' forceSync=yes >"$dir/zoo.cfg"
        "$CK" --config "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
        ;;
    zookeeper)
        PORT=32181
        port_free $PORT || { echo "port $PORT busy" >&2; exit 1; }
        printf '%s\n' tickTime=2000 "dataDir=$dir/data" clientPort=$PORT clientPortAddress=127.0.0.1 \
            maxClientCnxns=0 '4lw.commands.whitelist=*' admin.enableServer=false forceSync=yes \
            >"$dir/zoo.cfg"
        java -Xmx2g -cp "$(ls /usr/share/java/*.jar | tr '\n' :)" \
            org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
    wait_port $PORT
    sleep 1
}

python3 "$ROOT/tuning/fdatasync-probe.py" "$OUT" 2000 | tee "$OUT/probe-before.txt" >&2

run() { # server label options...
    local server=$1 label=$2
    shift 2
    local z0 f0 z1 f1
    z0=$(zxid) f0=$(fsyncs)
    "$LG" run --target 127.0.0.1:$PORT --workload write "$@" --duration "$DURATION" \
        --warmup "$WARMUP" --json --quiet >"$OUT/$server/$label.txt" 2>"$OUT/$server/$label.err" || true
    z1=$(zxid) f1=$(fsyncs)
    local per=null
    if [[ -n $f0 && -n $f1 && $f1 -gt $f0 ]]; then
        per=$(echo "($z1 - $z0) / ($f1 - $f0)" | bc -l)
    fi
    tail -n1 "$OUT/$server/$label.txt" | jq -c --arg server "$server" --arg run "$label" \
        --argjson per "$per" '. + {server: $server, run: $run, txns_per_fsync: $per}' >>"$RESULTS"
    head -n1 "$OUT/$server/$label.txt" >&2
}

for server in $SERVERS; do
    start_server "$server"
    echo "== $server (pid $SERVER_PID, port $PORT)" >&2
    "$LG" run --target 127.0.0.1:$PORT --workload write --sessions 16 --depth 1 --duration 5 \
        --warmup 0 --quiet >"$OUT/$server/prime.txt" 2>&1 || true
    for sessions in $SESSIONS; do
        run "$server" "write-${sessions}x1" --sessions "$sessions" --depth 1
    done
    if [[ -n $EXTRA_RUNS ]]; then
        # shellcheck disable=SC2086
        run "$server" "write-$(echo $EXTRA_RUNS | awk '{print $2 "x" $4}')" $EXTRA_RUNS
    fi
    stop_server
done

python3 "$ROOT/tuning/fdatasync-probe.py" "$OUT" 2000 | tee "$OUT/probe-after.txt" >&2
echo "results: $RESULTS" >&2
jq -r '[.server, .run, (.ops_per_sec|floor), .p50_us, .p99_us, .p999_us, .errors_total,
        (if .txns_per_fsync == null then "-" else (.txns_per_fsync * 10 | floor / 10 | tostring) end)]
       | @tsv' "$RESULTS" |
    awk 'BEGIN { printf "%-11s %-12s %9s %8s %8s %8s %4s %10s\n",
                 "server","run","ops/s","p50_us","p99_us","p999_us","err","txns/fsync" }
         { printf "%-11s %-12s %9d %8.0f %8.0f %8.0f %4d %10s\n", $1,$2,$3,$4,$5,$6,$7,$8 }'
