#!/usr/bin/env bash
# Reproduces the README's performance table: runs the comparison bench (this crate,
# jsonwebtoken + url, the SHA-256 floor) and times npm atlassian-jwt on the same request,
# then writes target/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix tests/reference --no-audit --no-fund --loglevel=error

out=target/performance.md
mkdir -p target
bench=$(cargo bench --bench compare -- --warm-up-time 1 --measurement-time 3 2>/dev/null)
threads=$(cargo bench --bench threads 2>/dev/null)
fixture=$(printf '%s\n' "$bench" | sed -n 's/^fixture: //p')
read -r secret base url <<<"$fixture"
npm_ns=$(node tests/reference/bench.js "$secret" "$base" "$url" | sed -n 's/^npm-atlassian-jwt-ns //p')
ours_ns=$(printf '%s\n' "$bench" | sed -n 's/^| atlassian-connect-jwt | \([0-9]*\) .*/\1/p')
floor_ns=$(printf '%s\n' "$bench" | sed -n 's/^| SHA-256 floor (8 blocks, sha2) | \([0-9]*\) .*/\1/p')

{
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
    "SHA extensions: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no); $(rustc --version); node $(node --version)."
  echo
  printf '%s\n' "$bench" | sed -n '/^| verify a typical/,/^$/p' | sed '/^$/d'
  awk -v n="$npm_ns" -v o="$ours_ns" -v f="$floor_ns" \
    'BEGIN { printf "| npm atlassian-jwt 2.0.3 (Node) | %d | %.2fx | %.1fx |\n", n, n / f, n / o }'
  echo
  printf '%s\n' "$threads" | sed -n '/^| threads/,/^$/p'
} >"$out"
cat "$out"
