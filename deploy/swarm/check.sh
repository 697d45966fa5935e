#!/usr/bin/env bash
# The swarm run, checked: a Kratos on this machine (in memory, --dev, on
# free loopback ports), the orygate image, SHARDS shards of a whoami-api
# load run as a Swarm replicated job and merged (deploy/swarm/run.sh), and
# the same total load from one process beside it. Fails unless every
# shard ran, their windows opened within a second of each other, and the
# merged document holds every request of every shard, bucket by bucket
# (deploy/swarm/histograms.py reads the histograms without orygate).
#
#   deploy/swarm/check.sh            # SHARDS=3 USERS=6 DURATION=10s START_IN=20
#   COMPARE=0 ...                    # without the one-process run
# Skipped (exit 0, saying so) where this Docker cannot be a swarm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

shards=${SHARDS:-3}
users=${USERS:-6}
duration=${DURATION:-10s}
# Read by loadtests/bench/kratos.sh.
# shellcheck disable=SC2034
IMAGE=oryd/kratos:v1.3.1
KRATOS_CPU=${KRATOS_CPU:-0}
name=orygate-swarm-kratos-$$
die() { printf '[swarm check] error: %s\n' "$*" >&2; exit 1; }
say() { printf '[swarm check %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

work=$(mktemp -d)
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=loadtests/bench/kratos.sh
. loadtests/bench/kratos.sh
start_kratos
say "Kratos on 127.0.0.1:$PUB (admin $ADM)"
ORYGATE_IMAGE_PROFILE=${ORYGATE_IMAGE_PROFILE:-dev} deploy/image/build.sh

target=(--kratos-url "http://127.0.0.1:$PUB/" --kratos-admin-url "http://127.0.0.1:$ADM/"
  --profile whoami-api -u "$users" -t "$duration")
status=0
SHARDS=$shards IMAGE=orygate:latest deploy/swarm/run.sh "$work/swarm" "${target[@]}" || status=$?
if [ "$status" = 3 ]; then
  say "swarm mode is not available on this Docker: skipped"
  exit 0
fi
[ "$status" = 0 ] || exit "$status"

mkdir -p "$work/one"
if [ "${COMPARE:-1}" = 1 ]; then
  say "the same load from one process"
  docker run --rm --network host --user "$(id -u):$(id -g)" -v "$work/one:/results" orygate:latest \
    --no-smoke --quiet --formats json "${target[@]}" >/dev/null
fi

python3 - "$work/swarm" "$work/one" "$shards" <<'PY'
import glob, json, sys

swarm, one, shards = sys.argv[1], sys.argv[2], int(sys.argv[3])
merged = [json.load(open(p)) for p in glob.glob(f"{swarm}/*/merged/orygate.json")]
parts = [json.load(open(p)) for p in glob.glob(f"{swarm}/*/orygate-*shard*.json")]
single = [json.load(open(p)) for p in glob.glob(f"{one}/orygate-*.json")]
assert len(merged) == 1, len(merged)
merged = merged[0]
slots = sorted(p["settings"]["shard"]["index"] for p in parts)
assert slots == list(range(1, shards + 1)), f"shards that ran: {slots}"
assert len(merged["merged_from"]) == shards
skew = merged["window_skew_s"]
assert skew is not None and skew < 1.0, f"windows opened {skew} s apart"
step = "kratos GET /sessions/whoami"
def of(doc):
    return next(s for s in doc["load"]["steps"] if s["step"] == step)
total = sum(of(p)["requests"] for p in parts)
assert of(merged)["requests"] == total, (of(merged)["requests"], total)
def row(what, doc):
    s = of(doc)
    return f"| {what} | {doc['settings']['users']} | {s['requests']} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['failures']} |"
print(f"\n{shards} swarm shards, windows opened {skew:.3f} s apart; {step}:\n")
print("| run | users | requests | rps | p50 ms | p99 ms | failures |")
print("|---|---:|---:|---:|---:|---:|---:|")
for p in sorted(parts, key=lambda p: p["settings"]["shard"]["index"]):
    print(row(f"shard {p['settings']['shard']['index']}/{shards}", p))
print(row("merged", merged))
for doc in single:
    print(row("one process", doc))
PY

# The histograms read without orygate: the merge's is the shards' added,
# and its percentiles those of every request.
deploy/swarm/histograms.py "$work"/swarm/*/merged/orygate.json "$work"/swarm/*/orygate-*shard*.json \
  "kratos GET /sessions/whoami"
