#!/usr/bin/env bash
# Medians over rounds: loadgen/scripts/summarize.sh ROUND1/results.jsonl ROUND2/results.jsonl ...
# Prints two Markdown tables: servers side by side (median ops/s, p50 and p99 per
# run, and corekeeper's ratio to each ZooKeeper), then every (server, run) cell
# with the range of ops/s over the rounds and the median CPU (cores) used by the
# generator (over its window), the server and everything else on the host.
set -euo pipefail
jq -s -r '
  def median: sort | if length == 0 then null
      elif length % 2 == 1 then .[length / 2 | floor]
      else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def r: if . == null then "–" elif . >= 100 then round else . * 10 | round / 10 end;
  def cores: if . == null then "–" else . * 100 | round / 100 end;
  ["null", "corekeeper", "zookeeper-fsync", "zookeeper-nofsync"] as $servers
  | ["read-64x8", "write-64x8", "mixed-64x8", "read-1x1", "write-1x1", "mixed-1x1"] as $runs
  | (group_by([.server, .run]) | map({key: "\(.[0].server)/\(.[0].run)", value: .}) | from_entries) as $cells
  | def cell($s; $r): $cells["\($s)/\($r)"] // [];
    def med($s; $r; f): cell($s; $r) | map(f) | median;
    def ratio($a; $b): if $a == null or $b == null or $b == 0 then "–" else ($a / $b * 10 | round / 10 | tostring) + "×" end;
  ( ["| run | " + ($servers | map("\(.) ops/s · p50 · p99 µs") | join(" | ")) + " | corekeeper ÷ zk-fsync | corekeeper ÷ zk-nofsync |",
     "| --- |" + ($servers | map(" --: |") | join("")) + " --: | --: |"]
    + ($runs | map(. as $r
        | "| \($r) | "
          + ($servers | map(. as $s
              | "\(med($s; $r; .ops_per_sec) | r) · \(med($s; $r; .p50_us) | r) · \(med($s; $r; .p99_us) | r)")
             | join(" | "))
          + " | \(ratio(med("corekeeper"; $r; .ops_per_sec); med("zookeeper-fsync"; $r; .ops_per_sec)))"
          + " | \(ratio(med("corekeeper"; $r; .ops_per_sec); med("zookeeper-nofsync"; $r; .ops_per_sec))) |"))
    + ["",
       "| server | run | rounds | ops/s median | ops/s range | p50 µs | p90 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | errors | loadgen cores | server cores | other cores |",
       "| --- | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"]
    + [ $servers[] as $s | $runs[] as $r | cell($s; $r) | select(length > 0) | . as $g
        | "| \($s) | \($r) | \($g | length) | \($g | map(.ops_per_sec) | median | r) | \($g | map(.ops_per_sec) | min | r)–\($g | map(.ops_per_sec) | max | r) | \($g | map(.p50_us) | median | r) | \($g | map(.p90_us) | median | r) | \($g | map(.p99_us) | median | r) | \($g | map(.p999_us) | median | r) | \($g | map(.p9999_us) | median | r) | \($g | map(.max_us) | median | r) | \($g | map(.errors_total) | add) | \($g | map(.loadgen_cpu_cores) | median | cores) | \($g | map(.server_cpu_cores) | median | cores) | \($g | map(.other_cpu_cores) | median | cores) |" ]
  ) | .[]' "$@"
