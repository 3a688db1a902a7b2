#!/usr/bin/env bash
# Reproduces the README's performance tables: runs the comparison bench (this crate,
# jsonwebtoken + url, each operation's SHA-256 floor), times npm atlassian-jwt verifying the
# same requests, runs the two-thread bench, counts instructions of the same operations
# (.ci/instructions: callgrind, software SHA-256), then writes target/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix tests/reference --no-audit --no-fund --loglevel=error

out=target/performance.md
mkdir -p target
bench=$(cargo bench --bench compare -- --warm-up-time 1 --measurement-time 3 2>/dev/null)
threads=$(cargo bench --bench threads 2>/dev/null)
# The same bench with SHA-256 in software, as on CPUs without SHA extensions (the floor is then
# several times higher; jsonwebtoken's own sha2 0.10 ignores this setting).
soft=$(RUSTFLAGS='--cfg sha2_backend="soft"' CARGO_TARGET_DIR=target/soft-sha256 \
  cargo bench --bench compare -- --warm-up-time 1 --measurement-time 3 2>/dev/null)
# Noise-free numbers; a bound exceeded is reported here, and fails .ci/run.
bash .ci/instructions >/dev/null || echo "WARNING: an operation exceeds its instruction bound" >&2

{
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
    "SHA extensions: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no); $(rustc --version); node $(node --version)."
  echo
  printf '%s\n' "$bench" | sed -n '/^| operation/,/^$/p' | sed '/^$/d'
  echo
  echo "| verify, npm atlassian-jwt 2.0.3 (Node) | ns | this crate is faster by |"
  echo "|---|---:|---:|"
  printf '%s\n' "$bench" | sed -n 's/^fixture: //p' | while read -r name ours_ns secret base url; do
    npm_ns=$(node tests/reference/bench.js "$secret" "$base" "$url" | sed -n 's/^npm-atlassian-jwt-ns //p')
    awk -v name="$name" -v n="$npm_ns" -v o="$ours_ns" \
      'BEGIN { printf "| %s request | %d | %.1fx |\n", name, n, n / o }'
  done
  echo
  printf '%s\n' "$threads" | sed -n '/^| threads/,/^$/p'
  echo
  echo "With SHA-256 in software (RUSTFLAGS='--cfg sha2_backend=\"soft\"'), this crate against the same floor:"
  echo
  echo "| operation | SHA-256 blocks | floor (ns) | atlassian-connect-jwt (ns) | vs floor |"
  echo "|---|---:|---:|---:|---:|"
  printf '%s\n' "$soft" | sed -n '/^| operation/,/^$/p' | sed '1,2d;/^$/d' | cut -d'|' -f1-6 | sed 's/ *$/ |/'
  echo
  echo "Instructions (callgrind, $(valgrind --version); SHA-256 in software, as valgrind's CPU has no SHA extensions):"
  echo
  cat target/instructions.md
} >"$out"
cat "$out"
