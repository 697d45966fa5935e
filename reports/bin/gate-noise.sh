#!/usr/bin/env bash
# Proves the baseline gate both ways, each run on a fresh stack: records a
# baseline of PROFILE, reruns the same configuration RERUNS times against it
# (every failed gate a false alarm), then once with a slower Kratos (SLOW,
# by default a bcrypt cost of 12) that the gate must fail. Prints a line per
# run (the gate's verdict and its highest p95/p99 ratio among the rows it
# compared) and the count.
#
#   reports/bin/gate-noise.sh --rate 10   # PROFILE=login USERS=4 DURATION=30s RERUNS=10
#   RECORD=reports/baselines/login.json reports/bin/gate-noise.sh   # keep the baseline
#
# Gate options (--gate-ratio ...) can be passed as arguments. Needs the
# images (scripts/prepare.sh) and jq; everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PROFILE=${PROFILE:-login}
USERS=${USERS:-4}
DURATION=${DURATION:-30s}
RERUNS=${RERUNS:-10}
SLOW=${SLOW:-HASHERS_BCRYPT_COST=12}
command -v jq >/dev/null || { echo "error: jq is missing (apt-get install jq)" >&2; exit 2; }
cargo build --release --quiet -p loadtests --bin orygate
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Runs orygate into $out/$1 with the rest as options; prints the JSON's path.
run() {
  local name=$1
  shift
  target/release/orygate --profile "$PROFILE" -u "$USERS" -t "$DURATION" --no-smoke -q \
    --out "$out/$name" --formats md "$@" >"$out/$name.log" 2>&1 || true
  local json
  json=$(ls "$out/$name"/*.json 2>/dev/null | head -n 1)
  [ -n "$json" ] || { tail -n 30 "$out/$name.log" >&2; echo "error: run $name wrote no results" >&2; exit 1; }
  echo "$json"
}
# verdict: the run's own result, the gate's, and its worst percentile row.
verdict() {
  jq -r '[(if .passed then "run passed" else "RUN FAILED" end),
          (if .baseline.passed then "gate passed" else "GATE FAILED" end),
          (.baseline.rows | map(select(.ratio != null and .verdict != "too_few" and (.metric | startswith("p"))))
            | max_by(.ratio) | "worst \(.step) \(.metric) \(.baseline | .*100 | round / 100) -> \(.now | .*100 | round / 100) ms (×\(.ratio | .*100 | round / 100))")]
         | join("; ")' "$1"
}

base=$(run base "$@")
jq -e .passed "$base" >/dev/null || { echo "error: the baseline run had failures: $out/base.log" >&2; exit 1; }
[ -n "${RECORD:-}" ] && cp "$base" "$RECORD" && echo "baseline kept in $RECORD"
echo "baseline: $PROFILE, $USERS users, $DURATION, on a fresh stack"
alarms=0
for i in $(seq 1 "$RERUNS"); do
  json=$(run "rerun-$i" --baseline "$base" "$@")
  echo "rerun $i: $(verdict "$json")"
  jq -e '.baseline.passed' "$json" >/dev/null || alarms=$((alarms + 1))
done
json=$(run slow --baseline "$base" --kratos-env "$SLOW" "$@")
echo "$SLOW: $(verdict "$json")"
caught=$(jq -r 'if .baseline.passed then "NOT caught" else "caught" end' "$json")
echo
echo "false alarms: $alarms of $RERUNS reruns; the slower config ($SLOW): $caught"
[ "$caught" = caught ]
