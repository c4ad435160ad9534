#!/usr/bin/env bash
# Drives Debian's Java zkCli.sh (Apache ZooKeeper 3.8 client) against HOST:PORT
# and greps its output; plus the four-letter words over a bare socket.
# Three zkCli JVMs in all: commands are fed on stdin, one batch per session,
# with marker commands (`ls /__compat_mark_N`, answered "Node does not exist")
# splitting the output into sections so that each expectation is checked
# against the output of its own commands.
#
#   bash zkcli_checks.sh 127.0.0.1:2181      # prints PASS/FAIL lines and
#                                            # "zkcli: N passed, M failed"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TARGET=${1:?usage: zkcli_checks.sh HOST:PORT}
HOST=${TARGET%:*}
PORT=${TARGET##*:}
BASE="/compat-zkcli-$$-$RANDOM"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/compat-zkcli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ZKCLI_TIMEOUT=${ZKCLI_TIMEOUT:-60}

PASSED=0
FAILED=0
FAILED_NAMES=()
pass() { PASSED=$((PASSED + 1)); printf 'PASS %s\n' "$1"; }
fail() {
  FAILED=$((FAILED + 1))
  FAILED_NAMES+=("$1")
  printf 'FAIL %s\n' "$1"
  shift
  local line
  for line in "$@"; do printf '     %s\n' "$line"; done
}

# --- running zkCli --------------------------------------------------------

mark() { printf 'ls /__compat_mark_%s\n' "$1"; }

# batch NAME < script: run one zkCli session over stdin, output in $WORK/NAME.out
batch() {
  local name=$1 rc=0
  cat >"$WORK/$name.in"
  run_bounded "$ZKCLI_TIMEOUT" "$ZK_CLI" -server "$TARGET" <"$WORK/$name.in" >"$WORK/$name.raw" 2>&1 || rc=$?
  grep -v '^SLF4J' "$WORK/$name.raw" >"$WORK/$name.out" || true
  # zkCli exits with the status of its last command; what matters is that it
  # got through the whole script (its last marker answered) in time
  local last
  last=$(grep -o '^ls /__compat_mark_[0-9]*' "$WORK/$name.in" | tail -n 1 | sed 's/^ls //')
  if [ "$rc" -ge 124 ] || ! grep -qxF "Node does not exist: $last" "$WORK/$name.out"; then
    fail "zkcli session '$name' ran its whole script" "exit status $rc; last lines:" "$(tail -n 8 "$WORK/$name.out")"
  fi
}

# section NAME N: the output between marker N and the next marker
section() {
  awk -v m="Node does not exist: /__compat_mark_$2" '
    index($0, "Node does not exist: /__compat_mark_") == 1 { on = ($0 == m); next }
    on { print }' "$WORK/$1.out"
}

# has NAME N TEXT [LABEL]: section N of batch NAME contains the line TEXT
# (exactly, after trimming trailing blanks)
has() {
  local label=${4:-"$1.$2: '$3'"}
  if section "$1" "$2" | sed 's/[[:space:]]*$//' | grep -qxF -- "$3"; then pass "$label"; else
    fail "$label" "expected a line: $3" "section $2 of '$1' was:" "$(section "$1" "$2" | head -n 40)"
  fi
}
# hasnt NAME N TEXT [LABEL]: no line of section N contains TEXT
hasnt() {
  local label=${4:-"$1.$2: no '$3'"}
  if section "$1" "$2" | grep -qF -- "$3"; then
    fail "$label" "unexpected text: $3" "section $2 of '$1' was:" "$(section "$1" "$2" | head -n 40)"
  else pass "$label"; fi
}
# matches NAME N REGEX [LABEL]: some line of section N matches the ERE
matches() {
  local label=${4:-"$1.$2: /$3/"}
  if section "$1" "$2" | grep -qE -- "$3"; then pass "$label"; else
    fail "$label" "expected a line matching: $3" "section $2 of '$1' was:" "$(section "$1" "$2" | head -n 40)"
  fi
}
# anywhere NAME TEXT [LABEL]: the whole output of batch NAME has the line TEXT
# (watch notifications are printed by another thread, so they are not
# attributed to sections)
anywhere() {
  local label=${3:-"$1: '$2'"}
  if sed 's/[[:space:]]*$//' "$WORK/$1.out" | grep -qxF -- "$2"; then pass "$label"; else
    fail "$label" "expected a line anywhere: $2" "output of '$1' was:" "$(tail -n 60 "$WORK/$1.out")"
  fi
}
count_lines() { sed 's/[[:space:]]*$//' "$WORK/$1.out" | grep -cxF -- "$2" || true; }

DIGEST=$(python3 -c 'import base64, hashlib; print(base64.b64encode(hashlib.sha1(b"bob:pw").digest()).decode())')
B=$BASE

say "zkcli checks against $TARGET (base $B, $ZK_CLI)"

# --- session 1: data, errors, node kinds, ACLs, watches ---------------------
batch s1 <<EOF
$(mark 1)
create $B
create $B/a hello
create $B/a again
get -s $B/a
$(mark 2)
set $B/a world
set -s -v 1 $B/a v2
set -v 7 $B/a nope
get $B/a
$(mark 3)
create -s $B/s- x
create -s $B/s- x
create -e $B/eph e
create -e -s $B/es- x
create -c $B/cont
create -t 60000 $B/ttl t
create -s -t 60000 $B/ttls- t
create $B/eph/kid
create $B/missing/kid
$(mark 4)
stat $B/eph
$(mark 5)
stat $B/ttl
$(mark 6)
stat $B/cont
$(mark 7)
stat $B
$(mark 8)
ls $B
$(mark 9)
ls -s $B
$(mark 10)
create $B/a/b
create $B/a/b/c
ls -R $B/a
$(mark 11)
getAllChildrenNumber $B
$(mark 12)
getEphemerals $B
$(mark 13)
delete $B/a
$(mark 14)
delete -v 5 $B/s-0000000001
$(mark 15)
delete $B/s-0000000001
delete $B/nope
$(mark 16)
deleteall $B/a
ls $B/a
$(mark 17)
sync $B
$(mark 18)
create $B//bad
$(mark 19)
create relative
$(mark 20)
create $B/trail/
$(mark 21)
get $B/nope
$(mark 22)
whoami
$(mark 23)
addauth digest bob:pw
whoami
$(mark 24)
create $B/sec s digest:bob:$DIGEST:cdrwa
getAcl $B/sec
$(mark 25)
create $B/ro r world:anyone:r
getAcl $B/ro
$(mark 26)
set $B/ro x
$(mark 27)
setAcl $B/ro world:anyone:cdrwa
$(mark 28)
create $B/ro/kid
$(mark 29)
create $B/acl x
setAcl -v 0 $B/acl world:anyone:cdrwa
$(mark 30)
setAcl -v 0 $B/acl world:anyone:cdrwa
$(mark 31)
setAcl $B/acl world:anyone:cdrw
getAcl -s $B/acl
create $B/bad-acl x digest:bob:cdrwa
$(mark 32)
get -w $B/ttl
set $B/ttl t2
ls -w $B/cont
create $B/cont/k
stat -w $B/nw
create $B/nw
addWatch -m PERSISTENT $B/pw
create $B/pw
set $B/pw 1
delete $B/pw
addWatch $B/rw
create $B/rw
removewatches $B/rw
$(mark 33)
removewatches $B/none
$(mark 34)
version
$(mark 35)
sync $B
ls $B
get $B/ttl
$(mark 36)
quit
EOF

# session 1's expectations, then sessions 2 and 3
session_checks() {
has s1 1 "Created $B"
has s1 1 "Created $B/a"
has s1 1 "Node already exists: $B/a" "create existing: Node already exists"
has s1 1 "hello" "get -s: data"
has s1 1 "dataVersion = 0" "get -s: dataVersion"
has s1 1 "numChildren = 0" "get -s: numChildren"
has s1 1 "dataLength = 5" "get -s: dataLength"
has s1 1 "cversion = 0" "get -s: cversion"
has s1 1 "aclVersion = 0" "get -s: aclVersion"
has s1 1 "ephemeralOwner = 0x0" "get -s: ephemeralOwner"
matches s1 1 '^cZxid = 0x[0-9a-f]+$' "get -s: cZxid"
has s1 2 "dataVersion = 2" "set -s -v 1: dataVersion"
has s1 2 "dataLength = 2" "set -s -v 1: dataLength"
has s1 2 "version No is not valid : $B/a" "set with a bad version"
has s1 2 "v2" "get after set"
has s1 3 "Created $B/s-0000000001" "create -s: first suffix (parent had 1 child create)"
has s1 3 "Created $B/s-0000000002" "create -s: second suffix"
has s1 3 "Created $B/eph" "create -e"
has s1 3 "Created $B/es-0000000004" "create -e -s"
has s1 3 "Created $B/cont" "create -c (container)"
has s1 3 "Created $B/ttl" "create -t (TTL)"
has s1 3 "Created $B/ttls-0000000007" "create -s -t (sequential TTL)"
has s1 3 "Ephemerals cannot have children: $B/eph/kid" "child of an ephemeral"
has s1 3 "Node does not exist: $B/missing/kid" "create without parent"
matches s1 4 '^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$' "stat: ephemeral owner is the session"
has s1 4 "numChildren = 0" "stat ephemeral: numChildren"
has s1 5 "ephemeralOwner = 0x0" "stat TTL node: ephemeralOwner reported as 0x0"
has s1 5 "dataLength = 1" "stat TTL node: dataLength"
has s1 6 "ephemeralOwner = 0x0" "stat container: ephemeralOwner reported as 0x0"
has s1 7 "numChildren = 8" "stat parent: numChildren"
has s1 7 "cversion = 8" "stat parent: cversion"
has s1 8 "[a, cont, eph, es-0000000004, s-0000000001, s-0000000002, ttl, ttls-0000000007]" "ls (sorted by zkCli)"
has s1 9 "[a, cont, eph, es-0000000004, s-0000000001, s-0000000002, ttl, ttls-0000000007]" "ls -s: children"
has s1 9 "numChildren = 8" "ls -s: stat"
has s1 10 "$B/a" "ls -R: root"
has s1 10 "$B/a/b" "ls -R: child"
has s1 10 "$B/a/b/c" "ls -R: grandchild"
has s1 11 "10" "getAllChildrenNumber"
matches s1 12 "^\[.*$B/eph(,|\]).*$" "getEphemerals lists the ephemeral"
matches s1 12 "^\[.*$B/es-0000000004(,|\]).*$" "getEphemerals lists the sequential ephemeral"
has s1 13 "Node not empty: $B/a" "delete non-empty: Node not empty"
has s1 14 "version No is not valid : $B/s-0000000001" "delete with a bad version"
has s1 15 "Node does not exist: $B/nope" "delete missing"
hasnt s1 15 "$B/s-0000000001" "delete existing prints nothing"
has s1 16 "Node does not exist: $B/a" "deleteall removed the subtree"
has s1 17 "Sync is OK" "sync"
matches s1 18 "^Invalid path string \"$B//bad\" caused by empty node name specified" "invalid path: empty node name"
has s1 19 "Path must start with / character" "invalid path: relative"
has s1 20 "Path must not end with / character" "invalid path: trailing slash"
has s1 21 "Node does not exist: $B/nope" "get missing: Node does not exist"
has s1 22 "Auth scheme: User" "whoami header"
has s1 22 "ip: 127.0.0.1" "whoami before auth"
has s1 23 "digest: bob" "whoami after addauth digest"
has s1 23 "ip: 127.0.0.1" "whoami keeps ip"
has s1 24 "Created $B/sec" "create with a digest ACL"
has s1 24 "'digest,'bob:$DIGEST" "getAcl digest id (sha1/base64)"
has s1 24 ": cdrwa" "getAcl digest perms"
has s1 25 "'world,'anyone" "getAcl world id"
has s1 25 ": r" "getAcl world perms"
has s1 26 "Insufficient permission : $B/ro" "set without WRITE: Insufficient permission"
has s1 27 "Insufficient permission : $B/ro" "setAcl without ADMIN: Insufficient permission"
has s1 28 "Insufficient permission : $B/ro/kid" "create without CREATE: Insufficient permission"
has s1 30 "version No is not valid : $B/acl" "setAcl with a stale version"
has s1 31 ": cdrw" "setAcl then getAcl"
has s1 31 "aclVersion = 2" "getAcl -s: aclVersion"
has s1 31 "KeeperErrorCode = InvalidACL for $B/bad-acl" "digest ACL id without a password hash: InvalidACL"
has s1 33 "KeeperErrorCode = No such watcher for $B/none" "removewatches without a watch"
matches s1 34 '^ZooKeeper CLI version: 3\.' "zkCli version"
has s1 35 "t2" "get after the watched set"
anywhere s1 "WatchedEvent state:SyncConnected type:NodeDataChanged path:$B/ttl" "get -w fires NodeDataChanged"
anywhere s1 "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:$B/cont" "ls -w fires NodeChildrenChanged"
anywhere s1 "WatchedEvent state:SyncConnected type:NodeCreated path:$B/nw" "stat -w on a missing node fires NodeCreated"
anywhere s1 "WatchedEvent state:SyncConnected type:NodeCreated path:$B/pw" "addWatch PERSISTENT: NodeCreated"
anywhere s1 "WatchedEvent state:SyncConnected type:NodeDataChanged path:$B/pw" "addWatch PERSISTENT: NodeDataChanged"
anywhere s1 "WatchedEvent state:SyncConnected type:NodeDeleted path:$B/pw" "addWatch PERSISTENT: NodeDeleted"
anywhere s1 "WatchedEvent state:SyncConnected type:NodeCreated path:$B/rw" "addWatch (recursive): NodeCreated"
anywhere s1 "WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:$B/rw" "removewatches of a persistent watch"
local n
n=$(count_lines s1 "WatchedEvent state:SyncConnected type:NodeDataChanged path:$B/ttl")
if [ "$n" = 1 ]; then pass "one-shot data watch fired once"; else fail "one-shot data watch fired once" "fired $n times"; fi

# --- session 2: a new session sees the first one's ephemerals gone ----------
batch s2 <<EOF
$(mark 1)
ls $B
$(mark 2)
get $B/sec
$(mark 3)
addauth digest bob:wrong
get $B/sec
$(mark 4)
addauth digest bob:pw
get $B/sec
$(mark 5)
quit
EOF
has s2 1 "[acl, cont, nw, ro, rw, s-0000000002, sec, ttl, ttls-0000000007]" "ephemerals gone after the session quit"
has s2 2 "Insufficient permission : $B/sec" "digest ACL denies an unauthenticated session"
has s2 3 "Insufficient permission : $B/sec" "digest ACL denies a wrong password"
has s2 4 "s" "digest ACL admits the right password"

# --- session 3: cleanup -----------------------------------------------------
batch s3 <<EOF
addauth digest bob:pw
deleteall $B
$(mark 1)
ls $B
$(mark 2)
quit
EOF
has s3 1 "Node does not exist: $B" "deleteall of the base path"

}

if grep -qxF "WatchedEvent state:SyncConnected type:None path:null" "$WORK/s1.out"; then
  pass "zkCli connects (SyncConnected)"
  session_checks
else
  fail "zkCli connects (SyncConnected)" "no 'WatchedEvent state:SyncConnected type:None'; zkCli output:" "$(tail -n 20 "$WORK/s1.out")"
  say "zkcli: no session, the remaining zkCli sessions are skipped"
fi

# --- four-letter words ------------------------------------------------------
fl() {
  local word=$1 want=$2 label=$3 out
  out=$(fourlw "$HOST" "$PORT" "$word" || true)
  if printf '%s\n' "$out" | grep -qE -- "$want"; then pass "4lw $word: $label"; else
    fail "4lw $word: $label" "expected /$want/ in:" "$(printf '%s' "$out" | head -n 20)"
  fi
}
out=$(fourlw "$HOST" "$PORT" ruok || true)
if [ "$out" = imok ]; then pass "4lw ruok: exactly imok"; else fail "4lw ruok: exactly imok" "got: '$out'"; fi
fl srvr '^Zookeeper version: [0-9]+\.[0-9]+\.[0-9]+' "version line"
fl srvr "^Mode: ${COMPAT_EXPECT_MODE:-standalone}\$" "mode"
fl srvr '^Node count: [0-9]+$' "node count"
fl srvr '^Zxid: 0x[0-9a-f]+$' "zxid"
fl stat '^Clients:$' "clients section"
fl stat '^ /127\.0\.0\.1:[0-9]+\[0\]\(queued=0,recved=1,sent=0\)$' "its own connection"
fl conf "^clientPort=$PORT$" "clientPort"
fl conf '^tickTime=2000$' "tickTime"
fl conf '^maxSessionTimeout=40000$' "maxSessionTimeout"
fl envi '^zookeeper\.version=' "zookeeper.version"
fl mntr "^zk_server_state"$'\t'"${COMPAT_EXPECT_MODE:-standalone}\$" "server state"
fl mntr $'^zk_znode_count\t[0-9]+$' "znode count"
fl isro '^rw$' "read-write"
fl wchs '^[0-9]+ connections watching [0-9]+ paths$' "summary"
fl dirs '^datadir_size: [0-9]+$' "datadir size"
fl cons '^ /127\.0\.0\.1:[0-9]+\[0\]\(queued=0,recved=1,sent=0\)$' "own connection"
fl crst '^Connection stats reset\.$' "reset"
fl srst '^Server stats reset\.$' "reset"

say "zkcli: $BASE"
if [ "$FAILED" -gt 0 ]; then say "zkcli failed checks: ${FAILED_NAMES[*]}"; fi
say "zkcli: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
