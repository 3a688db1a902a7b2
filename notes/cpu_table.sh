#!/usr/bin/env bash
# CPU time (not wall time) per byte of each hostile_query shape, and its ratio to the
# one-parameter baseline of the same size: `perf stat -e task-clock` of the bench binary's
# one-shape mode, run R times less run 0 times (which leaves out building the queries).
# On a machine shared with other builds this is steady to a few percent where wall times are
# not. Usage: notes/cpu_table.sh <bench binary> [filter] (the binary: `cargo bench --bench
# hostile_query --no-run` prints its path).
set -euo pipefail
bin=$1
filter=${2:-}
cpu_ms() { # shape repeat: the least of three runs
  for _ in 1 2 3; do
    HOSTILE_QUERY_SHAPE=$1 HOSTILE_QUERY_REPEAT=$2 perf stat -e task-clock -x, "$bin" 2>&1 >/dev/null |
      awk -F, '/task-clock/ { print $1 }'
  done | sort -g | head -1
}
# Per byte: (R runs - 0 runs) / R / bytes, R sized for about 300 ms of work.
ns_per_byte() { # shape bytes
  local zero ten repeat many
  zero=$(cpu_ms "$1" 0)
  ten=$(cpu_ms "$1" 10)
  repeat=$(awk -v z="$zero" -v t="$ten" 'BEGIN { r = int(3000 / (t - z + 0.01)); print (r < 10 ? 10 : r) }')
  many=$(cpu_ms "$1" "$repeat")
  awk -v z="$zero" -v m="$many" -v r="$repeat" -v b="$2" 'BEGIN { printf "%.3f", (m - z) * 1e6 / r / b }'
}
printf '%-20s %-46s %8s %9s %7s\n' size shape bytes "cpu ns/B" ratio
HOSTILE_QUERY_SHAPE="" HOSTILE_QUERY_REPEAT=0 "$bin" | while read -r name bytes _; do
  case $name in *"$filter"*) ;; *) continue ;; esac
  group=${name%%/*}
  shape=${name#*/}
  if [[ $shape == one-parameter ]]; then
    base_bytes=$bytes
  fi
  per_byte=$(ns_per_byte "$name" "$bytes")
  if [[ $shape == one-parameter ]]; then
    base=$per_byte
  fi
  printf '%-20s %-46s %8s %9s %7.2f\n' "$group" "$shape" "$bytes" "$per_byte" \
    "$(awk -v x="$per_byte" -v y="${base:-0}" 'BEGIN { print (y > 0 ? x / y : 0) }')"
done
