#!/usr/bin/env bash
# Test strength of the pure modules: cargo-mutants changes each function of the rules (status,
# durations, Link parsing, token decoding, the text-format writer, content-coding negotiation,
# the poller's state transitions, the state file and the keep-alive rules) and checks that a
# unit test fails.
# Needs `cargo install cargo-mutants`. Not part of CI: a whole run takes over an hour on 2 cores.
# It edits the source files while it runs: run it in a clean checkout (a git worktree), not here.
# Usage: bash tests/mutants.sh [extra cargo-mutants flags]; the summary is in mutants.out/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || { echo "needs cargo-mutants: cargo install cargo-mutants --locked" >&2; exit 1; }
files=(
  src/status.rs
  src/duration.rs
  src/okta/link.rs
  src/okta/model.rs
  src/exposition.rs
  src/compression.rs
  src/state.rs
  src/storage.rs
  src/keepalive.rs
)
args=()
for f in "${files[@]}"; do args+=(--file "$f"); done
# Only the library's unit tests: the pure modules are specified there, table by table. In place
# (this checkout's target dir stays warm; the tree is restored after each mutant), and --iterate
# skips what an earlier run already caught, so an interrupted run can be resumed.
cargo mutants "${args[@]}" --in-place --iterate --timeout 120 --cargo-test-arg=--lib "$@"
