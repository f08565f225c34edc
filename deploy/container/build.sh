#!/usr/bin/env bash
# Builds the container image okta-token-exporter:dev (or $IMAGE) from the Dockerfile at the root of
# the repository, with Debian's buildah and no daemon, registry or base image:
#
#   1. the statically linked release binary of deploy/static-binary.sh (target/static), the one the
#      Debian package ships too;
#   2. target/container/rootfs: that binary, Mozilla's CA roots (Debian's ca-certificates bundle)
#      and the /etc/passwd, /etc/group and /etc/nsswitch.conf of deploy/container/rootfs;
#   3. `buildah bud` of the Dockerfile, which copies that tree onto an empty (scratch) base.
#
#   deploy/container/build.sh [--profile NAME]
#
# Its arguments go to deploy/static-binary.sh: the packaging tests build the image from the unoptimised
# package-test binary; without it the image holds the release binary.
#
# Needs cargo, buildah and ca-certificates (apt-get install buildah ca-certificates); run as root,
# as buildah's vfs storage driver is used without user namespaces. tests/packaging/container.rs runs this.
set -euo pipefail
cd "$(dirname "$0")/../.."

image="${IMAGE:-okta-token-exporter:dev}"
rootfs="$PWD/target/container/rootfs"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
buildah=(buildah --storage-driver vfs)

command -v buildah >/dev/null || { echo "build.sh: buildah missing: apt-get install buildah" >&2; exit 1; }
[ -s "$ca_bundle" ] || { echo "build.sh: $ca_bundle missing: apt-get install ca-certificates" >&2; exit 1; }

# The release binary the Debian package ships too (deploy/static-binary.sh): built once.
bin=$(deploy/static-binary.sh "$@" | tail -1)
version=$("$bin" --version | awk '{print $2}')

echo "--- staging $rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs/etc/ssl/certs"
cp -R deploy/container/rootfs/. "$rootfs/"
cp "$bin" "$rootfs/okta-token-exporter"
cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
chmod -R u=rwX,go=rX "$rootfs"
chmod 0755 "$rootfs/okta-token-exporter"

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# Cargo.toml has no `repository`; the clone's origin is where this source came from.
source="${OCI_SOURCE:-$(git remote get-url origin 2>/dev/null || echo unknown)}"

echo "--- buildah bud --tag $image (version $version, revision $revision)"
old=$("${buildah[@]}" images --quiet --noheading "$image" 2>/dev/null || true)
"${buildah[@]}" bud --quiet --format oci --file Dockerfile --tag "$image" \
  --build-arg VERSION="$version" \
  --build-arg REVISION="$revision" \
  --build-arg SOURCE="$source" \
  .
new=$("${buildah[@]}" images --quiet --noheading "$image")
# The image this one replaces keeps no tag: remove it unless a container still uses it.
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  "${buildah[@]}" rmi "$old" >/dev/null 2>&1 || true
fi

echo "--- $image: image $new, $("${buildah[@]}" images --format '{{.Size}}' "$image"); binary $(stat -c %s "$bin") bytes"
