#!/usr/bin/env bash
# Makes this machine ready to run orygate: a Docker daemon that answers, the
# pinned Ory images (built offline from Go source when they are missing), and
# PostgreSQL's server binaries (the load profile keeps Kratos' data there).
# Idempotent: what is already there is left alone.
#
#   scripts/prepare.sh
#
# On a machine without a Docker daemon this installs Debian's docker.io and
# starts dockerd as root without a bridge (containers use host networking).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '[prepare %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[prepare] error: %s\n' "$*" >&2; exit 1; }

answers() { timeout 20 docker info >/dev/null 2>&1; }

# Whether a dockerd process is alive, by its pid file (no procps needed).
daemon_alive() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  [ -n "$pid" ] && [ -d "/proc/$pid" ]
}

# Waits up to 20 s for a daemon that is starting (or was just started by a
# package's install script) to answer, or for a dying one to be gone.
settle() {
  for _ in $(seq 1 20); do
    answers && return 0
    daemon_alive || return 1
    sleep 1
  done
  return 1
}

if ! settle && ! command -v dockerd >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || die "dockerd is not installed; installing it needs root (or install Docker yourself)"
  say "installing docker.io from Debian"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq docker.io >/dev/null
  settle || true
fi

if ! answers; then
  if daemon_alive; then
    die "dockerd (pid $(cat /var/run/docker.pid)) runs but does not answer: $(docker info 2>&1 | grep -i error | tail -n 1)"
  fi
  [ "$(id -u)" -eq 0 ] || die "no Docker daemon runs; starting one needs root"
  log=${ORYGATE_DOCKERD_LOG:-/tmp/orygate-dockerd.log}
  say "starting dockerd (no bridge, no iptables); its log: $log"
  # A session of its own: the daemon outlives the command (or test) that
  # started it.
  setsid nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    answers && break
    sleep 1
  done
  answers || { tail -n 20 "$log" >&2; die "dockerd did not answer within 60s"; }
fi
say "docker daemon $(docker version -f '{{.Server.Version}}') answers"

# Containers a killed run could not remove (the harness removes its own on
# drop, and a watcher removes a killed process's within a second; a machine
# that stopped mid-run leaves them). Each names its owner as
# <pid>.<start time>: a container is stale when no process with that pid
# and that start time runs (a pid that came round again is another
# process). Containers of live runs beside this one are left alone.
alive() {
  local pid=${1%%.*} started=${1#*.} stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$(echo "${stat##*) }" | cut -d' ' -f20)" = "$started" ]
}
stale=()
while read -r id stack owner; do
  [ -n "$id" ] || continue
  if [ -n "$owner" ]; then
    alive "$owner" || stale+=("$id")
  else
    [ -d "/proc/${stack%%-*}" ] || stale+=("$id")
  fi
done < <(docker ps -a --filter label=dev.orygate.stack \
  --format '{{.ID}} {{.Label "dev.orygate.stack"}} {{.Label "dev.orygate.owner"}}')
if [ ${#stale[@]} -gt 0 ]; then
  say "removing ${#stale[@]} container(s) left by a run that is gone"
  timeout 120 docker rm -f "${stale[@]}" >/dev/null
fi

# The load profile starts a throw-away PostgreSQL from Debian's binaries.
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || die "PostgreSQL's server is not installed; installing it needs root (apt-get install postgresql)"
  say "installing postgresql from Debian (for the load profile)"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq postgresql >/dev/null
fi
say "postgresql $(ls /usr/lib/postgresql | sort -n | tail -n 1) server binaries present"

# Databases of load stacks, and config folders mounted into containers,
# of a process that was killed (the harness stops and deletes its own on
# drop, and its watcher those it left; one killed with it does not). Their
# names start with the owner's pid.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
for dir in "${TMPDIR:-/tmp}"/orygate-*-postgres /dev/shm/orygate-*-postgres "${TMPDIR:-/tmp}"/orygate-*-files; do
  [ -d "$dir" ] || continue
  owner=${dir##*/orygate-}
  [ -d "/proc/${owner%%-*}" ] && continue
  case "$dir" in
    *-postgres)
      say "stopping the database of a load stack that is gone: $dir"
      if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$pg_bin/pg_ctl" stop -D "$dir" -m immediate >/dev/null 2>&1 || true
      else
        "$pg_bin/pg_ctl" stop -D "$dir" -m immediate >/dev/null 2>&1 || true
      fi
      ;;
  esac
  rm -rf "$dir"
done

ory/images/build.sh
