#!/usr/bin/env bash
# Fuzzes the REST API from its OpenAPI document with Schemathesis: starts a real `tocsin serve`
# (debug build, temporary config and store, an operator token) and fails if any request gets a
# 5xx answer. Traffic goes to 127.0.0.1 only.
#
#   bash .ci/schemathesis.sh                  # about 5 minutes of fuzzing
#   SCHEMATHESIS_MAX_TIME=60 bash .ci/schemathesis.sh
#
# When it can, it runs the servers and the fuzzer in a network namespace of their own that has
# only a loopback interface, so that objects the fuzzer creates (a check or a contact with a
# made-up URL) cannot make Tocsin reach any other address. Without one, the routes that create
# or replace checks and contacts are left out. Bodies that would define a `command` check (a
# program run on this machine) are never sent. The report (JUnit) is written to
# target/schemathesis-report/.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
TARGET="${CARGO_TARGET_DIR:-target}"
mkdir -p "$TARGET"
TARGET="$(cd "$TARGET" && pwd)"
VENV="$TARGET/schemathesis-venv"
BIN="$TARGET/debug/tocsin"
MAX_TIME="${SCHEMATHESIS_MAX_TIME:-300}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-20}"

if [ "${1:-}" != "--fuzz" ]; then
  # (1) Schemathesis in a venv of its own, pinned.
  if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "version $SCHEMATHESIS_VERSION"; then
    echo "schemathesis: installing $SCHEMATHESIS_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  # (2) The binary.
  cargo build --quiet -p tocsin
  # (3) The rest, in a network namespace with loopback only when one can be made.
  if unshare --net true 2>/dev/null; then
    exec unshare --net -- bash "$0" --fuzz isolated
  elif unshare --user --map-root-user --net true 2>/dev/null; then
    exec unshare --user --map-root-user --net -- bash "$0" --fuzz isolated
  else
    echo "schemathesis: no network namespace here: leaving out the routes that create or" \
      "replace checks and contacts" >&2
    exec bash "$0" --fuzz shared
  fi
fi

MODE="$2"
if [ "$MODE" = isolated ]; then
  ip link set lo up
fi

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# (2) A target for the checks, a configuration, a store and an operator token.
WEB_PORT="$(free_port)"
mkdir -p "$TMP/www"
echo ok >"$TMP/www/index.html"
python3 -m http.server "$WEB_PORT" --bind 127.0.0.1 --directory "$TMP/www" \
  >"$TMP/http.log" 2>&1 &
PIDS+=("$!")

CFG="$TMP/conf"
DATA="$TMP/data"
mkdir -p "$CFG" "$DATA"
cat >"$CFG/checks.yml" <<EOF
checks:
  - id: web-ok
    every: 2s
    timeout: 1s
    tags: [fuzz]
    http: { url: "http://127.0.0.1:$WEB_PORT/" }
  - id: web-missing
    every: 2s
    timeout: 1s
    tags: [fuzz]
    http: { url: "http://127.0.0.1:$WEB_PORT/missing" }
    alert: { failures: 1, recoveries: 1 }
EOF

TOCSIN_FUZZ_TOKEN="$("$BIN" token create --name fuzz --role operator --data "$DATA" 2>/dev/null)"
export TOCSIN_FUZZ_TOKEN

PORT="$(free_port)"
"$BIN" serve --config "$CFG" --data "$DATA" --listen "127.0.0.1:$PORT" \
  --api-rate-limit 100000/s >"$TMP/serve.log" 2>&1 &
PIDS+=("$!")

up=
for _ in $(seq 1 100); do
  if curl -fsS --max-time 1 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
    up=1
    break
  fi
  sleep 0.2
done
if [ -z "$up" ]; then
  echo "schemathesis: tocsin serve did not answer /healthz; its log:" >&2
  tail -n 50 "$TMP/serve.log" >&2
  exit 1
fi

# (3) The fuzzer. The token goes through the environment, never the command line.
cat >"$TMP/schemathesis.toml" <<'EOF'
headers = { Authorization = "Bearer ${TOCSIN_FUZZ_TOKEN}" }
EOF
cat >"$TMP/hooks.py" <<'EOF'
import schemathesis


@schemathesis.hook
def filter_body(context, body):
    # Never ask Tocsin to run a program on this machine.
    return not (isinstance(body, dict) and "command" in body)
EOF

# Left out: the event stream (it never ends), reload, and revoking tokens (stateful testing
# finds the fuzzer's own token in GET /tokens and revokes it, and every request after is a 401).
excluded=(
  --exclude-path /api/v1/events --exclude-path /api/v1/reload
  --exclude-operation-id delete_token
)
if [ "$MODE" != isolated ]; then
  excluded+=(
    --exclude-path /api/v1/checks --exclude-path '/api/v1/checks/{id}'
    --exclude-path /api/v1/contacts --exclude-path '/api/v1/contacts/{id}'
  )
fi

REPORT="$TARGET/schemathesis-report"
rm -rf "$REPORT"
status=0
# From the temporary directory: Schemathesis keeps a cache (.schemathesis/) where it runs.
(cd "$TMP" && SCHEMATHESIS_HOOKS="$TMP/hooks.py" timeout $((MAX_TIME + 300)) \
  "$VENV/bin/schemathesis" --config-file "$TMP/schemathesis.toml" run \
  "http://127.0.0.1:$PORT/api/v1/openapi.json" \
  --checks not_a_server_error \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --request-timeout 10 \
  --workers 2 \
  --suppress-health-check filter_too_much,too_slow \
  --report junit --report-dir "$REPORT" \
  "${excluded[@]}") || status=$?

# The server's log (no token in it) goes with the report: panics and internal errors are there.
mkdir -p "$REPORT"
cp "$TMP/serve.log" "$REPORT/serve.log"
if grep -qE "panicked at|internal error answering an API request" "$TMP/serve.log"; then
  echo "schemathesis: the server panicked or logged internal errors:" >&2
  awk '/panicked at/ { where = $0; sub(/.*panicked at /, "", where); getline what;
                        print "panic at " where " " what; next }
       /internal error answering an API request/ { sub(/^[^ ]+ +/, ""); print }' \
    "$TMP/serve.log" | sort | uniq -c | head -n 20 >&2
  [ "$status" -ne 0 ] || status=1
fi
if ! kill -0 "${PIDS[1]}" 2>/dev/null; then
  echo "schemathesis: tocsin serve died; its log:" >&2
  tail -n 50 "$TMP/serve.log" >&2
  [ "$status" -ne 0 ] || status=1
fi
if [ "$status" -ne 0 ]; then
  echo "schemathesis: FAILED (exit $status); report in $REPORT" >&2
else
  echo "schemathesis: no 5xx answer"
fi
exit "$status"
