#!/usr/bin/env bash
# Proves the crates kvconf would publish build and work on their own: `cargo package --workspace` (which builds
# every package from its .crate file), then the crate in packaged-consumer/ (a runtime implementer's test binary
# running the suite) built and run outside the repository against the unpacked kvconf and kvhost packages.
#
#   .ci/packaged-consumer.sh
#
# The consumer's target directory is this repository's `target/`, so the dependencies already built are reused.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$repo"

# cargo package verifies each package against the others through a local registry whose packages it unpacks under
# $CARGO_HOME/registry/src/, and it reuses a directory already there for the same name and version: a second run on
# one machine would build the first run's kvconf and kvhost. Remove what an earlier run unpacked (no crates.io
# package of these names is a dependency here).
for crate in kvhost kvconf kvconf-workspace validate-a-host; do
  version="$(cargo pkgid -p "$crate" | sed 's/.*[@#]//')"
  rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$version"
done
# --allow-dirty: the check can run before a change is committed; CI runs it on a clean checkout anyway.
cargo package --workspace --locked --allow-dirty \
  --config 'profile.dev.package."*".opt-level = 2' --config 'profile.dev.package."*".debug = false'

work="$(mktemp -d "${TMPDIR:-/tmp}/kvconf-packaged.XXXXXX")"
trap 'rm -rf "$work"' EXIT
patches=()
for crate in kvhost kvconf; do
  version="$(cargo pkgid -p "$crate" | sed 's/.*[@#]//')"
  tar -xzf "target/package/$crate-$version.crate" -C "$work"
  patches+=(--config "patch.crates-io.$crate.path=\"$work/$crate-$version\"")
  unpacked="$work/$crate-$version"
done
cp -R .ci/packaged-consumer "$work/consumer"
# The versions kvconf's own lock file (packaged with it) pins, so the consumer builds what was tested.
cp "$unpacked/Cargo.lock" "$work/consumer/Cargo.lock"
cd "$work/consumer"
# An in-process user does not build kvhost serve's HTTP stack (kvconf depends on kvhost without `serve`). The
# tree must resolve (set -e stops here if it does not) and name kvhost, so that an empty tree cannot pass.
tree="$(cargo tree "${patches[@]}" --edges normal,build,dev --prefix none)"
if ! grep -q '^kvhost v' <<<"$tree"; then
  echo "packaged-consumer: the consumer's dependency tree does not include kvhost:" >&2
  echo "$tree" >&2
  exit 1
fi
if grep -q '^hyper v' <<<"$tree"; then
  echo "packaged-consumer: the consumer builds hyper; kvhost's serve feature leaked into kvconf's dependencies" >&2
  cargo tree "${patches[@]}" --edges normal,build,dev --invert hyper >&2
  exit 1
fi
output="$(CARGO_TARGET_DIR="$repo/target" cargo test "${patches[@]}" --test kvconf 2>&1)" || {
  echo "$output"
  echo "packaged-consumer: the consumer crate failed against the packaged crates (above)" >&2
  exit 1
}
echo "$output" | tail -n 3
# A smoke test that ran nothing would prove nothing: the summary must count the cases that passed.
passed="$(echo "$output" | sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' | tail -n 1)"
if [[ -z "$passed" || "$passed" -lt 500 ]]; then
  echo "packaged-consumer: expected at least 500 passing trials from the packaged suite, got '${passed:-none}'" >&2
  exit 1
fi
echo "packaged-consumer: the packaged kvconf and kvhost built on their own and passed $passed trials in a consumer crate"
