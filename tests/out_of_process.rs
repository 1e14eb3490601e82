//! The out-of-process route (`kvconf run --adapter`, `kvconf fuzz --adapter`): the shipped kvhost adapter validates
//! the reference host over HTTP with the same per-case results as in-process, and faulty hosts served
//! out-of-process fail the cases of the statements they break. Generated sequences run through the same session
//! find nothing on kvhost serve and find, and shrink, a served fault; the concurrent histories, one request per
//! operation, pass on kvhost serve and catch a served host whose writes become visible late.

use kvconf::adapter::Adapter;
use kvconf::case::{self, Case};
use kvconf::catalogue::Catalogue;
use kvconf::fuzz::{FuzzConfig, fuzz};
use kvconf::history::{self, HistoryConfig};
use kvconf::interface::Interface;
use kvconf::reference::{Backend, ReferenceHost};
use kvconf::runner::{CaseResult, Runner, Verdict};
use kvconf_workspace::{Fault, assert_small_finding};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

// Generated sequences and concurrent histories out-of-process (`kvconf fuzz --adapter`, and the histories trial of
// `kvconf run --adapter`): the same sequences and histories as in-process, through the adapter's session.

/// The `kvconf` binary of this build, built beside kvhost (`cargo test --workspace` builds both).
fn kvconf_binary() -> PathBuf {
    let kvconf = kvhost_binary().with_file_name("kvconf");
    assert!(
        kvconf.is_file(),
        "{} is missing: run the workspace's tests (`cargo test --workspace`), or `cargo build -p kvconf` first",
        kvconf.display()
    );
    kvconf
}

/// Runs the `kvconf` binary with `args` in the repository (kvhost's adapter finding this build's kvhost).
fn kvconf_output(args: &[&str]) -> std::process::Output {
    std::process::Command::new(kvconf_binary())
        .args(args)
        .env("KVHOST", kvhost_binary())
        .current_dir(repository())
        .output()
        .expect("running kvconf")
}

