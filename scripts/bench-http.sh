#!/usr/bin/env bash
# Builds tocsin-bench in release mode and runs the HTTP comparison: Tocsin's engine (real
# scheduler, probes and SQLite store) and Prometheus' blackbox exporter, one after the other in
# the same run, against the same local target on 127.0.0.1: nginx with one process (the
# testkit's one-thread hyper server, without --nginx, saturates first). Extra arguments go to
# the command, e.g. `scripts/bench-http.sh --checks 20000`. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/prometheus-blackbox-exporter ] || [ ! -x /usr/sbin/nginx ]; then
    echo "bench-http: installing prometheus-blackbox-exporter (the reference) and nginx (the target)" >&2
    apt-get install -y prometheus-blackbox-exporter nginx-light >&2
    # Only their binaries are used; the services Debian starts would share the CPU.
    systemctl stop prometheus-blackbox-exporter nginx 2>/dev/null || true
fi

cargo build --release -p tocsin-bench
bin="${CARGO_TARGET_DIR:-target}/release/tocsin-bench"

# Bounded: 5 s warm-up + 20 s measured per phase, plus start-up and shutdown.
timeout 600 "$bin" http --nginx --checks 30000 --every 2s --duration 20s --blackbox "$@"
