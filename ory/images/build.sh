#!/usr/bin/env bash
# Builds the Ory images that orygate runs (oryd/kratos, oryd/hydra, oryd/keto,
# oryd/oathkeeper) from the Go module proxy, for machines that cannot pull
# from a registry.
#
#   ory/images/build.sh                 # all four
#   ory/images/build.sh kratos keto     # a subset
#   ory/images/build.sh kratos@v1.0.0   # another release the proxy serves
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
all=(kratos hydra keto oathkeeper)
services=("$@")
[ ${#services[@]} -gt 0 ] || services=("${all[@]}")

say() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "docker is not installed"
timeout 20 docker info >/dev/null 2>&1 || die "no Docker daemon answers; scripts/prepare.sh starts one"

# Upstream module path, the package holding the build-info variables, the
# image's command and the ports it declares, per service.
module_of() {
  case $1 in
    kratos) echo github.com/ory/kratos ;;
    hydra) echo github.com/ory/hydra/v2 ;;
    keto) echo github.com/ory/keto ;;
    oathkeeper) echo github.com/ory/oathkeeper ;;
    *) die "unknown service '$1' (expected one of: ${all[*]})" ;;
  esac
}
config_pkg_of() {
  case $1 in
    kratos) echo github.com/ory/kratos/driver/config ;;
    hydra) echo github.com/ory/hydra/v2/driver/config ;;
    keto) echo github.com/ory/keto/internal/driver/config ;;
    oathkeeper) echo github.com/ory/oathkeeper/x ;;
  esac
}
cmd_of() {
  case $1 in
    kratos) echo '["serve"]' ;;
    hydra) echo '["serve", "all"]' ;;
    keto) echo '["serve"]' ;;
    oathkeeper) echo '["serve"]' ;;
  esac
}
ports_of() {
  case $1 in
    kratos) echo '4433 4434' ;;
    hydra) echo '4444 4445' ;;
    keto) echo '4466 4467' ;;
    oathkeeper) echo '4455 4456' ;;
  esac
}

