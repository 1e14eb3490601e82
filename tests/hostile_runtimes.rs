//! The out-of-process route against runtimes that misbehave over HTTP (`kvconf-hostile-runtime`): garbage, a
//! truncated body, endless bodies, no answer, an exit part-way, a port that answers before the runtime is ready,
//! and a runtime whose child would outlive it. Each run completes (within the adapter's timeouts), every case it
//! reaches fails with a reason naming what happened, and no process of the runtime is left running.

use kvconf::adapter::Adapter;
use kvconf::case::{self, Case};
use kvconf::catalogue::Catalogue;
use kvconf::interface::Interface;
use kvconf::reference::ReferenceHost;
use kvconf::runner::Verdict;
use std::time::Instant;

/// The cases each run: a few, since every one costs a restart of the runtime and, for some modes, a timeout.
fn cases() -> Vec<Case> {
    let all = case::load_dir(&case::default_dir(), Catalogue::builtin()).unwrap();
    let picked: Vec<Case> = all
        .into_iter()
        .filter(|c| ["get-missing/empty-store", "delete-absent/empty-store"].contains(&c.id()))
        .collect();
    assert_eq!(picked.len(), 2);
    picked
}

/// Whether a process other than a zombie has `needle` in its command line.
fn running(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let dir = entry.path();
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(dir.join("stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        });
        if cmdline.contains(needle) && !zombie {
            found.push(format!("{}: {cmdline}", dir.display()));
        }
    }
    found
}

/// Runs the cases through a hostile runtime in `mode`; checks that each failed with a reason containing one of
/// `reasons`, and that nothing of the runtime runs afterwards.
fn run(mode: &str, reasons: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let pid_file = work.path().join("child.pid");
    let adapter_path = work.path().join(format!("{mode}.toml"));
    std::fs::write(
        &adapter_path,
        format!(
            r#"name = "hostile-{mode}"
profile = "sip010"
command = "exec {bin} --mode {mode} --listen 127.0.0.1:{{port}} --pid-file {pid}"
start-timeout = 10
request-timeout = 2
stop-timeout = 1
"#,
            bin = env!("CARGO_BIN_EXE_kvconf-hostile-runtime"),
            pid = pid_file.display(),
        ),
    )
    .unwrap();
    let adapter = Adapter::load(&adapter_path, ReferenceHost::profile_from).unwrap();
    let start = Instant::now();
    let results = adapter.run(
        &cases(),
        &[Interface::V2],
        &work.path().join("run"),
        &|_| {},
    );
    eprintln!(
        "{mode}: {} results in {:.1} s",
        results.len(),
        start.elapsed().as_secs_f64()
    );
    assert_eq!(results.len(), 2);
    for result in &results {
        let Verdict::Fail(detail) = &result.verdict else {
            panic!("{mode}: {} did not fail: {:?}", result.id, result.verdict);
        };
        assert!(
            reasons.iter().any(|r| detail.contains(r)),
            "{mode}: {} failed for another reason than {reasons:?}:\n{detail}",
            result.id
        );
    }
    drop(adapter);
    let marker = work.path().display().to_string();
    let left = running(&marker);
    assert!(left.is_empty(), "{mode}: still running: {left:?}");
    if let Ok(pid) = std::fs::read_to_string(&pid_file) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        let alive = stat.is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        });
        assert!(!alive, "{mode}: the runtime's child {pid} outlived it");
    }
}

#[test]
fn a_runtime_answering_garbage_fails_the_cases_it_reaches() {
    run("garbage", &["not an outcome"]);
}

#[test]
fn a_runtime_breaking_off_its_answer_fails_the_cases_it_reaches() {
    run(
        "truncated",
        &["cut off", "in the middle of a line", "ended after"],
    );
}

#[test]
fn a_runtime_answering_without_end_is_stopped_reading() {
    run("endless-lines", &["more outcomes than"]);
    run("endless-line", &["a line of more than"]);
}

#[test]
fn a_runtime_that_never_answers_times_out() {
    run("silent", &["timed out"]);
}

#[test]
fn a_runtime_exiting_part_way_fails_the_case_naming_its_exit() {
    run("exit", &["exited"]);
}

#[test]
fn a_runtime_answering_before_it_is_ready_is_waited_for() {
    // Not "answered 503": kvconf waited for the runtime to be ready, and then it answered garbage.
    run("not-ready", &["not an outcome"]);
}

#[test]
fn a_runtime_whose_child_would_outlive_it_leaves_nothing_running() {
    run("forks", &["timed out"]);
}
