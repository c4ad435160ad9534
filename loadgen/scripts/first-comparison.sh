#!/usr/bin/env bash
# First side-by-side of corekeeper and Apache ZooKeeper 3.8 (Debian's package) on
# this host, one server at a time, with the bundled load generator.
#
#   cargo build --release --bin corekeeper -p corekeeper-loadgen
#   loadgen/scripts/first-comparison.sh [OUT_DIR]
#
# Servers: corekeeper on 22181 (in-memory in this build), ZooKeeper on 32181
# with forceSync=yes (its default: fsync per txn-log group) and again with
# forceSync=no, and the loadgen's null server on 52181 (the generator's own
# ceiling on this host). Each gets an unmeasured priming run (JIT warm-up for
# the JVM), then the runs in RUNS. Every line of OUT_DIR/results.jsonl is the
# loadgen's JSON plus the server, the run's label, the 1-minute load average
# before the run and the server's CPU use over the whole loadgen invocation.
# Every server this script starts, it stops.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LG=${LG:-$ROOT/target/release/corekeeper-loadgen}
CK=${CK:-$ROOT/target/release/corekeeper}
OUT=${1:-$(mktemp -d /tmp/ck-compare.XXXXXX)}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SERVERS=${SERVERS:-"null corekeeper zookeeper-fsync zookeeper-nofsync"}
# label|loadgen options
RUNS=${RUNS:-"read-64x8|--workload read --sessions 64 --depth 8
write-64x8|--workload write --sessions 64 --depth 8
mixed-64x8|--workload rw-sweep --read-pct 50 --sessions 64 --depth 8
read-1x1|--workload read --sessions 1 --depth 1
write-1x1|--workload write --sessions 1 --depth 1
mixed-1x1|--workload rw-sweep --read-pct 50 --sessions 1 --depth 1"}
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
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
host_busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

start_server() { # name -> sets SERVER_PID, PORT
    local name=$1 dir=$OUT/$1
    rm -rf "$dir" && mkdir -p "$dir/data"
    case $name in
    null)
        PORT=52181
        port_free $PORT || { echo "port $PORT busy" >&2; exit 1; }
        "$LG" null-server --port $PORT >"$dir/server.log" 2>&1 &
        ;;
    corekeeper)
        PORT=22181
        port_free $PORT || { echo "port $PORT busy" >&2; exit 1; }
        printf '%s\n' tickTime=2000 "dataDir=$dir/data" clientPort=$PORT maxClientCnxns=0 \
            '4lw.commands.whitelist=*' >"$dir/zoo.cfg"
        "$CK" --config "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
        ;;
    zookeeper-fsync | zookeeper-nofsync)
        PORT=32181
        port_free $PORT || { echo "port $PORT busy" >&2; exit 1; }
        local sync=yes
        [[ $name == zookeeper-nofsync ]] && sync=no
        printf '%s\n' tickTime=2000 "dataDir=$dir/data" clientPort=$PORT maxClientCnxns=0 \
            '4lw.commands.whitelist=*' admin.enableServer=false "forceSync=$sync" >"$dir/zoo.cfg"
        java -Xmx2g -cp "$(ls /usr/share/java/*.jar | tr '\n' :)" \
            org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
    wait_port $PORT
    sleep 1
}

for server in $SERVERS; do
    start_server "$server"
    echo "== $server (pid $SERVER_PID, port $PORT)" >&2
    "$LG" run --target 127.0.0.1:$PORT --workload rw-sweep --read-pct 50 --duration 5 --warmup 0 --quiet \
        >"$OUT/$server/prime.txt" 2>&1 || true
    while IFS='|' read -r label options; do
        [[ -z $label ]] && continue
        load1=$(cut -d' ' -f1 /proc/loadavg)
        t0=$(date +%s.%N)
        c0=$(cpu_ticks "$SERVER_PID")
        h0=$(host_busy_ticks)
        # shellcheck disable=SC2086
        /usr/bin/time -f '%U %S' -o "$OUT/$server/$label.time" \
            "$LG" run --target 127.0.0.1:$PORT $options --duration "$DURATION" --warmup "$WARMUP" \
            --json --quiet >"$OUT/$server/$label.txt" 2>"$OUT/$server/$label.err" || true
        if ! c1=$(cpu_ticks "$SERVER_PID" 2>/dev/null); then
            # Killed from outside (a shared host): say so, restart it, go on.
            echo "!! $server exited during $label; restarting it (run not recorded)" >&2
            start_server "$server"
            continue
        fi
        h1=$(host_busy_ticks)
        t1=$(date +%s.%N)
        tck=$(getconf CLK_TCK)
        elapsed=$(echo "$t1 - $t0" | bc -l)
        server_cpu=$(echo "($c1 - $c0) / $tck / $elapsed" | bc -l)
        lg_cpu=$(awk '{print $1 + $2}' "$OUT/$server/$label.time")
        # CPU used by everything else on the host during the run: other people's work.
        other_cpu=$(echo "(($h1 - $h0) / $tck - $lg_cpu) / $elapsed - $server_cpu" | bc -l)
        tail -n1 "$OUT/$server/$label.txt" | jq -c --arg server "$server" --arg runlabel "$label" \
            --argjson load1 "$load1" --argjson cpu "$server_cpu" --argjson other "$other_cpu" \
            '. + {server: $server, run: $runlabel, load1_before: $load1, server_cpu_cores: $cpu,
                  other_cpu_cores: $other}' \
            >>"$RESULTS"
        head -n1 "$OUT/$server/$label.txt" >&2
    done <<<"$RUNS"
    stop_server
done

echo "results: $RESULTS" >&2
jq -r '[.server, .run, (.ops_per_sec|floor), .p50_us, .p99_us, .p999_us, .max_us,
        .errors_total, .loadgen_cpu_cores, .server_cpu_cores, .other_cpu_cores, .load1_before]
       | @tsv' "$RESULTS" |
    awk 'BEGIN { printf "%-18s %-11s %9s %9s %9s %9s %9s %4s %6s %6s %6s %5s\n",
                 "server","run","ops/s","p50_us","p99_us","p999_us","max_us","err","lg_cpu","sv_cpu","other","load" }
         { printf "%-18s %-11s %9d %9.0f %9.0f %9.0f %9.0f %4d %6.2f %6.2f %6.2f %5.2f\n",
                  $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12 }'
