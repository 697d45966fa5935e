#!/usr/bin/env bash
# Benchmarks orygate as a load generator beside oha and wrk, in one run:
# Kratos (in memory, --dev, warnings only) pinned to CPU 0, every generator
# pinned to CPU 1, the same whoami endpoint with real sessions, the same
# connections and duration, rounds interleaved (orygate, oha, wrk; then
# oha, wrk, orygate; ...: each round starts with another generator). Saturating runs first; then fixed rates at 25 % and 75 % of the
# capacity oha measured (orygate --rate vs oha -q; wrk has no fixed rate);
# then the generators' CPU per request against a fast endpoint (Kratos'
# /health/alive), and against a static one that outruns every generator
# (nginx on Kratos' CPU answers /health/alive itself and passes the rest to
# Kratos), where each generator is the bottleneck and its CPU per request
# is its own cost. Prints a Markdown table per part; medians of the rounds.
#
#   loadtests/bench/generators.sh            # ROUNDS=3 DURATION=10 CONNS=32
#   PARTS="saturating rates" ROUNDS=5 loadtests/bench/generators.sh
#
# PARTS picks some of: saturating rates alive nginx tls memory (all by
# default; rates takes its rates from the saturating part, and runs it).
# tls is the nginx part over HTTPS: nginx serves a certificate from a
# throw-away CA that orygate is given with --ca-cert (oha is told
# --insecure; wrk does not check certificates).
#
# Needs docker and the oryd/kratos image (scripts/prepare.sh), oha (cargo
# install oha), wrk and nginx (Debian: wrk nginx-light), taskset, curl, jq,
# python3. Everything talks
# to 127.0.0.1 only; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

ROUNDS=${ROUNDS:-3}
PARTS=${PARTS:-saturating rates alive nginx tls memory}
part() { [[ " $PARTS " == *" $1 "* ]]; }
part rates && PARTS="$PARTS saturating"
for p in $PARTS; do
  case $p in saturating | rates | alive | nginx | tls | memory) ;; *) echo "error: PARTS: no part $p (saturating rates alive nginx tls memory)" >&2; exit 2 ;; esac
