#!/usr/bin/env bash
# Makes this machine ready to run orygate: a Docker daemon that answers, and
# the pinned Ory images (built offline from Go source when they are missing).
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

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "dockerd is not installed and this is not root: install Docker first"
    say "installing docker.io from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
  fi
  [ "$(id -u)" -eq 0 ] || die "no Docker daemon answers and this is not root: start dockerd first"
  log=${ORYGATE_DOCKERD_LOG:-/tmp/orygate-dockerd.log}
  say "starting dockerd (no bridge, no iptables); its log: $log"
  nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -n 20 "$log" >&2; die "dockerd did not answer within 60s"; }
fi
say "docker daemon $(docker version -f '{{.Server.Version}}') answers"

# Containers a killed run could not remove (the harness removes its own on
# drop, also after a panic; a SIGKILL leaves no chance).
stale=$(docker ps -aq --filter label=dev.orygate.stack)
if [ -n "$stale" ]; then
  say "removing $(wc -w <<<"$stale") container(s) left by an earlier run"
  docker rm -f $stale >/dev/null
fi

ory/images/build.sh
