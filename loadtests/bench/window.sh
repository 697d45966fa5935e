#!/usr/bin/env bash
# Whether a load run measures the window it was asked for: orygate against
# a Kratos started by hand (in memory, pinned to CPU 0; orygate on CPU 1)
# with ramped users, a fixed rate, and against fresh stacks (PostgreSQL and
# in memory); oha against the same whoami in the same run. Prints, per
# run, the window asked and measured, the setup (users ready, starts tried
# again, time), the rate and p50/p99, and orygate's exit code.
#
#   loadtests/bench/window.sh               # DURATION=10 USERS=32
#
# Needs docker, the oryd/kratos image (scripts/prepare.sh), PostgreSQL's
# binaries, oha (cargo install oha), taskset, curl, jq, python3. Everything
# talks to 127.0.0.1; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DURATION=${DURATION:-10}
USERS=${USERS:-32}
KRATOS_CPU=${KRATOS_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
IMAGE=oryd/kratos:v1.3.1
ORYGATE=${ORYGATE:-target/release/orygate}

die() { echo "error: $*" >&2; exit 1; }
for tool in docker oha taskset curl jq python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (oha: cargo install oha)"
done
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "$IMAGE is missing: run scripts/prepare.sh"
[ -n "${ORYGATE_PREBUILT:-}" ] || cargo build --release -p loadtests --bin orygate
work=$(mktemp -d)
name=orygate-window-kratos-$$
trap 'docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# shellcheck source=loadtests/bench/kratos.sh
. loadtests/bench/kratos.sh
start_kratos
session_token

printf '| run | asked s | measured s | users ready | tried again | setup s | req/s | p50 ms | p99 ms | exit |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
# Runs orygate with "$@" (after the label) and prints its row.
row() {
  local label=$1 rc=0 results
  shift
  rm -rf "$work/out"
  taskset -c "$LOAD_CPU" "$ORYGATE" --profile whoami-api -u "$USERS" -t "${DURATION}s" --no-smoke -q \
    --out "$work/out" --formats junit "$@" >"$work/log" 2>&1 || rc=$?
  results=$(ls "$work"/out/*.json 2>/dev/null | head -n 1 || true)
  if [ -z "$results" ]; then
    printf '| %s | %s | - | - | - | - | - | - | - | %s: %s |\n' "$label" "$DURATION" "$rc" \
      "$(grep -m1 '^error' "$work/log" | cut -c1-160)"
    return
  fi
  local step="kratos GET /sessions/whoami"
  [ -n "${ROUND:-}" ] && step="whoami-api ROUND [from intended start]"
  jq -r --arg name "$label" --arg rc "$rc" --arg step "$step" '
    (.load.steps[] | select(.step == $step)) as $s
    | "| \($name) | \(.load.asked_s) | \(.load.measured_s * 1000 | round / 1000) | \(.load.setup.ready) of \(.settings.users) | \(.load.setup.retries) | \(.load.setup.seconds * 10 | round / 10) | \($s.rps | round) | \($s.p50_ms * 100 | round / 100) | \($s.p99_ms * 100 | round / 100) | \($rc) |"' \
    "$results"
}
url=(--kratos-url "http://127.0.0.1:$PUB/" --kratos-admin-url "http://127.0.0.1:$ADM/")
row "by URL, --increase-rate 4" "${url[@]}" --increase-rate 4
row "by URL, --increase-rate 8" "${url[@]}" --increase-rate 8
row "by URL, all at once" "${url[@]}"
ROUND=1 row "by URL, --rate 200 (rounds from intended start)" "${url[@]}" --rate 200
taskset -c "$LOAD_CPU" oha --no-tui --output-format json -z "${DURATION}s" -c "$USERS" \
  -H "X-Session-Token: $token" "http://127.0.0.1:$PUB/sessions/whoami" >"$work/oha.json"
jq -r --arg d "$DURATION" --arg c "$USERS" '"| oha -c \($c), same Kratos | \($d) | - | - | - | - | \(.summary.requestsPerSec | round) | \(.latencyPercentiles.p50 * 100000 | round / 100) | \(.latencyPercentiles.p99 * 100000 | round / 100) | - |"' "$work/oha.json"
docker rm -f "$name" >/dev/null
row "fresh stack, PostgreSQL"
row "fresh stack, --in-memory" --in-memory
