#!/usr/bin/env bash
# Rebuilds the committed guest fixtures (guest-fixtures/prebuilt/*.wasm) from source, byte for byte.
#
#   guest-fixtures/build.sh           build and copy the components into guest-fixtures/prebuilt/
#   guest-fixtures/build.sh --check   build into a fresh temporary target dir and fail if the committed
#                                     files differ from what the sources build to
#
# Environment:
#   KVCONF_GUEST_TARGET_DIR   cargo target dir (default: guest-fixtures/target; with --check: a fresh
#                             temporary dir, removed afterwards)
#
# The build is reproducible: the same sources, Cargo.lock and compiler give the same bytes whatever the
# checkout path, target dir or cargo home. Paths are remapped so none of them reaches the binary, and the
# compiler that built the committed files is recorded in prebuilt/BUILT-WITH, because another compiler
# version gives other bytes and a comparison across compilers would prove nothing.
set -euo pipefail

target=wasm32-wasip2

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

check=false
case "${1-}" in
  "") ;;
  --check) check=true ;;
  -h | --help) usage; exit 0 ;;
  *) echo "build.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
esac
if [[ $# -gt 1 ]]; then
  echo "build.sh: expected at most one argument" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd "$here/.." && pwd -P)"
prebuilt="$here/prebuilt"

# Each version's driver: the directory `driver-<name>/`, the package `kvconf-driver-<name>`, built twice, into
# prebuilt/driver-<name>.wasm as it is and into prebuilt/http-driver-<name>.wasm with its `http` feature (the
# Spin HTTP component). The drivers are the workspace's members besides `common` (Cargo.toml), so a new driver is
# a new directory and nothing here changes.
drivers=()
for manifest in "$here"/driver-*/Cargo.toml; do
  drivers+=("$(basename "$(dirname "$manifest")")")
done

if $check; then
  if [[ -n "${KVCONF_GUEST_TARGET_DIR-}" ]]; then
    target_dir="$KVCONF_GUEST_TARGET_DIR"
  else
    # A fresh directory, so nothing left from an earlier build can make the check pass.
    target_dir="$(mktemp -d "${TMPDIR:-/tmp}/kvconf-guest-check.XXXXXX")"
    trap 'rm -rf "$target_dir"' EXIT
  fi
else
  target_dir="${KVCONF_GUEST_TARGET_DIR:-$here/target}"
fi
mkdir -p "$target_dir"
target_dir="$(cd "$target_dir" && pwd -P)"

built_with="$(rustc --version) --target $target"
if $check && [[ -f "$prebuilt/BUILT-WITH" ]] && [[ "$(cat "$prebuilt/BUILT-WITH")" != "$built_with" ]]; then
  echo "build.sh --check: the committed fixtures were built with" >&2
  echo "  $(cat "$prebuilt/BUILT-WITH")" >&2
  echo "but this machine has" >&2
  echo "  $built_with" >&2
  echo "Another compiler gives other bytes, so the comparison would prove nothing. Use that compiler, or" >&2
  echo "rebuild with guest-fixtures/build.sh and commit guest-fixtures/prebuilt/." >&2
  exit 1
fi

cargo_home="$(cd "${CARGO_HOME:-$HOME/.cargo}" 2>/dev/null && pwd -P || echo "${CARGO_HOME:-$HOME/.cargo}")"
sysroot="$(rustc --print sysroot)"

# Every absolute path the compiler sees is mapped to a fixed name. The most specific prefix comes last:
# rustc applies the last matching --remap-path-prefix, and the target dir may lie inside the checkout.
# The flags go through CARGO_ENCODED_RUSTFLAGS (separated by 0x1f) so that paths with spaces survive, and
# so that no RUSTFLAGS or build.rustflags from the caller's environment or cargo config changes the bytes.
flags=(
  "-Cdebuginfo=0"
  "--remap-path-prefix=$sysroot=/rust/toolchain"
  "--remap-path-prefix=$cargo_home=/cargo"
  "--remap-path-prefix=$repo=/kvconf"
  "--remap-path-prefix=$target_dir=/kvconf/guest-fixtures/target"
)
CARGO_ENCODED_RUSTFLAGS="$(IFS=$'\x1f'; printf '%s' "${flags[*]}")"
export CARGO_ENCODED_RUSTFLAGS
unset RUSTFLAGS

# Two cargo invocations, one per form: cargo unifies features across the packages one invocation builds, and
# each form's packages must be built with the same features whether one of them is built or all.
build() { # build <the form's prefix of a fixture's name: "" in-process, "http-" the HTTP component>
  local prefix="$1"
  local packages=() features=()
  for driver in "${drivers[@]}"; do
    packages+=(--package "kvconf-$driver")
    if [[ "$prefix" == http- ]]; then
      features+=("kvconf-$driver/http")
    fi
  done
  if [[ ${#features[@]} -gt 0 ]]; then
    packages+=(--features "$(IFS=,; echo "${features[*]}")")
  fi
  echo "build.sh: building ${#drivers[@]} ${prefix}driver fixture(s) for $target in $target_dir" >&2
  (cd "$here" && cargo build --release --locked --target "$target" --target-dir "$target_dir" "${packages[@]}")
  for driver in "${drivers[@]}"; do
    local output="$target_dir/$target/release/kvconf_${driver//-/_}.wasm"
    local name="$prefix$driver"
    if $check; then
      if ! cmp -s "$output" "$prebuilt/$name.wasm"; then
        stale+=("guest-fixtures/prebuilt/$name.wasm")
      fi
    else
      mkdir -p "$prebuilt"
      cp "$output" "$prebuilt/$name.wasm"
      echo "build.sh: $(sha256sum "$prebuilt/$name.wasm" | cut -d' ' -f1)  guest-fixtures/prebuilt/$name.wasm" >&2
    fi
  done
}

stale=()
build ""
build http-

if $check; then
  if [[ ${#stale[@]} -gt 0 ]]; then
    echo "build.sh --check: these committed fixtures differ from what their sources build to:" >&2
    printf '  %s\n' "${stale[@]}" >&2
    echo "Run guest-fixtures/build.sh and commit guest-fixtures/prebuilt/." >&2
    exit 1
  fi
  echo "build.sh --check: all $((2 * ${#drivers[@]})) committed fixture(s) match their sources" >&2
else
  printf '%s\n' "$built_with" >"$prebuilt/BUILT-WITH"
fi
