#!/usr/bin/env bash
# Builds tocsin-bench in release mode and measures the resident memory per configured check:
# 100,000 and 1,000,000 generated HTTP checks loaded (target: at most 2 KiB per check, state
# included), then 100,000 checks running every minute for 3 minutes (memory in operation).
# Every target is 127.0.0.1:9, which refuses the connection. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p tocsin-bench
bin="${CARGO_TARGET_DIR:-target}/release/tocsin-bench"

for n in 100000 1000000; do
    timeout 900 "$bin" memory --checks "$n" "$@"
    echo
done
timeout 900 "$bin" memory --checks 100000 --every 1m --observe 3m "$@"