# The build needs Go, a C compiler and glibc's static archive (cgo, static).
need_toolchain() {
  command -v go >/dev/null || die "go is not installed; it is needed to build $1 (or set ORYGATE_IMAGES=pull where a registry is reachable)"
  local v cc
  v=$(go env GOVERSION | sed -n 's/^go\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
  read -r major minor <<<"${v:-0 0}"
  [ "$major" -gt 1 ] || [ "$minor" -ge 23 ] || die "$(go env GOVERSION) is too old to build $1: Go 1.23 or newer is needed"
  cc=$(go env CC)
  command -v "$cc" >/dev/null || die "no C compiler ($cc, from 'go env CC'); cgo needs one to build $1: apt-get install gcc"
  echo 'int main(void){return 0;}' | "$cc" -static -x c -o /dev/null - 2>/dev/null ||
    die "$cc cannot link statically; install glibc's static archive: apt-get install libc6-dev"
}

# A wrapper module for another release of a service: upstream's own
# main.go of that release (its command's entry point changes between
# releases), a go.mod requiring that version with upstream's replace
# directives (not those naming a folder of upstream's repository: the
# SDK version upstream requires stands in), and the go.sum `go mod tidy`
# makes from the proxy. Prints the folder.
versioned_module() {
  local svc=$1 version=$2 module dir info gomod src
  module=$(module_of "$svc")
  dir="$cache/modules/$svc-$version"
  rm -rf "$dir"
  mkdir -p "$dir"
  info=$(cd "$dir" && GOFLAGS=-mod=mod timeout 600 go mod download -json "$module@$version") ||
    die "go mod download $module@$version failed or took over 10 minutes (the proxy refuses it or has no such version): $(sed -n 's/.*"Error": "\(.*\)".*/\1/p' <<<"$info")"
  gomod=$(sed -n 's/.*"GoMod": "\([^"]*\)".*/\1/p' <<<"$info")
  src=$(sed -n 's/.*"Dir": "\([^"]*\)".*/\1/p' <<<"$info")
  [ -n "$gomod" ] && [ -f "$src/main.go" ] || die "go mod download $module@$version gave no go.mod or main.go"
  cp "$src/main.go" "$dir/main.go"
  {
    printf 'module orygate.local/images/%s\n\ngo 1.23\n\nrequire %s %s\n\n' "$svc" "$module" "$version"
    awk '
      /^replace \($/ { inblock = 1; next }
      inblock && /^\)/ { inblock = 0; next }
      inblock { line = $0 }
      !inblock && /^replace / { line = substr($0, 9) }
      line != "" {
        sub(/^[ \t]+/, "", line)
        if (line ~ /=>/ && line !~ /^\/\//) {
          # A folder of upstream'"'"'s repository (its generated SDK) is a
          # module of its own, which a module zip leaves out: the SDK
          # version upstream requires stands in for it.
          if (line !~ /=> *\.\.?\//) print "replace " line
        }
        line = ""
      }
    ' "$gomod"
  } >"$dir/go.mod"
  (cd "$dir" && GOFLAGS=-mod=mod timeout 600 go mod tidy >/dev/null 2>"$dir/tidy.log") ||
    die "go mod tidy for $module@$version failed: $(tail -3 "$dir/tidy.log")"
  printf '%s\n' "$dir"
}

build_one() {
  local svc=${1%@*} dir module version image recipe started
  dir="$here/$svc"
  case $1 in
    *@*)
      # Another release, once built, is what it is: its recipe is the
      # release itself, so neither Go nor the proxy is needed again.
      if [ -z "${ORYGATE_REBUILD:-}" ] && docker image inspect "oryd/$svc:${1#*@}" >/dev/null 2>&1; then
        say "oryd/$svc:${1#*@} is present; using it (ORYGATE_REBUILD=1 builds it again)"
        return
      fi
      dir=$(versioned_module "$svc" "${1#*@}")
      ;;
  esac
  module=$(module_of "$svc")
  [ -f "$dir/go.mod" ] || die "$dir/go.mod is missing"
  version=$(awk -v m="$module" '$1 == "require" && $2 == m { print $3; exit } $1 == m && $3 != "=>" { print $2; exit }' "$dir/go.mod")
  [ -n "$version" ] || die "$dir/go.mod has no 'require $module VERSION' line"
  image="oryd/$svc:$version"
  local present current
  present=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  current=$(docker image inspect -f '{{ index .Config.Labels "dev.orygate.recipe" }}' "$image" 2>/dev/null || true)
  if [ -n "$present" ] && [ -z "$current" ] && [ -z "${ORYGATE_REBUILD:-}" ]; then
    say "$image is present and was not built here (an official image); using it as it is"
    return
  fi
  if [ "${ORYGATE_IMAGES:-build}" = pull ]; then
    if [ -n "$present" ]; then
      say "$image is present, nothing to pull"
    else
      say "$image: pulling the official image"
      timeout 600 docker pull -q "$image" >/dev/null || die "could not pull $image; build it offline instead (without ORYGATE_IMAGES=pull)"
    fi
    return
  fi
  recipe=$(cat "$dir/go.mod" "$dir/go.sum" "$dir/main.go" "$here/build.sh" | sha256sum | cut -c1-16)
  if [ "$current" = "$recipe" ] && [ -z "${ORYGATE_REBUILD:-}" ]; then
    say "$image is current (recipe $recipe), nothing to build"
    return
  fi
  need_toolchain "$image"

  started=$(date +%s)
  say "$image: building $module@$version from the Go module proxy (cgo, sqlite, static)"
  local ctx="$cache/$svc"
  mkdir -p "$ctx"
  local info date commit pkg
  # The release's date and commit, from the proxy's record of the version
  # (it names the commit for some modules only; the tag stands in otherwise).
  info=$(cd "$dir" && GOFLAGS=-mod=readonly go mod download -json "$module@$version") ||
    die "go mod download $module@$version failed: $(sed -n 's/.*"Error": "\(.*\)".*/\1/p' <<<"$info")"
  info=$(cat "$(sed -n 's/.*"Info": "\([^"]*\)".*/\1/p' <<<"$info")")
  date=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' <<<"$info")
  commit=$(sed -n 's/.*"Hash":"\([^"]*\)".*/\1/p' <<<"$info")
  pkg=$(config_pkg_of "$svc")
  (
    cd "$dir"
    # Static cgo binary: SQLite (and so DSN=memory) needs cgo and the sqlite
    # tag; netgo and osusergo keep glibc's NSS out so the binary runs on an
    # empty image.
    CGO_ENABLED=1 CGO_CPPFLAGS=-DSQLITE_DEFAULT_FILE_PERMISSIONS=0600 GOFLAGS="-mod=readonly -buildvcs=false" \
      timeout 1800 go build -trimpath -tags sqlite,sqlite_omit_load_extension,netgo,osusergo \
      -ldflags "-s -w -linkmode external -extldflags -static \
        -X '$pkg.Version=$version' -X '$pkg.Date=$date' -X '$pkg.Commit=${commit:-$version}'" \
      -o "$ctx/$svc" .
  )
  say "$image: binary built in $(($(date +%s) - started))s, packing the image"

  # An image from scratch with the binary, a nonroot user and a writable /tmp:
  # the same entrypoint, command, user and ports as the official image.
  rm -rf "$ctx/rootfs" "$ctx/sqlite"
  mkdir -p "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/sqlite"
  chmod 1777 "$ctx/rootfs/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/rootfs/etc/group"
  local expose=""
  for p in $(ports_of "$svc"); do expose+="EXPOSE $p"$'\n'; done
  cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 sqlite /var/lib/sqlite
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
  out=$(DOCKER_BUILDKIT=0 timeout 600 docker build --quiet -t "$image" "$ctx" 2>&1) || { printf '%s\n' "$out" >&2; die "docker build of $image failed"; }
  # The image this one replaces is now untagged: remove it.
  if [ -n "$present" ] && [ "$present" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
    docker rmi "$present" >/dev/null 2>&1 || true
  fi
  say "$image: done in $(($(date +%s) - started))s ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
}

total=$(date +%s)
for svc in "${services[@]}"; do build_one "$svc"; done
say "all requested images ready in $(($(date +%s) - total))s"
