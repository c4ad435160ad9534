#!/usr/bin/env bash
# The side-by-side in one command: corekeeper (release build) and Apache
# ZooKeeper 3.8 (Debian's package, through tuning/zookeeper.sh), both
# standalone with forceSync=yes and their data on the same disk, every named
# workload run by `corekeeper-loadgen compare` in interleaved rounds
# (ZooKeeper, corekeeper, ZooKeeper, corekeeper, ...), then:
#
#   * the host's ceiling: the loadgen's null server against corekeeper (read, write);
#   * open loop at 80% of ZooKeeper's measured saturation (write, read), for
#     the p99.9 goal;
#   * tuning/gen-results.py, which writes the table into tuning/RESULTS.md.
#
#   tuning/side-by-side.sh [OUT_DIR]      # default: tuning/results/side-by-side
#
# OUT_DIR gets, per workload, <name>.json (compare's JSON plus the load
# average before and after and the exact command), <name>.txt (its table),
# html/<name>.html (its report) and meta.json (host, versions, settings).
# Knobs (environment): ROUNDS=3 DURATION=4 WARMUP=1, WORKLOADS="read write ..."
# (with APPEND=1: re-run those into an existing OUT_DIR)
# (default: all), DATA_DIR (default: a new directory under /var/tmp; both
# servers' data go there, so on one disk; the default one is removed at the
# end unless KEEP_DATA=1), NO_BUILD=1, CEILING=0, OPEN_LOOP=0, GENERATE=0 (do not touch
# RESULTS.md). Ports are picked at random among the free ones in 20000-40000.
# Every process this script starts, it stops, by pid. Before each workload
# both servers must complete a few writes (a server that stopped answering
# writes ends the sweep with a message instead of hanging it); each compare is
# bounded by COMPARE_TIME_MAX seconds (default 1200).
#
# Disk: the servers keep every log segment (no purge, as ZooKeeper's
# default), several GiB per sweep; DISK_FREE_MIN_GIB (default 15) must be
# free on DATA_DIR's filesystem at the start.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/tuning/results/side-by-side}
LG=${LG:-$ROOT/target/release/corekeeper-loadgen}
CK=${CK:-$ROOT/target/release/corekeeper}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
WARMUP=${WARMUP:-1}
ALL_WORKLOADS="read write rw-sweep create mixed sync-create durability-floor bulk-load multi-write multi-read latency-profile watch-fanout session-churn large"
WORKLOADS=${WORKLOADS:-$ALL_WORKLOADS}
if [[ -z ${DATA_DIR:-} ]]; then
    DATA_DIR=$(mktemp -d /var/tmp/ck-side-by-side.XXXXXX)
    DATA_DIR_OURS=1
fi
COMPARE_TIME_MAX=${COMPARE_TIME_MAX:-1200}
free_gib=$(df -P -BG "$DATA_DIR" | awk 'NR == 2 {print int($4)}')
if ((free_gib < ${DISK_FREE_MIN_GIB:-15})); then
    echo "side-by-side: only ${free_gib} GiB free under $DATA_DIR (DISK_FREE_MIN_GIB=${DISK_FREE_MIN_GIB:-15})" >&2
    exit 1
fi

# Options beyond the defaults, so that the sweep fits in ~20 minutes: fewer
# sweep points, fewer counted operations. Everything else is the workload's own.
declare -A OPTIONS=(
    [rw-sweep]="--read-pct 0,25,50,75,100"
    [durability-floor]="--sessions 1,4,16,64,256,1024"
    [bulk-load]="--ops 100000"
    [latency-profile]="--ops 1000"
)

mkdir -p "$OUT/html"
CK_PID= NULL_PID= ZK_DIR=$DATA_DIR/zookeeper

