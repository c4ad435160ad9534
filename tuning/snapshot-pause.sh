#!/usr/bin/env bash
# Write latency while snapshots are taken, against the same run with snapshots off.
#   tuning/snapshot-pause.sh SNAPCOUNT OUT_DIR
# Starts corekeeper (release build) with snapCount=SNAPCOUNT on port 22197, runs the
# loadgen create workload (64 sessions x 8, 10 s after 2 s warm-up; the tree grows to
# ~700k znodes of 100 B, then tear-down deletes them), prints the latency line and the
# snapshot counters from mntr. Stops the server it started.
set -euo pipefail
SNAP=$1; OUT=$2; ROOT=$(cd "$(dirname "$0")/.." && pwd); PORT=22197
rm -rf "$OUT" && mkdir -p "$OUT/data"
printf '%s\n' tickTime=2000 "dataDir=$OUT/data" clientPort=$PORT clientPortAddress=127.0.0.1 maxClientCnxns=0 '4lw.commands.whitelist=*' "snapCount=$SNAP" > "$OUT/zoo.cfg"
"$ROOT/target/release/corekeeper" --config "$OUT/zoo.cfg" > "$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
sleep 2
"$ROOT/target/release/corekeeper-loadgen" run --target 127.0.0.1:$PORT --workload create --sessions 64 --depth 8 --duration 10 --warmup 2 --quiet --json > "$OUT/run.txt" 2>&1 || true
(exec 3<>/dev/tcp/127.0.0.1/$PORT; printf mntr >&3; cat <&3) | grep -E "ck_snapshot|ck_log_txns_per|znode_count" > "$OUT/mntr.txt" || true
head -4 "$OUT/run.txt" | tail -1
cat "$OUT/mntr.txt"
grep -c "snapshot written" "$OUT/server.log" || true
