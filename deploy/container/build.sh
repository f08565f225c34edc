#!/usr/bin/env bash
# Builds the container image okta-token-exporter:dev (or $IMAGE) from the Dockerfile at the root of
# the repository, with Debian's buildah and no daemon, registry or base image:
#
#   1. a statically linked release binary, in its own target directory (target/container);
#   2. target/container/rootfs: that binary, Mozilla's CA roots (Debian's ca-certificates bundle)
#      and the /etc/passwd, /etc/group and /etc/nsswitch.conf of deploy/container/rootfs;
#   3. `buildah bud` of the Dockerfile, which copies that tree onto an empty (scratch) base.
#
# Needs cargo, buildah and ca-certificates (apt-get install buildah ca-certificates); run as root,
# as buildah's vfs storage driver is used without user namespaces. tests/container.rs runs this.
set -euo pipefail
cd "$(dirname "$0")/../.."

image="${IMAGE:-okta-token-exporter:dev}"
target=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="$PWD/target/container"
bin="$CARGO_TARGET_DIR/$target/release/okta-token-exporter"
rootfs="$CARGO_TARGET_DIR/rootfs"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
buildah=(buildah --storage-driver vfs)

# Name resolution in a static glibc binary: glibc carries its "files" and "dns" sources inside libc
# (libc.a as well) since 2.34, so getaddrinfo reads /etc/nsswitch.conf, /etc/hosts and
# /etc/resolv.conf with no libnss_*.so, which the image does not have. An older glibc would build
# a binary that cannot resolve a name in the image.
glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
if [ "$(printf '%s\n' 2.34 "$glibc" | sort -V | head -1)" != 2.34 ]; then
  echo "build.sh: glibc $glibc is older than 2.34; a static binary would not resolve names" >&2
  exit 1
fi
command -v buildah >/dev/null || { echo "build.sh: buildah missing: apt-get install buildah" >&2; exit 1; }
[ -s "$ca_bundle" ] || { echo "build.sh: $ca_bundle missing: apt-get install ca-certificates" >&2; exit 1; }

# What cargo sets for the process of a test (tests/container.rs runs this) or of `cargo run`:
# some build scripts (ring's) watch OUT_DIR, CARGO_PKG_NAME and the like, so inheriting them
# would rebuild those crates, and all that depends on them, on every switch between a shell and a
# test.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E \
  '^(OUT_DIR|CARGO_PKG_|CARGO_MANIFEST_|CARGO_CRATE_|CARGO_BIN_|CARGO_PRIMARY_PACKAGE|CARGO_TARGET_TMPDIR|CARGO_RUSTC_CURRENT_DIR)' || true)

echo "--- the static binary: cargo build --release --target $target (in target/container)"
# +crt-static links glibc into the binary. getrandom (rand, bcrypt) looks up libc's getrandom()
# with dlsym, which finds nothing in a static binary, and falls back to reading /dev/random and
# /dev/urandom; the linux_getrandom backend calls getrandom(2) itself, so no /dev is needed.
# Symbols are stripped, as cargo deb strips the packaged binary.
RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build --release --locked --target "$target"

linkage=$(ldd "$bin" 2>&1 || true)
if ! grep -Eq 'statically linked|not a dynamic executable' <<<"$linkage"; then
  printf 'build.sh: %s is not static:\n%s\n' "$bin" "$linkage" >&2
  exit 1
fi
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
