#!/usr/bin/env bash
# Rebuilds the committed Spin SDK apps (guest-fixtures/spin-sdk-apps/prebuilt/*.wasm) from source, byte for byte.
#
#   guest-fixtures/spin-sdk-apps/build.sh           build and copy the components into prebuilt/
#   guest-fixtures/spin-sdk-apps/build.sh --check   build into a fresh temporary target dir and fail if the
#                                                   committed files differ from what the sources build to
#
# Environment:
#   KVCONF_SPIN_SDK_APPS_TARGET_DIR   cargo target dir (default: guest-fixtures/spin-sdk-apps/target; with
#                                     --check: a fresh temporary dir, removed afterwards)
#
# The build is reproducible in the same way as guest-fixtures/build.sh's: the same sources, Cargo.lock and
# compiler give the same bytes whatever the checkout path, target dir or cargo home. Paths are remapped so none
# of them reaches the binary, and the compiler that built the committed files is recorded in prebuilt/BUILT-WITH.
set -euo pipefail

# Each app: the name of its file in prebuilt/, the cargo package that builds it, and the target it is built for.
# kv-app-sdk5-wasip1 is the same source as kv-app-sdk5 built as Spin's documentation builds Rust apps, for
# wasm32-wasip1: a core module, which a host componentizes when it loads it (kvhost serve does, as Spin does).
apps=(
  "kv-app-sdk5:kv-app-sdk5:wasm32-wasip2"
  "kv-app-sdk5-wasip1:kv-app-sdk5:wasm32-wasip1"
  "kv-app-sdk7:kv-app-sdk7:wasm32-wasip2"
)
targets="wasm32-wasip2 wasm32-wasip1"

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
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
repo="$(cd "$here/../.." && pwd -P)"
prebuilt="$here/prebuilt"

if $check; then
  if [[ -n "${KVCONF_SPIN_SDK_APPS_TARGET_DIR-}" ]]; then
    target_dir="$KVCONF_SPIN_SDK_APPS_TARGET_DIR"
  else
    # A fresh directory, so nothing left from an earlier build can make the check pass.
    target_dir="$(mktemp -d "${TMPDIR:-/tmp}/kvconf-spin-sdk-apps-check.XXXXXX")"
    trap 'rm -rf "$target_dir"' EXIT
  fi
else
  target_dir="${KVCONF_SPIN_SDK_APPS_TARGET_DIR:-$here/target}"
fi
mkdir -p "$target_dir"
target_dir="$(cd "$target_dir" && pwd -P)"

built_with="$(rustc --version) --target ${targets// / --target }"
if $check && [[ -f "$prebuilt/BUILT-WITH" ]] && [[ "$(cat "$prebuilt/BUILT-WITH")" != "$built_with" ]]; then
  echo "build.sh --check: the committed Spin SDK apps were built with" >&2
  echo "  $(cat "$prebuilt/BUILT-WITH")" >&2
  echo "but this machine has" >&2
  echo "  $built_with" >&2
  echo "Another compiler gives other bytes, so the comparison would prove nothing. Use that compiler, or" >&2
  echo "rebuild with guest-fixtures/spin-sdk-apps/build.sh and commit guest-fixtures/spin-sdk-apps/prebuilt/." >&2
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
  "--remap-path-prefix=$target_dir=/kvconf/guest-fixtures/spin-sdk-apps/target"
)
CARGO_ENCODED_RUSTFLAGS="$(IFS=$'\x1f'; printf '%s' "${flags[*]}")"
export CARGO_ENCODED_RUSTFLAGS
unset RUSTFLAGS
# spin-sdk's build script names the git commit of the directory it is built from in an exported symbol
# (`spin-sdk-commit-<hash>`), found by running `git rev-parse HEAD` there. Built from the registry that is
# `unknown`, unless cargo's home or a vendored copy lies inside a git checkout, whose HEAD would then end up in
# the bytes. No git repository can be found with GIT_DIR naming none, so the symbol is always `unknown`.
export GIT_DIR=/nonexistent/kvconf-no-git

# One cargo invocation per app: cargo unifies the features of shared dependencies over the packages one build
# selects, so building the apps together would make each app's bytes depend on the other's dependencies.
echo "build.sh: building ${#apps[@]} app(s) in $target_dir" >&2
for app in "${apps[@]}"; do
  IFS=: read -r _ package target <<<"$app"
  (cd "$here" && cargo build --release --locked --target "$target" --target-dir "$target_dir" --package "$package")
done

stale=()
for app in "${apps[@]}"; do
  IFS=: read -r name package target <<<"$app"
  output="$target_dir/$target/release/${package//-/_}.wasm"
  committed="$prebuilt/$name.wasm"
  if $check; then
    if ! cmp -s "$output" "$committed"; then
      stale+=("guest-fixtures/spin-sdk-apps/prebuilt/$name.wasm")
    fi
  else
    mkdir -p "$prebuilt"
    cp "$output" "$committed"
    # cargo makes the file executable; the committed files are plain data, whatever the umask.
    chmod 644 "$committed"
    echo "build.sh: $(sha256sum "$committed" | cut -d' ' -f1)  guest-fixtures/spin-sdk-apps/prebuilt/$name.wasm" >&2
  fi
done

if $check; then
  if [[ ${#stale[@]} -gt 0 ]]; then
    echo "build.sh --check: these committed Spin SDK apps differ from what their sources build to:" >&2
    printf '  %s\n' "${stale[@]}" >&2
    echo "Run guest-fixtures/spin-sdk-apps/build.sh and commit guest-fixtures/spin-sdk-apps/prebuilt/." >&2
    exit 1
  fi
  echo "build.sh --check: all ${#apps[@]} committed Spin SDK app(s) match their sources" >&2
else
  printf '%s\n' "$built_with" >"$prebuilt/BUILT-WITH"
fi
