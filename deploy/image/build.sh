#!/usr/bin/env bash
# Builds the orygate image (orygate:VERSION and orygate:latest) without a
# registry: the orygate binary cargo builds here, on an empty base with the
# shared libraries it links (glibc, and what ldd lists), the system's CA
# bundle, and a nonroot user. Its version and commit are labels, and
# `orygate --version` says them.
#
#   deploy/image/build.sh            # a release build (what a cluster runs)
#   ORYGATE_IMAGE_PROFILE=dev deploy/image/build.sh   # the dev build (tests)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

profile=${ORYGATE_IMAGE_PROFILE:-release}
say() { printf '[image %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "docker is not installed"
timeout 20 docker info >/dev/null 2>&1 || die "no Docker daemon answers; scripts/prepare.sh starts one"

started=$(date +%s)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit-dirty"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || die "no version in Cargo.toml"

say "building orygate $version ($commit), $profile profile"
# The commit goes into the image's environment, not into the build: a
# build told it would differ from the test's and be compiled and linked
# again, here and by the next cargo test.
# The dev build is the tests' own binary: built with the whole workspace's
# targets, it is the orygate cargo test builds (the same features), so
# neither build undoes the other.
if [ "$profile" = dev ]; then
  timeout 3600 cargo build --locked --workspace --all-targets
else
  timeout 3600 cargo build --locked --profile "$profile" -p loadtests --bin orygate
fi
dir=target/$([ "$profile" = dev ] && echo debug || echo "$profile")
binary=$dir/orygate

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp" "$ctx/rootfs/results"
chmod 1777 "$ctx/rootfs/tmp"
chmod 0777 "$ctx/rootfs/results"
# Without its debug sections: the dev build's binary is mostly those.
objcopy --strip-debug "$binary" "$ctx/rootfs/usr/bin/orygate"
# Every shared library it links, at the path the loader looks for it.
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
  mkdir -p "$ctx/rootfs$(dirname "$lib")"
  cp -L "$lib" "$ctx/rootfs$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/" 2>/dev/null ||
  die "no CA bundle at /etc/ssl/certs/ca-certificates.crt (apt-get install ca-certificates)"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/rootfs/etc/group"
printf 'hosts: files dns\n' >"$ctx/rootfs/etc/nsswitch.conf"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/bin ORYGATE_OUT=/results ORYGATE_COMMIT=$commit
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["orygate"]
LABEL org.opencontainers.image.title="orygate" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.revision="$commit"
DOCKERFILE
out=$(DOCKER_BUILDKIT=0 timeout 600 docker build --quiet -t "orygate:$version" -t orygate:latest "$ctx" 2>&1) ||
  { printf '%s\n' "$out" >&2; die "docker build of orygate failed"; }
said=$(timeout 30 docker run --rm --network none orygate:latest --version) ||
  die "the image does not run: $said"
say "orygate:$version: $said, $(docker image inspect -f '{{.Size}}' orygate:latest | numfmt --to=iec) in $(($(date +%s) - started))s"
