//! The out-of-process route (`kvconf run --adapter`): the shipped kvhost adapter validates the reference host over
//! HTTP with the same per-case results as in-process, and faulty hosts served out-of-process fail the cases of
//! the statements they break.

use kvconf::adapter::Adapter;
use kvconf::case::{self, Case};
use kvconf::catalogue::Catalogue;
use kvconf::interface::Interface;
use kvconf::reference::{Backend, ReferenceHost};
use kvconf::runner::{CaseResult, Runner, Verdict};
use kvconf_workspace::Fault;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        case::load_dir(&case::default_dir(), Catalogue::builtin())
            .expect("the case files are valid")
    })
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The kvhost binary of this build: `cargo test --workspace` builds it (kvhost's own tests run it) into the
/// directory this test's binary sits below.
fn kvhost_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let kvhost = dir.join("kvhost");
    assert!(
        kvhost.is_file(),
        "{} is missing: run the workspace's tests (`cargo test --workspace`), or `cargo build -p kvhost` first",
        kvhost.display()
    );
    kvhost
}

fn load(path: &Path) -> Adapter {
    Adapter::load(path, ReferenceHost::profile_from).expect("the adapter file is valid")
}

fn outcome(result: &CaseResult) -> &'static str {
    match result.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail(_) => "fail",
        Verdict::Skip(_) => "skip",
    }
}

fn failures(results: &[CaseResult]) -> String {
    results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail(_)))
        .map(|r| format!("{}: {:?}\n{}", r.trial_name(), r.verdict, r.transcript))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_shipped_kvhost_adapter_validates_the_reference_host_as_in_process() {
    let adapter = load(&repository().join("adapters/kvhost.toml"))
        .with_env("KVHOST", &kvhost_binary().to_string_lossy());
    let interfaces = adapter.profile.interfaces.clone();
    let work = tempfile::tempdir().unwrap();
    let outside = adapter.run(cases(), &interfaces, work.path(), &|_| {});
    let failed = failures(&outside);
    assert!(failed.is_empty(), "out-of-process failures:\n{failed}");

    let inside = Runner::new(
        ReferenceHost::new(Backend::Sqlite, adapter.profile.clone()),
        work.path().join("in-process"),
        Duration::from_secs(30),
    )
    .run_all(cases(), &interfaces, 2);
    let by_trial = |results: &[CaseResult]| -> BTreeMap<(Interface, String), &'static str> {
        results
            .iter()
            .map(|r| ((r.interface, r.id.clone()), outcome(r)))
            .collect()
    };
    let (outside, inside) = (by_trial(&outside), by_trial(&inside));
    assert_eq!(
        outside.len(),
        inside.len(),
        "both runs cover the same trials"
    );
    let differing: Vec<String> = outside
        .iter()
        .filter(|(trial, result)| inside.get(*trial) != Some(*result))
        .map(|(trial, result)| {
            format!(
                "{trial:?}: out-of-process {result}, in-process {:?}",
                inside.get(trial)
            )
        })
        .collect();
    assert!(
        differing.is_empty(),
        "per-case results differ:\n{}",
        differing.join("\n")
    );
    let passed = outside.values().filter(|r| **r == "pass").count();
    let skipped = outside.values().filter(|r| **r == "skip").count();
    // Every version the adapter's profile claims, and the skips only the cases for claims kvhost does not make
    // (no limit, no-such-store at open, a trap for a bad v1 handle, not durable): 574 and 30 when written.
    assert!(passed >= 570, "only {passed} trials passed out-of-process");
    assert!(
        skipped <= 30,
        "{skipped} trials were skipped out-of-process"
    );
}

/// An adapter serving `fault` with the `kvconf-faulty-host` binary.
fn faulty_adapter(dir: &Path, fault: Fault, request_timeout: u64) -> Adapter {
    let path = dir.join(format!("{fault:?}.toml"));
    let text = format!(
        r#"name = "faulty-{fault:?}"
profile = "sip010"
command = "exec {bin} --fault {fault:?} --listen 127.0.0.1:{{port}} --runtime-config-file {{runtime_config}} {{manifest}}"
request-timeout = {request_timeout}
stop-timeout = 2
"#,
        bin = env!("CARGO_BIN_EXE_kvconf-faulty-host"),
    );
    std::fs::write(&path, text).unwrap();
    load(&path)
}

/// The cases that cite `statement`.
fn citing(statement: &str) -> Vec<Case> {
    cases()
        .iter()
        .filter(|c| c.file.statements.iter().any(|s| s == statement))
        .cloned()
        .collect()
}

#[test]
fn faulty_hosts_served_out_of_process_fail_the_cases_of_the_statement_they_break() {
    let work = tempfile::tempdir().unwrap();
    let mut checked = Vec::new();
    let faults = Fault::BACKEND_FAULTS.iter().copied().chain([(
        Fault::ExistsPanics,
        "EXISTS",
        Interface::V2,
    )]);
    for (fault, statement, interface) in faults {
        let cases = citing(statement);
        assert!(!cases.is_empty(), "no case cites {statement}");
        let adapter = faulty_adapter(work.path(), fault, 10);
        let results = adapter.run(
            &cases,
            &[interface],
            &work.path().join(format!("{fault:?}")),
            &|_| {},
        );
        let failed = results
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Fail(_)))
            .count();
        assert!(
            failed > 0,
            "{fault:?} served out-of-process passes every {statement} case on {interface}: {:?}",
            results
                .iter()
                .map(|r| (r.id.as_str(), outcome(r)))
                .collect::<Vec<_>>()
        );
        // The same binary with no fault passes the same cases: the failure is the fault's.
        let control = faulty_adapter(work.path(), Fault::None, 10);
        let results = control.run(&cases, &[interface], &work.path().join("control"), &|_| {});
        let failed_control = failures(&results);
        assert!(
            failed_control.is_empty(),
            "the fault-free host fails:\n{failed_control}"
        );
        checked.push(format!(
            "{fault:?}: {failed} {statement} case(s) failed on {interface}"
        ));
    }
    assert!(checked.len() >= 3);
    eprintln!("{}", checked.join("\n"));
}

#[test]
fn a_hung_host_fails_its_case_and_the_run_goes_on() {
    let work = tempfile::tempdir().unwrap();
    let adapter = faulty_adapter(work.path(), Fault::ExistsHangs, 2);
    let cases = citing("EXISTS");
    let results = adapter.run(&cases, &[Interface::V2], work.path(), &|_| {});
    let hung: Vec<&CaseResult> = results
        .iter()
        .filter(|r| matches!(&r.verdict, Verdict::Fail(d) if d.contains("timed out")))
        .collect();
    assert!(
        !hung.is_empty(),
        "no case timed out: {}",
        failures(&results)
    );
    assert_eq!(
        results.len(),
        adapter.trials(&cases, &[Interface::V2]),
        "every trial has a result"
    );
}
