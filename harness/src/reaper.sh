#!/bin/sh
# orygate's watcher, run by harness/src/reaper.rs as `sh -c <this>` beside a
# process that starts stacks: it waits for that process's end of a pipe to
# close (the process ended, however), then removes the containers labelled
# with its OWNER and stops the databases of its load stacks, and says so in
# LOG, and removes the config folders it mounted into containers. Its
# environment: OWNER (pid.start-time), OWNER_PID, RUN, LOG, DOCKER_HOST.
trap '' INT TERM HUP QUIT
cat >/dev/null
# A container whose creation was under way when the owner died shows up a
# moment later: look until two looks 2 s apart find nothing (at most 10).
quiet=0
looks=0
# Without docker there are no containers to look for, only files.
command -v docker >/dev/null 2>&1 || quiet=2
while [ "$quiet" -lt 2 ] && [ "$looks" -lt 10 ]; do
  looks=$((looks + 1))
  ids=$(timeout 60 docker ps -aq --filter "label=dev.orygate.owner=$OWNER")
  if [ -n "$ids" ]; then
    quiet=0
    kept=$(timeout 60 docker ps -aq --filter "label=dev.orygate.owner=$OWNER" --filter "label=dev.orygate.lifetime=process")
    # One word per id.
    # shellcheck disable=SC2086
    timeout 60 docker rm -f $ids >/dev/null 2>&1
    n=$(echo "$ids" | grep -cvxF "$kept")
    k=$(echo "$kept" | grep -c .)
    [ "$n" -gt 0 ] && echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) run=${RUN:--} owner=$OWNER removed $n container(s)" >> "$LOG"
    [ "$k" -gt 0 ] && echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) run=${RUN:--} owner=$OWNER removed $k container(s) kept for the process" >> "$LOG"
  else
    quiet=$((quiet + 1))
    [ "$quiet" -ge 2 ] && break
  fi
  sleep 2
done
pg=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
# The clusters are under /dev/shm when it is a roomy tmpfs, else the temp
# folder (harness/src/postgres.rs).
for dir in "${TMPDIR:-/tmp}"/orygate-"$OWNER_PID"-*-postgres /dev/shm/orygate-"$OWNER_PID"-*-postgres; do
  [ -d "$dir" ] || continue
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$pg/pg_ctl" stop -D "$dir" -m immediate >/dev/null 2>&1
  else
    "$pg/pg_ctl" stop -D "$dir" -m immediate >/dev/null 2>&1
  fi
  rm -rf "$dir"
  case "$dir" in
    *-process-postgres) kept=" kept for the process" ;;
    *) kept="" ;;
  esac
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) run=${RUN:--} owner=$OWNER removed database $dir$kept" >> "$LOG"
done
# The config folders mounted into its containers (a stack's own go with
# it; those of a stack kept for the process stay until here).
rm -rf "${TMPDIR:-/tmp}"/orygate-"$OWNER_PID"-*-files
