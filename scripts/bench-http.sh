#!/usr/bin/env bash
# Builds tocsin-bench in release mode and runs the HTTP comparison: Tocsin's engine (real
# scheduler, probes and SQLite store) and Prometheus' blackbox exporter, one after the other in
# the same run, against the same local target on 127.0.0.1. Extra arguments go to the command,
# e.g. `scripts/bench-http.sh --nginx`. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/prometheus-blackbox-exporter ]; then
    echo "bench-http: installing prometheus-blackbox-exporter (the reference)" >&2
    apt-get install -y prometheus-blackbox-exporter >&2
fi

cargo build --release -p tocsin-bench
bin="${CARGO_TARGET_DIR:-target}/release/tocsin-bench"

# Bounded: 5 s warm-up + 20 s measured per phase, plus start-up and shutdown.
timeout 600 "$bin" http --checks 30000 --every 2s --duration 20s --blackbox "$@"
