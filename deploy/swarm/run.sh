#!/usr/bin/env bash
# Runs one load as SHARDS orygate Docker Swarm jobs (Docker's own
# orchestrator, in the Docker already here) against a Kratos
# given by URL, then merges their results into one report.
#
#   deploy/swarm/run.sh OUT_DIR --kratos-url URL --kratos-admin-url URL [orygate options]
#
# Every shard is a job of its own told its shard (ORYGATE_SHARD=I/N), the
# run's id, and one start instant (ORYGATE_START_AT, START_IN seconds from
# now) for its measured window; results land in OUT_DIR/RUN (bind-mounted),
# and `orygate report merge` makes them one report there (merged/), whose
# exit is the script's: 1 when the run failed. This machine
# becomes a one-node swarm for the run if it is none, and leaves it after;
# exit 3 when this Docker cannot be a swarm.
#
#   SHARDS=3 START_IN=20 IMAGE=orygate:latest deploy/swarm/run.sh out --kratos-url ...
set -euo pipefail

out=${1:?usage: deploy/swarm/run.sh OUT_DIR --kratos-url URL ... (orygate options)}
shift
shards=${SHARDS:-3}
start_in=${START_IN:-20}
image=${IMAGE:-orygate:latest}
bound=${BOUND:-300}
say() { printf '[swarm %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[swarm] error: %s\n' "$*" >&2; exit 1; }

timeout 20 docker info >/dev/null 2>&1 || die "no Docker daemon answers; scripts/prepare.sh starts one"
docker image inspect "$image" >/dev/null 2>&1 || die "no image $image: deploy/image/build.sh builds it"
mkdir -p "$out"

joined=""
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  if ! why=$(timeout 60 docker swarm init --advertise-addr 127.0.0.1 2>&1); then
    printf '[swarm] this Docker cannot be a swarm: %s\n' "$why" >&2
    exit 3
  fi
  joined=yes
  say "this machine is a one-node swarm for the run"
fi
run="orygate-swarm-$(date +%s)-$$"
# The run's own folder: OUT_DIR can hold earlier runs.
mkdir -p "$out/$run"
results=$(cd "$out/$run" && pwd)
services=()
cleanup() {
  for s in "${services[@]}"; do docker service rm "$s" >/dev/null 2>&1 || true; done
  if [ -n "$joined" ]; then docker swarm leave --force >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

start_at=$(date -u -d "+$start_in seconds" +%Y-%m-%dT%H:%M:%SZ)
say "$run: $shards shards of $image, windows open at $start_at"
# A job per shard, each told its shard: the tasks of one replicated job
# do not get the slots 1..N here (Docker gave one its node's id), so
# {{.Task.Slot}} cannot name the shard.
services=()
for i in $(seq 1 "$shards"); do
  docker service create --detach --quiet --name "$run-$i" \
    --mode replicated-job --replicas 1 --restart-condition none \
    --network host --user "$(id -u):$(id -g)" --no-resolve-image \
    --constraint "node.id==$(docker info --format '{{.Swarm.NodeID}}')" \
    --mount "type=bind,src=$results,dst=/results" \
    --env "ORYGATE_SHARD=$i/$shards" --env "ORYGATE_RUN_ID=$run" \
    --env "ORYGATE_START_AT=$start_at" --env ORYGATE_OUT=/results --env ORYGATE_FORMATS=json \
    --env ORYGATE_DEFER_VERDICT=true \
    "$image" --no-smoke --quiet "$@" >/dev/null 2>&1 || die "docker service create of shard $i failed"
  services+=("$run-$i")
done

logs() {
  for s in "${services[@]}"; do
    docker service logs --raw "$s" 2>&1 | tail -20 | sed "s/^/$s: /" >&2
  done
}
deadline=$(($(date +%s) + bound))
while :; do
  states=$(for s in "${services[@]}"; do docker service ps "$s" --format '{{.CurrentState}}' | awk '{print $1}'; done)
  if grep -qE '^(Failed|Rejected)' <<<"$states"; then
    logs
    die "a shard failed ($(tr '\n' ' ' <<<"$states")); the logs are above"
  fi
  [ "$(grep -c '^Complete' <<<"$states" || true)" -ge "$shards" ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    logs
    die "the shards did not end within ${bound}s ($(tr '\n' ' ' <<<"$states"))"
  fi
  sleep 1
done
say "$run: every shard completed"

# The merge: the image's orygate, on the same folder.
# Every shard exits 0 once its results are written (ORYGATE_DEFER_VERDICT):
# the merge's exit is the run's verdict.
status=0
docker run --rm --network none --user "$(id -u):$(id -g)" -v "$results:/results" "$image" \
  report merge /results -o /results/merged/orygate.json --formats html,md,junit || status=$?
say "merged: $results/merged/orygate.json (exit $status)"
exit "$status"
