#!/usr/bin/env bash
# Apache ZooKeeper 3.8 from Debian's `zookeeper` package, standalone, set up the
# way the side-by-side compares it: forceSync=yes (ZooKeeper's default: the
# txn log is fsynced before a write is acknowledged), maxClientCnxns=0 (no
# per-IP connection cap), every four-letter word allowed (the load generator
# reads `mntr`), no AdminServer, INFO logging to a file, the data directory
# where you say (put it on the same disk as corekeeper's).
#
#   tuning/zookeeper.sh start DIR [PORT]   # start in the background; prints "PORT PID"
#   tuning/zookeeper.sh stop DIR           # stop the one started in DIR
#   tuning/zookeeper.sh run DIR [PORT]     # in the foreground
#
# DIR gets zoo.cfg, conf/log4j.properties, data/, zookeeper.log, pid. PORT:
# default 2181. Installs the package (apt-get) when it is absent. JVM:
# OpenJDK from the package's dependencies, `-Xmx2g` (ZK_HEAP to change it),
# JVMFLAGS for anything else.
set -euo pipefail

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[[ $# -ge 2 ]] || usage
CMD=$1
DIR=$2
PORT=${3:-2181}
HEAP=${ZK_HEAP:-2g}

install_zookeeper() {
    if dpkg -s zookeeper >/dev/null 2>&1 && [[ -f /usr/share/java/zookeeper.jar ]]; then
        return
    fi
    local sudo=
    [[ $(id -u) == 0 ]] || sudo=sudo
    echo "zookeeper.sh: installing Debian's zookeeper package" >&2
    $sudo apt-get install -y --no-install-recommends zookeeper >&2 ||
        { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends zookeeper >&2; }
}

port_free() { ! ss -ltn | awk '{print $4}' | grep -q ":$1\$"; }

configure() {
    mkdir -p "$DIR/data" "$DIR/conf"
    DIR=$(cd "$DIR" && pwd)
    cat >"$DIR/zoo.cfg" <<EOF
tickTime=2000
dataDir=$DIR/data
clientPort=$PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
forceSync=yes
4lw.commands.whitelist=*
admin.enableServer=false
EOF
    # Debian's shipped default (INFO, ROLLINGFILE), into DIR.
    cat >"$DIR/conf/log4j.properties" <<EOF
log4j.rootLogger=INFO, ROLLINGFILE
log4j.appender.ROLLINGFILE=org.apache.log4j.RollingFileAppender
log4j.appender.ROLLINGFILE.File=$DIR/zookeeper.log
log4j.appender.ROLLINGFILE.MaxFileSize=10MB
log4j.appender.ROLLINGFILE.MaxBackupIndex=2
log4j.appender.ROLLINGFILE.layout=org.apache.log4j.PatternLayout
log4j.appender.ROLLINGFILE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
EOF
}

java_command() {
    # The server jar names its dependencies in its manifest; logging goes
    # through slf4j to log4j 1.2, as in Debian's /etc/zookeeper/conf.
    local cp="$DIR/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
    # shellcheck disable=SC2206
    JAVA_CMD=(java "-Xmx$HEAP" ${JVMFLAGS:-} -cp "$cp" org.apache.zookeeper.server.ZooKeeperServerMain "$DIR/zoo.cfg")
}

case $CMD in
start | run)
    install_zookeeper
    port_free "$PORT" || { echo "zookeeper.sh: port $PORT is in use" >&2; exit 1; }
    configure
    java_command
    if [[ $CMD == run ]]; then
        exec "${JAVA_CMD[@]}"
    fi
    "${JAVA_CMD[@]}" >"$DIR/stdout.log" 2>&1 &
    pid=$!
    echo "$pid" >"$DIR/pid"
    for _ in $(seq 1 600); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "zookeeper.sh: ZooKeeper exited; see $DIR/stdout.log and $DIR/zookeeper.log" >&2
            exit 1
        fi
        if ! port_free "$PORT"; then
            echo "$PORT $pid"
            exit 0
        fi
        sleep 0.1
    done
    echo "zookeeper.sh: ZooKeeper did not listen on $PORT within 60 s" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
    ;;
stop)
    [[ -f $DIR/pid ]] || { echo "zookeeper.sh: no $DIR/pid" >&2; exit 1; }
    pid=$(cat "$DIR/pid")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$DIR/pid"
    ;;
*)
    usage
    ;;
esac
