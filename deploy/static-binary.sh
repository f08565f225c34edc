#!/usr/bin/env bash
# Builds the one release binary that ships: okta-token-exporter linked statically (glibc
# included), stripped, in its own target directory target/static, and prints its path on the last
# line of standard output. The container image (deploy/container/build.sh) and the Debian package
# (`cargo deb --no-build`, see docs/install.md) both package this binary, so a release is built
# once. An incremental build: a second run with unchanged code does nothing.
#
#   deploy/static-binary.sh [--profile NAME]
#
# --profile package-test (Cargo.toml) builds the same static, stripped binary without
# optimisation: the packaging tests (tests/packaging/) package that one, in a fraction of the time.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
case "${1:-}" in
  "") ;;
  --profile) profile=${2:?--profile needs a profile name, e.g. release or package-test} ;;
  --profile=*) profile=${1#--profile=} ;;
  *) echo "usage: deploy/static-binary.sh [--profile NAME]" >&2; exit 2 ;;
esac
case "$profile" in
  dev) dir=debug ;;
  *) dir=$profile ;;
esac

target=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="$PWD/target/static"
bin="$CARGO_TARGET_DIR/$target/$dir/okta-token-exporter"

# Name resolution in a static glibc binary: glibc carries its "files" and "dns" sources inside libc
# (libc.a as well) since 2.34, so getaddrinfo reads /etc/nsswitch.conf, /etc/hosts and
# /etc/resolv.conf with no libnss_*.so, which the image does not have. An older glibc would build
# a binary that cannot resolve a name in the image.
glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
if [ "$(printf '%s\n' 2.34 "$glibc" | sort -V | head -1)" != 2.34 ]; then
  echo "static-binary.sh: glibc $glibc is older than 2.34; a static binary would not resolve names" >&2
  exit 1
fi

# What cargo sets for the process of a test (tests/packaging/container.rs and tests/packaging/debian_package.rs run
# this) or of `cargo run`: some build scripts (ring's) watch OUT_DIR, CARGO_PKG_NAME and the like,
# so inheriting them would rebuild those crates, and all that depends on them, on every switch
# between a shell and a test. The release binary is also compiled by rustc itself, never through
# a workspace wrapper such as the clippy-driver that CI's test run compiles with.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E \
  '^(OUT_DIR|CARGO_PKG_|CARGO_MANIFEST_|CARGO_CRATE_|CARGO_BIN_|CARGO_PRIMARY_PACKAGE|CARGO_TARGET_TMPDIR|CARGO_RUSTC_CURRENT_DIR|RUSTC_WORKSPACE_WRAPPER$)' || true)

echo "--- the static binary: cargo build --profile $profile --target $target (in target/static)" >&2
# +crt-static links glibc into the binary. getrandom (rand, bcrypt) looks up libc's getrandom()
# with dlsym, which finds nothing in a static binary, and falls back to reading /dev/random and
# /dev/urandom; the linux_getrandom backend calls getrandom(2) itself, so no /dev is needed.
# Symbols are stripped, as cargo deb would strip the packaged binary.
profile_var=$(tr 'a-z-' 'A-Z_' <<<"$profile")
env RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
  "CARGO_PROFILE_${profile_var}_STRIP=symbols" \
  cargo build --profile "$profile" --locked --target "$target" >&2

linkage=$(ldd "$bin" 2>&1 || true)
if ! grep -Eq 'statically linked|not a dynamic executable' <<<"$linkage"; then
  printf 'static-binary.sh: %s is not static:\n%s\n' "$bin" "$linkage" >&2
  exit 1
fi
echo "$bin"
