#!/usr/bin/env python3
"""Summarizes the oha JSON results and RSS samples that benches/load/run.sh wrote to OUT."""
import json
import os
import sys

out = sys.argv[1]


def result(name):
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def rss(name):
    path = os.path.join(out, "rss-" + name + ".txt")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [int(line) // 1024 for line in f if line.strip()]


rows = []
for name, rss_name in [("whoami", "whoami"), ("panel", "panel"), ("ace-whoami", "ace")]:
    r = result(name)
    if r is None:
        continue
    summary = r["summary"]
    p99 = r["latencyPercentiles"]["p99"]
    codes = r.get("statusCodeDistribution", {})
    errors = r.get("errorDistribution", {})
    samples = rss(rss_name)
    rows.append((name, summary["requestsPerSec"], p99, codes, errors, samples))
    print(f"{name}: {summary['requestsPerSec']:.0f} req/s, p99 {p99 * 1000:.2f} ms, "
          f"success rate {summary['successRate']:.4f}")
    print(f"  status codes: {codes}; errors: {errors or 'none'}")
    print(f"  RSS (MiB, every 5 s): {samples}")

by_name = {row[0]: row for row in rows}
if "whoami" in by_name and "ace-whoami" in by_name:
    ratio = by_name["whoami"][1] / by_name["ace-whoami"][1]
    p99_ratio = by_name["ace-whoami"][2] / by_name["whoami"][2]
    print(f"connect-app / ACE on GET /api/whoami: {ratio:.1f}x the requests per second, "
          f"ACE's p99 {p99_ratio:.1f}x connect-app's")

unexpected = []
for name, _, _, codes, errors, _ in rows:
    allowed = {"200"} if name != "panel" else {"200", "401"}
    unexpected += [f"{name}: status {c}" for c in codes if c not in allowed]
    unexpected += [f"{name}: error {e}" for e in errors]
if unexpected:
    print("UNEXPECTED:", "; ".join(unexpected))
    sys.exit(1)