done
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
KRATOS_CPU=${KRATOS_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
IMAGE=oryd/kratos:v1.3.1

die() { echo "error: $*" >&2; exit 1; }
export PATH="$PATH:/usr/sbin"
for tool in docker oha wrk nginx openssl taskset curl jq python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (oha: cargo install oha; wrk, nginx: apt-get install wrk nginx-light)"
done
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "$IMAGE is missing: run scripts/prepare.sh"
ORYGATE=${CARGO_TARGET_DIR:-target}/release/orygate
cargo build --release -p loadtests --bin orygate
# Kratos' in-memory store refuses some concurrent logins ("Unable to
# serialize access"): orygate's users start before its window opens,
# unmeasured, and try again after such a failure; the window each run
# measured and the users it had are noted below the tables.
work=$(mktemp -d)
name=orygate-bench-kratos-$$

nginx_pid=""
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=loadtests/bench/kratos.sh
. loadtests/bench/kratos.sh
start_kratos
session_token
WHOAMI="http://127.0.0.1:$PUB/sessions/whoami"
ALIVE="http://127.0.0.1:$PUB/health/alive"

# Runs "$@" on the generator's CPU; writes "<user+sys CPU s>" to $work/cpu.
TIMEFORMAT='%U %S'
# orygate exits 1 when a step or a user's start failed: its results say
# which, and the run still measured (ALLOW_1=1).
timed() {
  local rc=0
  { time taskset -c "$LOAD_CPU" "$@" >"$work/out" 2>"$work/err"; } 2>"$work/time" || rc=$?
  if [ "$rc" -ne 0 ] && ! { [ "$rc" -eq 1 ] && [ "${ALLOW_1:-0}" = 1 ]; }; then
    tail -n 30 "$work/out" "$work/err" >&2
    die "$1 failed (exit $rc)"
  fi
  awk 'NF == 2 {cpu = $1 + $2} END {print cpu}' "$work/time" >"$work/cpu"
}

# Each prints: rps p50_ms p99_ms requests_sent cpu_s
run_oha() { # url [rate [--latency-correction]]
  local rate=() tls=()
  [ -n "${2:-}" ] && rate=(-q "$2" ${3:+"$3"})
  [[ $1 == https://* ]] && tls=(--insecure)
  timed oha --no-tui --output-format json -z "${DURATION}s" -c "$CONNS" "${rate[@]}" "${tls[@]}" -H "X-Session-Token: $token" "$1"
  jq -r --arg cpu "$(cat "$work/cpu")" \
    '"\(.summary.requestsPerSec) \(.latencyPercentiles.p50 * 1000) \(.latencyPercentiles.p99 * 1000) \(.statusCodeDistribution | to_entries | map(.value) | add) \($cpu)"' "$work/out"
}
run_wrk() { # url
  timed wrk -t1 -c "$CONNS" -d "${DURATION}s" --latency -H "X-Session-Token: $token" "$1"
  python3 - "$work/out" "$(cat "$work/cpu")" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
def percentile(p):
    m = re.search(p + r"%\s+([\d.]+)(us|ms|s|m)\b", text)
    if not m:
        sys.exit("wrk's output has no " + p + "% line:\n" + text)
    return float(m.group(1)) * UNIT[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
reqs = int(re.search(r"(\d+) requests in", text).group(1))
print(rps, percentile("50"), percentile("99"), reqs, sys.argv[2])
PY
}
# With a rate, the round's line (from its intended start) goes to stdout
# and the request's (from its send) to the file $3. PROFILE, STEP and USERS
# choose another profile, step and user count.
run_orygate() { # [rate send-file]
  local rate=() increase=()
  [ -n "${1:-}" ] && rate=(--rate "$1")
  [ -n "${INCREASE:-}" ] && increase=(--increase-rate "$INCREASE")
  ALLOW_1=1 timed "$ORYGATE" --kratos-url "${SCHEME:-http}://127.0.0.1:$PUB/" --kratos-admin-url "http://127.0.0.1:$ADM/" \
    --profile "${PROFILE:-whoami-api}" -u "${USERS:-$CONNS}" -t "${DURATION}s" --no-smoke -q --out "$work/results" \
    "${rate[@]}" "${increase[@]}"
  local results
  results=$(ls -t "$work"/results/*.json | head -n 1)
  jq -r '"orygate: measured \(.load.measured_s * 100 | round / 100) of \(.load.asked_s) s asked; \(.load.setup.ready) of \(.settings.users) users ready in \(.load.setup.seconds * 10 | round / 10) s (\(.load.setup.retries) starts tried again); failed steps: \([.load.steps[].failures] | add)\(if .load.short_window then "; SHORT: " + .load.short_window else "" end)"' \
    "$results" >>"$work/notes"
  # CPU per request is over every request the process sent, as for oha
  # and wrk: the users' logins and the requests sent while users were
  # still starting (before the measured part) cost CPU too.
  local sent
  sent=$(jq -r '.load.generator.requests' "$results")
  step_line() {
    jq -r --arg cpu "$(cat "$work/cpu")" --arg step "$1" --arg sent "$sent" \
      '.load.steps[] | select(.step == $step) | "\(.rps) \(.p50_ms) \(.p99_ms) \($sent) \($cpu)"' \
      "$results"
  }
  if [ -n "${1:-}" ]; then
    step_line "whoami-api ROUND [from intended start]"
    step_line "kratos GET /sessions/whoami" >>"$2"
  else
    step_line "${STEP:-kratos GET /sessions/whoami}"
  fi
  jq -r '.load.generator.peak_rss_mib' "$results" >"$work/rss"
}

# Runs the functions given, round $1 starting from a different one each
# time, with a pause before each: no generator always runs first, or always
# right after another's load, against a Kratos that carries state (its
# heap, its in-memory store) from run to run.
SETTLE=${SETTLE:-2}
in_turn() { # round function...
  local r=$1
  shift
  local fns=("$@") i
  for i in $(seq 0 $(($# - 1))); do
    sleep "$SETTLE"
    "${fns[$(((i + r - 1) % $#))]}"
  done
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# The median of a column and, in brackets, its lowest and highest round.
spread() { # column file
  local m lo hi
  m=$(cut -d' ' -f"$1" "$2" | median)
  lo=$(cut -d' ' -f"$1" "$2" | sort -g | head -n 1)
  hi=$(cut -d' ' -f"$1" "$2" | sort -g | tail -n 1)
  printf '%.2f (%.2f-%.2f)' "$m" "$lo" "$hi"
}
# Prints a Markdown row from the rounds' lines in $2: medians per column,
# the latencies with their rounds' range (Kratos on one core is noisy).
row() { # label file
  local f=$2
  printf '| %s | %.0f | %s | %s | %.1f |\n' "$1" \
    "$(cut -d' ' -f1 "$f" | median)" "$(spread 2 "$f")" "$(spread 3 "$f")" \
    "$(awk '{print $5 * 1e6 / $4}' "$f" | median)"
}

# A part of orygate, oha and wrk against one URL: its table, the rounds in
# turn, a row each (orygate's labelled $3); their lines stay in
# $work/$2-orygate, -oha and -wrk. orygate runs with the PROFILE, STEP,
# INCREASE and PUB its caller sets.
three_way() { # title name orygate-label url
  local title=$1 name=$2 label=$3 url=$4 r
  echo
  echo "## $title"
  echo "| generator | req/s | p50 ms | p99 ms | CPU µs/request |"
  echo "| --- | --- | --- | --- | --- |"
  part_orygate() { run_orygate >>"$work/$name-orygate"; }
  part_oha() { run_oha "$url" >>"$work/$name-oha"; }
  part_wrk() { run_wrk "$url" >>"$work/$name-wrk"; }
  for r in $(seq 1 "$ROUNDS"); do
    in_turn "$r" part_orygate part_oha part_wrk
  done
  row "$label" "$work/$name-orygate"
  row "oha" "$work/$name-oha"
  row "wrk" "$work/$name-wrk"
}

echo "Kratos v1.3.1 on CPU $KRATOS_CPU, generators on CPU $LOAD_CPU; $CONNS connections, ${DURATION} s, $ROUNDS rounds; medians (latencies: lowest-highest round)"
if part saturating; then
  three_way "Saturating: GET /sessions/whoami with a session token" sat "orygate (a session per user)" "$WHOAMI"
  capacity=$(cut -d' ' -f1 "$work/sat-oha" | median)
fi

part rates && for share in 25 75; do
  fixed=$(awk -v c="$capacity" -v s="$share" 'BEGIN {printf "%d", c * s / 100}')
  echo
  echo "## Fixed rate: $fixed req/s ($share % of oha's saturating rate)"
  echo "| generator | achieved req/s | p50 ms | p99 ms | CPU µs/request |"
  echo "| --- | --- | --- | --- | --- |"
  fixed_orygate() { run_orygate "$fixed" "$work/rate$share-orygate-send" >>"$work/rate$share-orygate"; }
  fixed_oha_corrected() { run_oha "$WHOAMI" "$fixed" --latency-correction >>"$work/rate$share-oha-corrected"; }
  fixed_oha() { run_oha "$WHOAMI" "$fixed" >>"$work/rate$share-oha"; }
  for r in $(seq 1 "$ROUNDS"); do
    in_turn "$r" fixed_orygate fixed_oha_corrected fixed_oha
  done
  row "orygate --rate, from the intended start" "$work/rate$share-orygate"
  row "oha -q --latency-correction (from the intended start)" "$work/rate$share-oha-corrected"
  row "orygate --rate, the request from its send" "$work/rate$share-orygate-send"
  row "oha -q (from the send)" "$work/rate$share-oha"
done

# No session to make: every user starts at once.
part alive && PROFILE=health STEP="kratos GET /health/alive" INCREASE=$CONNS \
  three_way "CPU per request against a fast endpoint: GET /health/alive" alive \
  "orygate (a browser with its jar per user)" "$ALIVE"

# nginx in front of Kratos, on Kratos' CPU: /health/alive answered by nginx
# (a static 200), everything else (orygate's check that the target is
# Kratos) passed to Kratos; over plain HTTP on one port, over HTTPS with a
# certificate from a throw-away CA on another.
if part nginx || part tls; then
  STUB=$(free_port)
  TLS=$(free_port)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=orygate bench CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >"$work/tls.ext"
  openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 1 \
    -extfile "$work/tls.ext" -out "$work/tls.pem" 2>/dev/null
  cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  proxy_temp_path $work/nginx-proxy;
  fastcgi_temp_path $work/nginx-fastcgi;
  uwsgi_temp_path $work/nginx-uwsgi;
  scgi_temp_path $work/nginx-scgi;
  keepalive_requests 10000000;
  upstream kratos { server 127.0.0.1:$PUB; keepalive 4; }
  server {
    listen 127.0.0.1:$STUB;
    listen 127.0.0.1:$TLS ssl;
    ssl_certificate $work/tls.pem;
    ssl_certificate_key $work/tls.key;
    location = /health/alive { default_type application/json; return 200 '{"status":"ok"}'; }
    location / { proxy_pass http://kratos; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
  taskset -c "$KRATOS_CPU" nginx -c "$work/nginx.conf" -p "$work" >"$work/nginx.log" 2>&1 &
  nginx_pid=$!
  for _ in $(seq 1 20); do curl -sf "http://127.0.0.1:$STUB/health/alive" >/dev/null && break; sleep 0.25; done
  curl -sf "http://127.0.0.1:$STUB/health/alive" >/dev/null || { cat "$work/nginx.log" "$work/nginx-error.log" >&2; die "nginx did not answer on 127.0.0.1:$STUB"; }
  curl -sf --cacert "$work/ca.pem" "https://127.0.0.1:$TLS/health/alive" >/dev/null || { cat "$work/nginx-error.log" >&2; die "nginx did not answer on https://127.0.0.1:$TLS"; }
fi
part nginx && PUB=$STUB PROFILE=health STEP="kratos GET /health/alive" INCREASE=$CONNS \
  three_way "CPU per request, the generator the bottleneck: /health/alive answered by nginx on CPU $KRATOS_CPU" stub \
  "orygate (a browser with its jar per user)" "http://127.0.0.1:$STUB/health/alive"
if part tls; then
  PUB=$TLS SCHEME=https ORYGATE_CA_CERT="$work/ca.pem" \
    three_way "Saturating over HTTPS: GET /sessions/whoami through nginx's TLS (Kratos the bottleneck)" tlswhoami \
    "orygate (a session per user)" "https://127.0.0.1:$TLS/sessions/whoami"
  PUB=$TLS SCHEME=https ORYGATE_CA_CERT="$work/ca.pem" PROFILE=health STEP="kratos GET /health/alive" INCREASE=$CONNS \
    three_way "CPU per request over HTTPS (TLS 1.3, a keep-alive connection per user): /health/alive answered by nginx on CPU $KRATOS_CPU" tls \
    "orygate (a browser with its jar per user)" "https://127.0.0.1:$TLS/health/alive"
fi

part memory && {
  echo
  echo "## Memory per virtual user: peak RSS of a whoami-api run (each user signed in with its own session)"
  echo "| users | peak RSS MiB | KB per user above 10 users |"
  echo "| --- | --- | --- |"
  base=""
  for users in 10 100 1000; do
    USERS=$users INCREASE=25 run_orygate >/dev/null
    rss=$(cat "$work/rss")
    [ -z "$base" ] && base=$rss
    awk -v u="$users" -v r="$rss" -v b="$base" \
      'BEGIN {printf "| %d | %.1f | %s |\n", u, r, (u > 10) ? sprintf("%.0f", (r - b) * 1024 / (u - 10)) : "-"}'
  done
}
echo
sort "$work/notes" | uniq -c | sed 's/^ */    /'
