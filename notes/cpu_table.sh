#!/usr/bin/env bash
# CPU time (not wall time) per byte of each hostile_query shape, and its ratio to the
# one-parameter baseline of the same size, from the bench binary's one-shape mode (which
# times itself by this thread's CPU time over at least a third of a second); the least of
# three runs. On a machine shared with other builds this is steady to a few percent where
# wall times are not.
# Usage: notes/cpu_table.sh <bench binary> [filter] (the binary: `cargo bench --bench
# hostile_query --no-run` prints its path).
set -euo pipefail
bin=$1
filter=${2:-}
printf '%-20s %-46s %8s %9s %7s\n' size shape bytes "cpu ns/B" ratio
HOSTILE_QUERY_SHAPE="" HOSTILE_QUERY_REPEAT=1 "$bin" | while read -r name bytes _; do
  case $name in *"$filter"*) ;; *) continue ;; esac
  group=${name%%/*}
  shape=${name#*/}
  best=$(for _ in 1 2 3; do
    HOSTILE_QUERY_SHAPE=$name "$bin" | awk '{ print $NF }'
  done | sort -g | head -1)
  per_byte=$(awk -v t="$best" -v b="$bytes" 'BEGIN { printf "%.3f", t / b }')
  if [[ $shape == one-parameter ]]; then
    base=$per_byte
  fi
  printf '%-20s %-46s %8s %9s %7.2f\n' "$group" "$shape" "$bytes" "$per_byte" \
    "$(awk -v x="$per_byte" -v y="${base:-0}" 'BEGIN { print (y > 0 ? x / y : 0) }')"
done