/// Runs the `kvconf` binary with `args`: success, and everything it printed.
fn kvconf(args: &[&str]) -> (bool, String) {
    let out = kvconf_output(args);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn kvhost_adapter() -> Adapter {
    load(&repository().join("adapters/kvhost.toml"))
        .with_env("KVHOST", &kvhost_binary().to_string_lossy())
}

#[test]
fn fuzzing_kvhost_serve_out_of_process_finds_nothing_on_any_version_and_starts_it_once() {
    let adapter = kvhost_adapter();
    let work = tempfile::tempdir().unwrap();
    let session = adapter.session(work.path());
    let config = FuzzConfig {
        sequences: 50,
        seed: 1,
        ..FuzzConfig::default()
    };
    let start = Instant::now();
    let mut total = (0, 0);
    for interface in adapter.profile.interfaces.clone() {
        let begun = Instant::now();
        let outcome = fuzz(&session, interface, &config, &|_| {});
        assert_eq!(outcome.error, None, "{interface}");
        assert!(
            outcome.finding.is_none(),
            "{interface}/kvhost-serve: {}",
            outcome
                .finding
                .map(|f| f.detail + &f.text)
                .unwrap_or_default()
        );
        assert_eq!(outcome.sequences, 50, "{interface}");
        assert_eq!(outcome.backend, "kvhost-serve");
        eprintln!(
            "{interface}/kvhost-serve: 50 sequences, {} operations in {:.1} s",
            outcome.operations,
            begun.elapsed().as_secs_f64()
        );
        total.0 += outcome.sequences;
        total.1 += outcome.operations;
    }
    // Every generated sequence of every version has the same application configuration: one runtime serves them
    // all, its stores emptied between sequences.
    assert_eq!(
        session.starts(),
        1,
        "the runtime was started more than once"
    );
    let elapsed = start.elapsed().as_secs_f64();
    eprintln!(
        "kvhost serve out-of-process: {} sequences ({} operations) in {elapsed:.1} s, {:.1} sequences/s, {} runtime start(s)",
        total.0,
        total.1,
        total.0 as f64 / elapsed,
        session.starts()
    );
}

/// Fuzzes the served `fault` on `interface` and checks the finding: at most five case-file entries citing
/// `statement`; saved and loaded back as a case file, it fails on the served faulty host and passes on the same
/// binary without the fault.
fn finds_out_of_process(fault: Fault, statement: &str, interface: Interface) {
    let work = tempfile::tempdir().unwrap();
    let adapter = faulty_adapter(work.path(), fault, 10);
    let session = adapter.session(&work.path().join("fuzz"));
    let config = FuzzConfig {
        sequences: 300,
        seed: 1,
        ..FuzzConfig::default()
    };
    let start = Instant::now();
    let outcome = fuzz(&session, interface, &config, &|_| {});
    assert_eq!(outcome.error, None, "{fault:?} on {interface}");
    let Some(finding) = outcome.finding else {
        panic!(
            "300 generated sequences out-of-process on {interface} did not find {fault:?} ({} operations run)",
            outcome.operations
        );
    };
    eprintln!(
        "{fault:?} served, on {interface}: sequence {}, shrunk in {} runs to {} entries, {:.1} s, {} runtime start(s)\n{}",
        finding.sequence,
        finding.shrink_runs,
        finding.generated.entries,
        start.elapsed().as_secs_f64(),
        session.starts(),
        finding.text
    );
    assert_small_finding(
        &finding,
        &format!("{fault:?} served, on {interface}"),
        statement,
    );
    assert!(
        finding
            .text
            .contains(&format!("--adapter {}", adapter.path.display())),
        "the case file does not say how it was found:\n{}",
        finding.text
    );
    drop(session);
    // Saved, and run as a case file out-of-process: it fails on the faulty host, and passes without the fault.
    let saved = work.path().join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    std::fs::write(saved.join("found.toml"), &finding.text).unwrap();
    let cases = case::load_dir(&saved, Catalogue::builtin())
        .unwrap_or_else(|e| panic!("the saved case does not load: {e:?}\n{}", finding.text));
    let results = adapter.run(&cases, &[interface], &work.path().join("rerun"), &|_| {});
    assert_eq!(results.len(), 1);
    assert!(
        matches!(results[0].verdict, Verdict::Fail(_)),
        "the saved case passes on the served {fault:?}:\n{}",
        finding.text
    );
    let control = faulty_adapter(work.path(), Fault::None, 10);
    let results = control.run(&cases, &[interface], &work.path().join("control"), &|_| {});
    assert_eq!(
        results[0].verdict,
        Verdict::Pass,
        "the saved case fails on the served fault-free host:\n{}",
        finding.text
    );
}

#[test]
fn out_of_process_fuzzing_finds_a_served_listing_that_drops_a_key_in_five_operations() {
    finds_out_of_process(Fault::ListingDropsAKey, "KEYS-EXACT", Interface::V2);
}

#[test]
fn out_of_process_fuzzing_finds_served_labels_that_share_data_in_five_operations() {
    finds_out_of_process(Fault::LabelsShareData, "ISOLATION-LABEL", Interface::V2);
}

#[test]
fn kvconf_fuzz_adapter_saves_what_it_finds_and_kvconf_run_adapter_fails_the_saved_case() {
    let work = tempfile::tempdir().unwrap();
    let adapter = faulty_adapter(work.path(), Fault::ListingDropsAKey, 10);
    let path = adapter.path.to_string_lossy().into_owned();
    let saved = work.path().join("saved");
    let (ok, out) = kvconf(&[
        "fuzz",
        "--adapter",
        &path,
        "--interface",
        "v2",
        "--sequences",
        "300",
        "--histories",
        "1",
        "--save",
        &saved.to_string_lossy(),
        "--no-progress",
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("v2/faulty-ListingDropsAKey"), "{out}");
    assert!(out.contains("DIFFERENCE"), "{out}");
    assert!(
        out.contains(&format!(
            "reproduce: kvconf fuzz --interface v2 --adapter {path}"
        )),
        "{out}"
    );
    assert!(out.contains("the runtime started"), "{out}");
    let files: Vec<_> = std::fs::read_dir(&saved).unwrap().collect();
    assert_eq!(files.len(), 1, "{out}");
    let (ok, out) = kvconf(&[
        "run",
        "--adapter",
        &path,
        "--cases",
        &saved.to_string_lossy(),
        "--histories",
        "0",
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("0 passed, 1 failed"), "{out}");
    // The reference host's flags are refused with --adapter, as for `run`.
    for flags in [
        &["--backend", "memory"][..],
        &["--profile", "unbounded"],
        &["--timeout", "3"],
    ] {
        let mut args = vec!["fuzz", "--adapter", &path];
        args.extend(flags);
        let (ok, out) = kvconf(&args);
        assert!(!ok && out.contains("with --adapter"), "{flags:?}: {out}");
    }
}

#[test]
fn with_an_adapter_the_concurrent_histories_run_and_kvhost_serve_passes_them() {
    let adapter = kvhost_adapter();
    let work = tempfile::tempdir().unwrap();
    let session = adapter.session(work.path());
    let config = HistoryConfig::default();
    for interface in adapter.profile.interfaces.clone() {
        let start = Instant::now();
        let result = history::check_histories(&session, interface, 7, 4, &config);
        assert_eq!(result.id, history::TRIAL_ID);
        assert_eq!(result.backend, "kvhost-serve");
        assert_eq!(
            result.verdict,
            Verdict::Pass,
            "{interface}: {}",
            result.transcript
        );
        eprintln!(
            "kvhost serve through {interface}: 4 histories in {:.2} s",
            start.elapsed().as_secs_f64()
        );
    }
    // The trial is in `kvconf run --adapter`'s report.
    let out = kvconf_output(&[
        "run",
        "--adapter",
        "adapters/kvhost.toml",
        "--interface",
        "v2",
        "--filter",
        "get-missing",
        "--histories",
        "2",
        "--format",
        "json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let trial = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == history::TRIAL_ID)
        .unwrap_or_else(|| panic!("no histories trial: {stdout}"));
    assert_eq!(trial["outcome"], "pass", "{trial}");
    assert_eq!(trial["backend"], "kvhost-serve", "{trial}");
}

#[test]
fn a_served_host_whose_writes_become_visible_late_fails_the_out_of_process_histories() {
    let work = tempfile::tempdir().unwrap();
    let config = HistoryConfig::default();
    let late = faulty_adapter(work.path(), Fault::DelayedVisibility, 10);
    let session = late.session(&work.path().join("late"));
    // The first history runs on fresh stores: what it breaks is the late write's doing alone.
    let run = history::run_history(&session, Interface::V2, 7, 0, &config);
    let violation = run
        .violation
        .expect("a host whose writes become visible 200 ms late passes an out-of-process history");
    assert_eq!(violation.statement, history::VISIBLE, "{violation}");
    assert!(
        violation.detail.contains("faulty-DelayedVisibility"),
        "{violation}"
    );
    eprintln!("{violation}");
    drop(session);
    // The same binary without the fault passes the same histories.
    let control = faulty_adapter(work.path(), Fault::None, 10);
    let session = control.session(&work.path().join("control"));
    let checked = history::run_histories(&session, Interface::V2, 7, 4, &config, &|_| {});
    assert!(checked.violation.is_none(), "{:?}", checked.violation);
    assert_eq!(checked.histories, 4);
}

#[test]
fn a_served_swap_that_checks_only_presence_fails_the_out_of_process_histories() {
    // Out-of-process a cas lives in one request (cas.new, current, swap), and two such requests at once may
    // both swap from one value.
    let work = tempfile::tempdir().unwrap();
    let config = HistoryConfig::default();
    let faulty = faulty_adapter(work.path(), Fault::SwapChecksPresenceOnly, 10);
    let session = faulty.session(&work.path().join("presence"));
    let checked =
        history::run_histories(&session, Interface::WasiKeyvalue, 7, 25, &config, &|_| {});
    let violation = checked
        .violation
        .expect("a served swap that checks only presence passes 25 out-of-process histories");
    assert_eq!(violation.statement, history::ATOMIC, "{violation}");
    assert!(
        violation
            .detail
            .contains("both swapped from a cas that read the same value"),
        "{violation}"
    );
    eprintln!("caught after {} histories: {violation}", checked.histories);
}
