#!/usr/bin/env bash
# Failover time of a 3-member ensemble: SIGKILL of the leader -> the first write
# the survivors accept (a new session plus a create, see failover-probe.py),
# over N runs, for corekeeper or for Apache ZooKeeper 3.8 (Debian's package),
# with the same zoo.cfg (tickTime=2000, initLimit=10, syncLimit=5) on 127.0.0.1.
#
#   tuning/failover.sh corekeeper [RUNS] [OUT_DIR]
#   tuning/failover.sh zookeeper  [RUNS] [OUT_DIR]
#
# Prints one line per run and then "failover <server>: runs N p50 X ms p99 Y ms
# max Z ms"; OUT_DIR (default target/failover-<server>) keeps the times and
# the members' logs. Bounded: each run gives up after 60 s.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SERVER=${1:?corekeeper or zookeeper}
RUNS=${2:-20}
OUT=${3:-target/failover-$SERVER}
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fourlw() { python3 - "$1" "$2" <<'PY' 2>/dev/null || true
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
    s.sendall(sys.argv[2].encode()); out = b""
    while True:
        b = s.recv(4096)
        if not b: break
        out += b
    print(out.decode(errors="replace"))
except OSError:
    pass
PY
}
mode_of() { fourlw "${CPORT[$1]}" srvr | sed -n 's/^Mode: //p'; }

case "$SERVER" in
  corekeeper)
    cargo build --release --bin corekeeper >&2
    BIN=$PWD/target/release/corekeeper ;;
  zookeeper)
    command -v java >/dev/null && [ -f /usr/share/java/zookeeper.jar ] || {
      apt-get install -y zookeeper >&2; }
    CP=/usr/share/java/zookeeper.jar
    [ -f /usr/share/java/slf4j-simple.jar ] && CP="$CP:/usr/share/java/slf4j-simple.jar" ;;
  *) echo "usage: $0 corekeeper|zookeeper [RUNS] [OUT_DIR]" >&2; exit 2 ;;
esac

declare -a CPORT PID
SERVERS=""
for i in 1 2 3; do
  CPORT[$i]=$(free_port)
  SERVERS+="server.$i=127.0.0.1:$(free_port):$(free_port)"$'\n'
done
for i in 1 2 3; do
  mkdir -p "$OUT/m$i/data"
  echo "$i" >"$OUT/m$i/data/myid"
  cat >"$OUT/m$i/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$OUT/m$i/data
clientPort=${CPORT[$i]}
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
maxClientCnxns=0
$SERVERS
EOF
done

start() {
  local i=$1
  if [ "$SERVER" = corekeeper ]; then
    setsid "$BIN" --config "$OUT/m$i/zoo.cfg" >>"$OUT/m$i.log" 2>&1 </dev/null &
  else
    setsid java -Xmx512m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$CP" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$OUT/m$i/zoo.cfg" >>"$OUT/m$i.log" 2>&1 </dev/null &
  fi
  PID[$i]=$!
}
stop_all() {
  for i in 1 2 3; do
    [ -n "${PID[$i]:-}" ] && kill -KILL -- "-${PID[$i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap stop_all EXIT

# Waits until one member leads and the two others follow; echoes the leader.
wait_ensemble() {
  local deadline=$((SECONDS + 60)) i leader followers
  while [ "$SECONDS" -lt "$deadline" ]; do
    leader=""; followers=0
    for i in 1 2 3; do
      case "$(mode_of "$i")" in
        leader) leader=$i ;;
        follower) followers=$((followers + 1)) ;;
      esac
    done
    if [ -n "$leader" ] && [ "$followers" = 2 ]; then echo "$leader"; return 0; fi
    sleep 0.2
  done
  echo "the ensemble did not form within 60 s; logs in $OUT" >&2
  return 1
}

for i in 1 2 3; do start "$i"; done
: >"$OUT/times.txt"
for run in $(seq 1 "$RUNS"); do
  leader=$(wait_ensemble)
  # Let the members settle (sessions, pings) before the next kill.
  sleep 2
  survivors=""
  for i in 1 2 3; do [ "$i" = "$leader" ] || survivors+="127.0.0.1:${CPORT[$i]},"; done
  since=$(date +%s.%N)
  kill -KILL -- "-${PID[$leader]}"
  t=$(python3 tuning/failover-probe.py "${survivors%,}" --since "$since" --deadline 60)
  ms=$(python3 -c "print(round($t * 1000, 1))")
  echo "$ms" >>"$OUT/times.txt"
  echo "run $run: leader $leader killed, a write accepted again after $ms ms"
  { wait "${PID[$leader]}"; } 2>/dev/null || true
  start "$leader"
done
python3 - "$SERVER" "$OUT/times.txt" <<'PY'
import sys
xs = sorted(float(x) for x in open(sys.argv[2]) if x.strip())
def pct(p):
    k = max(0, min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return xs[k]
print("failover %s: runs %d p50 %.0f ms p99 %.0f ms max %.0f ms" % (sys.argv[1], len(xs), pct(50), pct(99), xs[-1]))
PY
