//! The committed guest fixtures are exactly what their sources build, and the suite runs every one of them.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_fixtures_match_what_their_sources_build() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"))
        .unwrap_or(false);
    assert!(
        installed,
        "this check rebuilds the guest fixtures and needs the wasm32-wasip2 target: run `rustup target add wasm32-wasip2`"
    );
    let output = Command::new("bash")
        .arg(root().join("guest-fixtures/build.sh"))
        .arg("--check")
        .output()
        .expect("running guest-fixtures/build.sh --check");
    assert!(
        output.status.success(),
        "guest-fixtures/build.sh --check failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The crate every driver shares keeps its promises (its unit tests, run natively: it is plain Rust besides the
/// generated script types).
#[test]
fn the_drivers_shared_crate_passes_its_tests() {
    let output = Command::new("cargo")
        .args(["test", "--locked", "--package", "kvconf-driver-common"])
        .current_dir(root().join("guest-fixtures"))
        .output()
        .expect("running cargo test in guest-fixtures/");
    assert!(
        output.status.success(),
        "cargo test -p kvconf-driver-common (in guest-fixtures/) failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_prebuilt_fixture_is_one_the_suite_runs() {
    let dir = root().join("guest-fixtures/prebuilt");
    let mut prebuilt: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".wasm").map(str::to_string)
        })
        .collect();
    prebuilt.sort();
    let mut known: Vec<String> = kvconf::driver::fixtures()
        .map(|f| f.name.to_string())
        .chain(kvconf::adapter::http_fixtures().map(|f| f.name.to_string()))
        .collect();
    known.sort();
    assert_eq!(
        prebuilt, known,
        "guest-fixtures/prebuilt/ and kvconf::driver::fixtures() + kvconf::adapter::http_fixtures() disagree"
    );
}
