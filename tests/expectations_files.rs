//! Every committed expectations file (`expectations/*.toml`) names only trials that exist: a case that is renamed or
//! removed, or stops running on an interface, forces the files that list it to be updated, even for hosts CI does
//! not run (Spin).

use kvconf::adapter::Adapter;
use kvconf::case;
use kvconf::catalogue::Catalogue;
use kvconf::expectations::Expectations;
use kvconf::reference::ReferenceHost;
use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The host whose trials each file lists, as the trial names spell it: an adapter's `name`, or the backend name of
/// the test that runs the host in-process.
fn host_of(file: &Path) -> String {
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let adapter = |name: &str| {
        Adapter::load(
            &repository().join("adapters").join(name),
            ReferenceHost::profile_from,
        )
        .expect("the adapter file is valid")
        .name
    };
    match stem {
        // tests/wasmtime_wasi_keyvalue.rs's BACKEND.
        "wasmtime-wasi-keyvalue" => "wasmtime-in-memory".to_string(),
        "spin-sqlite" => adapter("spin.toml"),
        "spin-redis" => adapter("spin-redis.toml"),
        other => panic!(
            "expectations/{other}.toml: this test does not know which host it is for; add it to host_of"
        ),
    }
}

#[test]
fn every_expectations_file_names_only_trials_that_exist() {
    let cases = case::load_dir(&case::default_dir(), Catalogue::builtin())
        .expect("the case files are valid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(repository().join("expectations"))
        .expect("expectations/ exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "expectations/ holds no file");
    let mut problems = Vec::new();
    for file in &files {
        let host = host_of(file);
        match Expectations::load(file, &cases, &[host.as_str()]) {
            Ok(loaded) => assert!(
                !loaded.entries.is_empty(),
                "{} lists nothing: remove it",
                file.display()
            ),
            Err(e) => problems.push(e.to_string()),
        }
    }
    assert!(
        problems.is_empty(),
        "expectations files that no longer match the cases (update them, e.g. with --bless):\n{}",
        problems.join("\n")
    );
}