pick_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        ss -ltn | awk '{print $4}' | grep -q ":$p\$" || { echo "$p"; return; }
    done
}
wait_port() {
    for _ in $(seq 1 300); do
        ss -ltn | awk '{print $4}' | grep -q ":$1\$" && return 0
        sleep 0.1
    done
    echo "side-by-side: nothing listens on $1" >&2
    return 1
}
stop_pid() {
    if [[ -n $1 ]]; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
stop_all() {
    stop_pid "$CK_PID"
    stop_pid "$NULL_PID"
    if [[ -f $ZK_DIR/pid ]]; then "$ROOT/tuning/zookeeper.sh" stop "$ZK_DIR" || true; fi
    CK_PID= NULL_PID=
    if [[ ${DATA_DIR_OURS:-0} == 1 && ${KEEP_DATA:-0} != 1 && -d $DATA_DIR ]]; then
        # Keep the servers' logs beside the results; the data goes.
        cp "$DATA_DIR/corekeeper/server.log" "$OUT/corekeeper-server.log" 2>/dev/null || true
        cp "$ZK_DIR/zookeeper.log" "$OUT/zookeeper-server.log" 2>/dev/null || true
        rm -rf "$DATA_DIR"
    fi
}
trap stop_all EXIT
load1() { cut -d' ' -f1 /proc/loadavg; }

if [[ ${NO_BUILD:-0} != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p corekeeper -p corekeeper-loadgen --bins)
fi

# --- servers
CK_PORT=$(pick_port)
mkdir -p "$DATA_DIR/corekeeper/data"
printf '%s\n' tickTime=2000 "dataDir=$DATA_DIR/corekeeper/data" "clientPort=$CK_PORT" \
    clientPortAddress=127.0.0.1 maxClientCnxns=0 forceSync=yes '4lw.commands.whitelist=*' \
    >"$DATA_DIR/corekeeper/zoo.cfg"
"$CK" --config "$DATA_DIR/corekeeper/zoo.cfg" >"$DATA_DIR/corekeeper/server.log" 2>&1 &
CK_PID=$!
wait_port "$CK_PORT"
ZK_PORT=$(pick_port)
read -r ZK_PORT ZK_PID < <("$ROOT/tuning/zookeeper.sh" start "$ZK_DIR" "$ZK_PORT" || true)
[[ -n ${ZK_PID:-} ]] || { echo "side-by-side: ZooKeeper did not start" >&2; exit 1; }
ZK=127.0.0.1:$ZK_PORT
CKA=127.0.0.1:$CK_PORT
echo "side-by-side: corekeeper $CKA (pid $CK_PID), ZooKeeper $ZK (pid $ZK_PID), data in $DATA_DIR" >&2

# APPEND=1 re-runs some workloads into an existing OUT_DIR: their rows are
# replaced and marked as re-run; the sweep's meta.json stays, this run's goes
# to meta-<time>.json.
META=$OUT/meta.json
if [[ ${APPEND:-0} == 1 && -f $META ]]; then
    META=$OUT/meta-$(date -u +%Y%m%dT%H%M).json
fi
python3 - "$META" <<EOF
import json, os, subprocess, sys, time
def sh(cmd):
    try:
        return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True).stdout.strip()
    except Exception:
        return ""
def mntr(port, key):
    for line in sh(f"exec 3<>/dev/tcp/127.0.0.1/{port} && printf mntr >&3 && cat <&3").splitlines():
        if line.startswith(key + "\t"):
            return line.split("\t", 1)[1]
    return ""
meta = {
    "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "commit": sh("git -C '$ROOT' rev-parse --short HEAD"),
    "commit_dirty": sh("git -C '$ROOT' status --porcelain --untracked-files=no") != "",
    "corekeeper_version": mntr($CK_PORT, "zk_version"),
    "zookeeper_version": mntr($ZK_PORT, "zk_version"),
    "zookeeper_package": sh("dpkg-query -W -f '\${Version}' zookeeper"),
    "java": sh("java -version 2>&1 | head -n1"),
    "zookeeper_heap": "${ZK_HEAP:-2g}",
    "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
    "cores": os.cpu_count(),
    "memory_gib": round(int(sh("awk '/MemTotal/ {print \$2}' /proc/meminfo") or 0) / 2**20, 1),
    "kernel": sh("uname -sr"),
    "data_dir": "$DATA_DIR",
    "data_fs": sh("findmnt -n -o SOURCE,FSTYPE,OPTIONS -T '$DATA_DIR'"),
    "rounds": $ROUNDS, "duration_s": $DURATION, "warmup_s": $WARMUP,
    "load_at_start": open("/proc/loadavg").read().split()[:3],
    "host_check": json.loads(sh("'$ROOT/tuning/host-check.sh' --json '$DATA_DIR'") or "{}"),
    "corekeeper_cfg": open("$DATA_DIR/corekeeper/zoo.cfg").read(),
    "zookeeper_cfg": open("$ZK_DIR/zoo.cfg").read(),
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF

# Unmeasured priming: the JVM's JIT, both servers' first segments and caches.
for target in "$ZK" "$CKA"; do
    "$LG" run --target "$target" --workload mixed --duration 5 --warmup 0 --quiet >/dev/null 2>&1 || true
done

# Whether the server at $1 completes a few synchronous writes within 30 s.
writes_ok() {
    timeout 30 "$LG" run --target "$1" --workload write --sessions 1 --depth 1 --ops 20 \
        --quiet --no-server-facts >/dev/null 2>&1
}
check_servers() {
    local name target
    for pair in "zookeeper=$ZK" "corekeeper=$CKA"; do
        name=${pair%%=*} target=${pair#*=}
        if ! writes_ok "$target"; then
            echo "side-by-side: $name ($target) no longer completes writes; stopping the sweep" >&2
            echo "side-by-side: its log: $OUT/$name-server.log" >&2
            exit 1
        fi
    done
}

# compare_one NAME A_NAME A B_NAME B loadgen-options...
compare_one() {
    local name=$1 a_name=$2 a=$3 b_name=$4 b=$5
    shift 5
    local cmd=("$LG" compare --a "$a" --b "$b" --a-name "$a_name" --b-name "$b_name"
        --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" "$@"
        --quiet --json --html "$OUT/html/$name.html")
    local before t0=$SECONDS status=0
    before=$(load1)
    echo "side-by-side: $name (load $before): ${cmd[*]#"$ROOT/"}" >&2
    timeout "$COMPARE_TIME_MAX" "${cmd[@]}" >"$OUT/$name.txt" 2>"$OUT/$name.err" || status=$?
    tail -n1 "$OUT/$name.txt" | jq -c --arg before "$before" --arg after "$(load1)" \
        --arg cmd "corekeeper-loadgen ${cmd[*]:1}" --argjson status "$status" \
        --argjson seconds $((SECONDS - t0)) --arg utc "$(date -u '+%Y-%m-%d %H:%M UTC')" \
        --argjson rerun "$([[ ${APPEND:-0} == 1 ]] && echo true || echo false)" \
        '. + {load_before: ($before|tonumber), load_after: ($after|tonumber), command: $cmd,
              exit_status: $status, wall_s: $seconds, run_utc: $utc, rerun: $rerun}' >"$OUT/$name.json" ||
        echo "side-by-side: $name printed no JSON (exit $status); see $OUT/$name.err" >&2
    sed -n '/^compare /,$p' "$OUT/$name.txt" | grep -v '^{' >&2 || true
}

for w in $WORKLOADS; do
    check_servers
    # shellcheck disable=SC2086
    compare_one "$w" zookeeper "$ZK" corekeeper "$CKA" --workload "$w" ${OPTIONS[$w]:-}
done

if [[ ${CEILING:-1} == 1 ]]; then
    NULL_PORT=$(pick_port)
    "$LG" null-server --port "$NULL_PORT" >"$DATA_DIR/null-server.log" 2>&1 &
    NULL_PID=$!
    wait_port "$NULL_PORT"
    for w in read write; do
        compare_one "ceiling-$w" null-server "127.0.0.1:$NULL_PORT" corekeeper "$CKA" --workload "$w"
    done
    stop_pid "$NULL_PID"
    NULL_PID=
fi

if [[ ${OPEN_LOOP:-1} == 1 ]]; then
    for w in write read; do
        [[ -f $OUT/$w.json ]] || continue
        check_servers
        rate=$(jq '.steps[0].metrics.ops_per_sec.a * 0.8 | floor' "$OUT/$w.json")
        compare_one "open-loop-$w" zookeeper "$ZK" corekeeper "$CKA" --workload "$w" --rate "$rate"
    done
fi

stop_all
jq --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '.load_at_end = ($load | split(" "))' \
    "$META" >"$META.tmp" && mv "$META.tmp" "$META"
if [[ ${GENERATE:-1} == 1 ]]; then
    python3 "$ROOT/tuning/gen-results.py" "$OUT" "${RESULTS_MD:-$ROOT/tuning/RESULTS.md}"
fi
echo "side-by-side: results in $OUT" >&2
