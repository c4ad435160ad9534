#!/usr/bin/env bash
# Prints this host's settings beside the recommendations of tuning/README.md,
# one line each: what it is, what it should be, and a verdict (ok, CHANGE, or
# info for what depends on the deployment). Reads only; changes nothing.
#
#   tuning/host-check.sh [DATA_DIR [DATA_LOG_DIR]]     # default: the current directory
#   tuning/host-check.sh --json [DATA_DIR [DATA_LOG_DIR]]   # one JSON object
#
# Exit status 0 always: a verdict is advice, not a failure.
set -uo pipefail

JSON=0
if [[ ${1:-} == --json ]]; then
    JSON=1
    shift
fi
DATA_DIR=${1:-.}
DATA_LOG_DIR=${2:-$DATA_DIR}
ROWS=()

row() { # name value recommendation verdict
    ROWS+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$4")
}
read_or() { cat "$1" 2>/dev/null || echo "$2"; }
# The block device (whole disk) holding a path, e.g. vda or nvme0n1.
disk_of() {
    local src
    src=$(findmnt -n -o SOURCE -T "$1" 2>/dev/null | head -n1)
    src=${src#/dev/}
    [[ -z $src || ! -e /sys/class/block/$src ]] && { echo ""; return; }
    local parent
    parent=$(basename "$(dirname "$(readlink -f "/sys/class/block/$src")")")
    if [[ -e /sys/block/$src ]]; then echo "$src"; elif [[ -e /sys/block/$parent ]]; then echo "$parent"; else echo "$src"; fi
}

# --- kernel and io_uring
kernel=$(uname -r)
major=${kernel%%.*}
minor=${kernel#*.}
minor=${minor%%.*}
if ((major > 5 || (major == 5 && minor >= 8))); then v=ok; else v=CHANGE; fi
row "kernel" "$kernel" ">= 5.8 (io_uring for sockets and files)" "$v"
uring=$(read_or /proc/sys/kernel/io_uring_disabled 0)
[[ $uring == 0 ]] && v=ok || v=CHANGE
row "kernel.io_uring_disabled" "$uring" "0" "$v"

# --- limits
memlock=$(ulimit -l)
if [[ $memlock == unlimited ]] || ((memlock >= 8192)); then v=ok; else v=CHANGE; fi
row "ulimit -l (locked memory, KiB)" "$memlock" ">= 8192 for 2 cores; unlimited (LimitMEMLOCK=infinity) for many" "$v"
nofile=$(ulimit -n)
if [[ $nofile == unlimited ]] || ((nofile >= 65536)); then v=ok; else v=CHANGE; fi
row "ulimit -n (open files)" "$nofile" ">= 65536 (2 per client connection); LimitNOFILE=1048576" "$v"

# --- CPU
cores=$(nproc)
row "cores" "$cores" ">= 3 gives the sequencer a core of its own (core 0)" "$([[ $cores -ge 3 ]] && echo ok || echo info)"
gov=$(cat /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor 2>/dev/null | sort -u | tr '\n' ' ')
if [[ -z $gov ]]; then
    row "cpu frequency governor" "none (no cpufreq: a VM or fixed clock)" "performance" info
else
    [[ $gov == "performance " ]] && v=ok || v=CHANGE
    row "cpu frequency governor" "${gov% }" "performance" "$v"
fi
cmdline=$(cat /proc/cmdline)
iso=$(grep -o 'isolcpus=[^ ]*' <<<"$cmdline" || true)
nohz=$(grep -o 'nohz_full=[^ ]*' <<<"$cmdline" || true)
row "isolated cores (isolcpus, nohz_full)" "${iso:-none} ${nohz:-}" "on a dedicated host, isolate the server's cores (isolcpus=1-N nohz_full=1-N)" info
if pgrep -x irqbalance >/dev/null 2>&1; then irq="irqbalance running"; else irq="no irqbalance"; fi
row "IRQ affinity" "$irq" "keep NIC and disk IRQs off isolated cores (IRQBALANCE_BANNED_CPUS or /proc/irq/*/smp_affinity)" info
numa=$(ls -d /sys/devices/system/node/node* 2>/dev/null | wc -l)
row "NUMA nodes" "$numa" "1, or pin the server to one node (cores=N, taskset/numactl)" "$([[ $numa -le 1 ]] && echo ok || echo info)"
cs=$(read_or /sys/devices/system/clocksource/clocksource0/current_clocksource "?")
[[ $cs == tsc || $cs == kvm-clock || $cs == arch_sys_counter ]] && v=ok || v=CHANGE
row "clocksource" "$cs" "tsc (kvm-clock on KVM guests); not hpet/acpi_pm (slow clock reads)" "$v"

# --- memory
thp=$(grep -o '\[[a-z]*\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null | tr -d '[]')
[[ $thp == madvise || $thp == never ]] && v=ok || v=CHANGE
row "transparent hugepages" "${thp:-?}" "madvise (or never): no khugepaged stalls in the executors" "$v"
defrag=$(grep -o '\[[a-z+]*\]' /sys/kernel/mm/transparent_hugepage/defrag 2>/dev/null | tr -d '[]')
[[ $defrag == madvise || $defrag == never || $defrag == defer* ]] && v=ok || v=CHANGE
row "THP defrag" "${defrag:-?}" "madvise, defer or never (not always: direct compaction stalls)" "$v"
swappiness=$(sysctl -n vm.swappiness 2>/dev/null)
((swappiness <= 10)) && v=ok || v=CHANGE
row "vm.swappiness" "$swappiness" "<= 10 (1 on a dedicated host): a swapped-out page stalls a whole core" "$v"
dbr=$(sysctl -n vm.dirty_background_ratio 2>/dev/null)
dbb=$(sysctl -n vm.dirty_background_bytes 2>/dev/null)
dr=$(sysctl -n vm.dirty_ratio 2>/dev/null)
db=$(sysctl -n vm.dirty_bytes 2>/dev/null)
mem_kib=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
if ((dbb > 0)); then bg_bytes=$dbb; else bg_bytes=$((mem_kib * 1024 / 100 * dbr)); fi
if ((db > 0)); then hard_bytes=$db; else hard_bytes=$((mem_kib * 1024 / 100 * dr)); fi
((bg_bytes <= 268435456)) && v=ok || v=CHANGE
row "dirty background (writeback starts)" "$((bg_bytes >> 20)) MiB (ratio $dbr, bytes $dbb)" "<= 256 MiB (vm.dirty_background_bytes=67108864..268435456): small, steady writeback" "$v"
((hard_bytes <= 1073741824)) && v=ok || v=CHANGE
row "dirty limit (writers throttled)" "$((hard_bytes >> 20)) MiB (ratio $dr, bytes $db)" "<= 1 GiB (vm.dirty_bytes): a big dirty backlog turns fsyncs into multi-second waits" "$v"
expire=$(sysctl -n vm.dirty_expire_centisecs 2>/dev/null)
((expire <= 3000)) && v=ok || v=CHANGE
row "vm.dirty_expire_centisecs" "$expire" "<= 3000 (the default)" "$v"
somax=$(sysctl -n net.core.somaxconn 2>/dev/null)
((somax >= 1024)) && v=ok || v=CHANGE
row "net.core.somaxconn" "$somax" ">= 1024 (bursts of reconnecting clients)" "$v"

# --- storage, for the data and the log directory
for role in data log; do
    dir=$DATA_DIR
    [[ $role == log ]] && dir=$DATA_LOG_DIR
    [[ $role == log && $DATA_LOG_DIR == "$DATA_DIR" ]] && continue
    probe=$dir
    while [[ ! -e $probe && $probe != / ]]; do probe=$(dirname "$probe"); done
    fs=$(findmnt -n -o FSTYPE -T "$probe" 2>/dev/null | head -n1)
    opts=$(findmnt -n -o OPTIONS -T "$probe" 2>/dev/null | head -n1)
    [[ $fs == ext4 || $fs == xfs ]] && v=ok || v=CHANGE
    row "$role dir filesystem ($dir)" "${fs:-?}" "ext4 or xfs on a local disk (not tmpfs: no durability; not NFS)" "$v"
    if grep -Eq '(^|,)(nobarrier|barrier=0)(,|$)' <<<"$opts"; then v=CHANGE; else v=ok; fi
    row "$role dir mount options" "${opts:-?}" "no nobarrier/barrier=0 (fsync must reach the disk); noatime helps" "$v"
    dev=$(disk_of "$probe")
    if [[ -n $dev && -e /sys/block/$dev/queue ]]; then
        sched=$(grep -o '\[[a-z-]*\]' "/sys/block/$dev/queue/scheduler" 2>/dev/null | tr -d '[]')
        rota=$(read_or "/sys/block/$dev/queue/rotational" "?")
        [[ $sched == none || $sched == mq-deadline ]] && v=ok || v=CHANGE
        row "$role disk $dev scheduler" "${sched:-none}" "none (NVMe) or mq-deadline; not bfq" "$v"
        wc=$(read_or "/sys/block/$dev/queue/write_cache" "?")
        row "$role disk $dev write cache" "$wc (rotational $rota)" "write back + flushes honoured, or a power-loss-protected cache" info
    else
        row "$role disk" "${dev:-?}" "a local block device" info
    fi
done
if [[ $DATA_LOG_DIR != "$DATA_DIR" ]]; then
    d1=$(disk_of "$DATA_DIR")
    d2=$(disk_of "$DATA_LOG_DIR")
    [[ -n $d1 && $d1 != "$d2" ]] && v=ok || v=info
    row "dataLogDir on its own disk" "data $d1, log $d2" "yes: snapshots and other writers do not queue before log fsyncs" "$v"
else
    row "dataLogDir on its own disk" "same directory" "a separate disk for dataLogDir when snapshots are large" info
fi

load=$(cut -d' ' -f1-3 /proc/loadavg)
row "load average (1 5 15 min)" "$load" "~0 besides the server while measuring" "$(awk -v l="${load%% *}" 'BEGIN { print (l < 0.5 ? "ok" : "info") }')"

if ((JSON)); then
    printf '{'
    sep=
    for r in "${ROWS[@]}"; do
        IFS=$'\t' read -r name value rec verdict <<<"$r"
        esc() { sed 's/\\/\\\\/g; s/"/\\"/g' <<<"$1"; }
        printf '%s"%s":{"value":"%s","recommended":"%s","verdict":"%s"}' "$sep" "$(esc "$name")" \
            "$(esc "$value")" "$(esc "$rec")" "$verdict"
        sep=,
    done
    printf '}\n'
else
    printf '%-40s %-34s %-7s %s\n' setting "this host" verdict recommendation
    for r in "${ROWS[@]}"; do
        IFS=$'\t' read -r name value rec verdict <<<"$r"
        printf '%-40s %-34s %-7s %s\n' "$name" "$value" "$verdict" "$rec"
    done
fi
