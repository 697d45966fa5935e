#!/usr/bin/env bash
# Builds the Ory images that orygate runs (oryd/kratos, oryd/hydra, oryd/keto)
# from the Go module proxy, for machines that cannot pull from a registry.
#
#   ory/images/build.sh                 # all three
#   ory/images/build.sh kratos keto     # a subset
#   ORYGATE_REBUILD=1 ory/images/build.sh   # ignore the cache
#   ORYGATE_IMAGES=pull ory/images/build.sh # pull the official images instead
#                                           # (only where a registry is reachable)
#
# Each service has a wrapper module here (main.go, go.mod, go.sum): the go.mod
# pins the upstream version, and the image is tagged with exactly that version,
# as the official image is. An image is rebuilt only when its recipe (the
# wrapper module and this script) changed: the recipe's hash is a label on the
# image, and a matching label means the image is current.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${ORYGATE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orygate/images}
all=(kratos hydra keto)
services=("$@")
[ ${#services[@]} -gt 0 ] || services=("${all[@]}")

say() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "no Docker daemon answers; start one (see .ci/run)"

# Upstream module path, the package holding the build-info variables, the
# image's command and the ports it declares, per service.
module_of() {
  case $1 in
    kratos) echo github.com/ory/kratos ;;
    hydra) echo github.com/ory/hydra/v2 ;;
    keto) echo github.com/ory/keto ;;
    *) die "unknown service '$1' (expected one of: ${all[*]})" ;;
  esac
}
config_pkg_of() {
  case $1 in
    kratos) echo github.com/ory/kratos/driver/config ;;
    hydra) echo github.com/ory/hydra/v2/driver/config ;;
    keto) echo github.com/ory/keto/internal/driver/config ;;
  esac
}
cmd_of() {
  case $1 in
    kratos) echo '["serve"]' ;;
    hydra) echo '["serve", "all"]' ;;
    keto) echo '["serve"]' ;;
  esac
}
ports_of() {
  case $1 in
    kratos) echo '4433 4434' ;;
    hydra) echo '4444 4445' ;;
    keto) echo '4466 4467' ;;
  esac
}

build_one() {
  local svc=$1 dir="$here/$1" module version image recipe current started
  module=$(module_of "$svc")
  [ -f "$dir/go.mod" ] || die "$dir/go.mod is missing"
  version=$(awk -v m="$module" '$1 == "require" && $2 == m { print $3; exit } $1 == m && $3 != "=>" { print $2; exit }' "$dir/go.mod")
  [ -n "$version" ] || die "$dir/go.mod has no 'require $module VERSION' line"
  image="oryd/$svc:$version"
  if [ "${ORYGATE_IMAGES:-build}" = pull ]; then
    if docker image inspect "$image" >/dev/null 2>&1; then
      say "$image is present, nothing to pull"
    else
      say "$image: pulling the official image"
      timeout 600 docker pull -q "$image" >/dev/null || die "could not pull $image; build it offline instead (without ORYGATE_IMAGES=pull)"
    fi
    return
  fi
  command -v go >/dev/null || die "go is not installed; it is needed to build $image (or set ORYGATE_IMAGES=pull where a registry is reachable)"
  recipe=$(cat "$dir/go.mod" "$dir/go.sum" "$dir/main.go" "$here/build.sh" | sha256sum | cut -c1-16)

  current=$(docker image inspect -f '{{ index .Config.Labels "dev.orygate.recipe" }}' "$image" 2>/dev/null || true)
  if [ "$current" = "$recipe" ] && [ -z "${ORYGATE_REBUILD:-}" ]; then
    say "$image is current (recipe $recipe), nothing to build"
    return
  fi

  started=$(date +%s)
  say "$image: building $module@$version from the Go module proxy (cgo, sqlite, static)"
  local ctx="$cache/$svc"
  mkdir -p "$ctx"
  local info date commit pkg
  info=$(cd "$dir" && GOFLAGS=-mod=readonly go list -m -json "$module")
  date=$(sed -n 's/.*"Time": "\([^"]*\)".*/\1/p' <<<"$info" | head -n1)
  commit=$(sed -n 's/.*"Hash": "\([^"]*\)".*/\1/p' <<<"$info" | head -n1)
  pkg=$(config_pkg_of "$svc")
  (
    cd "$dir"
    # Static cgo binary: SQLite (and so DSN=memory) needs cgo and the sqlite
    # tag; netgo and osusergo keep glibc's NSS out so the binary runs on an
    # empty image.
    CGO_ENABLED=1 CGO_CPPFLAGS=-DSQLITE_DEFAULT_FILE_PERMISSIONS=0600 GOFLAGS="-mod=readonly -buildvcs=false" \
      go build -trimpath -tags sqlite,sqlite_omit_load_extension,netgo,osusergo \
      -ldflags "-s -w -linkmode external -extldflags -static \
        -X '$pkg.Version=$version' -X '$pkg.Date=$date' -X '$pkg.Commit=${commit:-$version}'" \
      -o "$ctx/$svc" .
  )
  say "$image: binary built in $(($(date +%s) - started))s, packing the image"

  # An image from scratch with the binary, a nonroot user and a writable /tmp:
  # the same entrypoint, command, user and ports as the official image.
  mkdir -p "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/rootfs/var/lib/sqlite"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/rootfs/etc/group"
  local expose=""
  for p in $(ports_of "$svc"); do expose+="EXPOSE $p"$'\n'; done
  cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 rootfs/tmp /tmp
COPY --chown=65532:65532 rootfs/var/lib/sqlite /var/lib/sqlite
COPY $svc /usr/bin/$svc
ENV PATH=/usr/bin
USER 65532:65532
${expose}ENTRYPOINT ["$svc"]
CMD $(cmd_of "$svc")
LABEL org.opencontainers.image.title="$svc" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.source="$module" \\
      dev.orygate.recipe="$recipe"
EOF
  local out
  out=$(DOCKER_BUILDKIT=0 docker build --quiet -t "$image" "$ctx" 2>&1) || { printf '%s\n' "$out" >&2; die "docker build of $image failed"; }
  say "$image: done in $(($(date +%s) - started))s ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
}

total=$(date +%s)
for svc in "${services[@]}"; do build_one "$svc"; done
say "all requested images ready in $(($(date +%s) - total))s"
