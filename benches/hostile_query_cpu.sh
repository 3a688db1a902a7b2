#!/usr/bin/env bash
# CPU time (not wall time) per byte of each hostile_query shape, and its ratio to the
# one-parameter baseline of the same size, for one or more builds of the bench side by side.
# Each run of the bench binary's one-shape mode times itself by this thread's CPU time over at
# least a third of a second; each shape is run three times per build, builds alternating, and
# the least time kept. On a machine shared with other builds this is steady to some percent
# where wall times are not.
#
# Usage: [FILTER=512KiB/] benches/hostile_query_cpu.sh <bench binary>... (`cargo bench --bench
# hostile_query --no-run` prints the binary's path; copy it aside to compare builds).
set -euo pipefail
bins=("$@")
filter=${FILTER:-}
header=$(printf '%-20s %-46s %8s' size shape bytes)
for bin in "${bins[@]}"; do
  header+=$(printf ' %10s %6s' "ns/B" ratio)
done
echo "$header  (${bins[*]})"
declare -A base
HOSTILE_QUERY_SHAPE="" HOSTILE_QUERY_REPEAT=1 "${bins[0]}" | while read -r name bytes _; do
  case $name in *"$filter"*) ;; *) continue ;; esac
  group=${name%%/*}
  shape=${name#*/}
  declare -A best=()
  for _ in 1 2 3; do
    for bin in "${bins[@]}"; do
      t=$(HOSTILE_QUERY_SHAPE=$name "$bin" | awk '{ print $NF }')
      best[$bin]=$(awk -v a="${best[$bin]:-inf}" -v b="$t" 'BEGIN { print (b + 0 < a + 0 || a == "inf") ? b : a }')
    done
  done
  line=$(printf '%-20s %-46s %8s' "$group" "$shape" "$bytes")
  for bin in "${bins[@]}"; do
    per_byte=$(awk -v t="${best[$bin]}" -v b="$bytes" 'BEGIN { printf "%.3f", t / b }')
    if [[ $shape == one-parameter ]]; then
      base[$bin]=$per_byte
    fi
    ratio=$(awk -v x="$per_byte" -v y="${base[$bin]:-0}" 'BEGIN { printf "%.2f", (y > 0 ? x / y : 0) }')
    line+=$(printf ' %10s %6s' "$per_byte" "$ratio")
  done
  echo "$line"
  unset best
done
