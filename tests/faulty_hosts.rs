//! The self-test: the suite catches broken hosts. Each faulty host is a correct host with one deliberate
//! fault, plugged in the way a user's host would be; each must fail at least one case that cites the
//! statement it breaks, while the same plug with no fault fails none.

use kvconf::case::{self, Case};
use kvconf::catalogue::Catalogue;
use kvconf::host::HostUnderTest;
use kvconf::interface::Interface;
use kvconf::profile::{Profile, WasiPaging};
use kvconf::reference::{Backend, ReferenceHost};
use kvconf::runner::{CaseResult, Runner, Verdict};
use kvconf_workspace::{
    ClaimingHost, Fault, falsely_fresh_host, faulty_host, future_lies_host, handle_reusing_host,
    trapping_host,
};
use std::sync::OnceLock;
use std::time::Duration;

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        case::load_dir(&case::default_dir(), Catalogue::builtin())
            .expect("the case files are valid")
    })
}

/// Runs every case of `interface` against `host` and returns the results.
fn run_on<H: HostUnderTest>(host: H, interface: Interface, timeout: Duration) -> Vec<CaseResult> {
    let work = tempfile::tempdir().unwrap();
    Runner::new(host, work.path().to_path_buf(), timeout).run_all(cases(), &[interface], 4)
}

/// Runs every v2 case against `host`.
fn run_suite<H: HostUnderTest>(host: H, timeout: Duration) -> Vec<CaseResult> {
    run_on(host, Interface::V2, timeout)
}

fn failed(results: &[CaseResult]) -> Vec<&CaseResult> {
    results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail(_)))
        .collect()
}

fn passed(results: &[CaseResult]) -> usize {
    results
        .iter()
        .filter(|r| r.verdict == Verdict::Pass)
        .count()
}

fn names(results: &[&CaseResult]) -> String {
    results
        .iter()
        .map(|r| r.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn the_correct_host_through_the_same_plug_fails_no_case() {
    let results = run_suite(faulty_host(Fault::None), TIMEOUT);
    let failures = failed(&results);
    let details: Vec<String> = failures
        .iter()
        .map(|r| format!("{}: {:?}", r.id, r.verdict))
        .collect();
    assert!(
        failures.is_empty(),
        "the fault-free plug fails:\n{}",
        details.join("\n")
    );
    assert!(
        passed(&results) >= 60,
        "only {} cases passed",
        passed(&results)
    );
}

#[test]
fn the_reference_host_fails_no_case_on_either_backend() {
    for backend in [Backend::Memory, Backend::Sqlite] {
        let host = ReferenceHost::new(backend, ReferenceHost::sip010_profile());
        let work = tempfile::tempdir().unwrap();
        let results = Runner::new(host, work.path().to_path_buf(), TIMEOUT).run_all(
            cases(),
            &Interface::RUNNABLE,
            4,
        );
        assert!(
            failed(&results).is_empty(),
            "{backend:?} fails {}",
            names(&failed(&results))
        );
        assert!(passed(&results) >= 60);
    }
}

#[test]
fn every_backend_fault_fails_a_case_citing_the_statement_it_breaks() {
    for (fault, statement, interface) in Fault::BACKEND_FAULTS {
        let results = run_on(faulty_host(fault), interface, TIMEOUT);
        let failures = failed(&results);
        assert!(
            failures
                .iter()
                .any(|r| r.statements.iter().any(|s| s == statement)),
            "{fault:?} breaks {statement} on {interface}, but the cases failing are only [{}]",
            names(&failures)
        );
        assert!(
            passed(&results) > 0,
            "{fault:?} failed every case: the fault is not isolated"
        );
    }
}

fn assert_fails_some_with(results: &[CaseResult], reason: &str) {
    assert_fails_some_on(results, reason, Interface::V2)
}

fn assert_fails_some_on(results: &[CaseResult], reason: &str, interface: Interface) {
    let failures = failed(results);
    assert!(!failures.is_empty(), "no case failed");
    for f in &failures {
        let Verdict::Fail(detail) = &f.verdict else {
            unreachable!()
        };
        assert!(
            detail.contains(reason),
            "{} failed for another reason:\n{detail}",
            f.id
        );
    }
    assert!(
        passed(results) > 0,
        "every case failed: the run did not go on past the fault"
    );
    let catalogue = Catalogue::builtin();
    let v2_cases = cases()
        .iter()
        .filter(|c| c.interfaces(catalogue).contains(&interface))
        .count();
    assert_eq!(results.len(), v2_cases, "the run did not complete");
}

#[test]
fn a_host_that_panics_fails_those_cases_and_the_run_goes_on() {
    let results = run_suite(faulty_host(Fault::ExistsPanics), TIMEOUT);
    assert_fails_some_with(&results, "panicked");
}

#[test]
fn a_host_that_traps_fails_those_cases_and_the_run_goes_on() {
    let results = run_suite(trapping_host(), TIMEOUT);
    assert_fails_some_with(&results, "deliberate host fault in exists");
}

#[test]
fn a_host_that_hangs_fails_those_cases_after_the_timeout_and_the_run_goes_on() {
    let results = run_suite(faulty_host(Fault::ExistsHangs), Duration::from_secs(2));
    assert_fails_some_with(&results, "timed out after 2.0 s");
}

#[test]
fn a_v3_host_that_hangs_inside_its_key_stream_fails_those_cases_after_the_timeout_and_the_run_goes_on()
 {
    let results = run_on(
        faulty_host(Fault::ListingHangs),
        Interface::V3,
        Duration::from_secs(1),
    );
    assert_fails_some_on(&results, "timed out after 1.0 s", Interface::V3);
}

#[test]
fn a_wasi_host_that_hangs_inside_a_batch_fails_those_cases_after_the_timeout_and_the_run_goes_on() {
    let results = run_on(
        faulty_host(Fault::GetManyHangs),
        Interface::WasiKeyvalue,
        Duration::from_secs(1),
    );
    assert_fails_some_on(&results, "timed out after 1.0 s", Interface::WasiKeyvalue);
}

#[test]
fn a_v3_host_that_panics_inside_its_key_stream_fails_those_cases_and_the_run_goes_on() {
    let results = run_on(faulty_host(Fault::ListingPanics), Interface::V3, TIMEOUT);
    assert_fails_some_on(&results, "panicked", Interface::V3);
}

#[test]
fn a_wasi_host_that_panics_in_increment_fails_those_cases_and_the_run_goes_on() {
    let results = run_on(
        faulty_host(Fault::IncrementPanicsOnText),
        Interface::WasiKeyvalue,
        TIMEOUT,
    );
    let failures = failed(&results);
    assert!(
        failures
            .iter()
            .any(|r| matches!(&r.verdict, Verdict::Fail(d) if d.contains("panicked")))
    );
    assert!(passed(&results) > 0);
}

/// A failing case's detail (empty for any other verdict).
fn detail(result: &CaseResult) -> &str {
    match &result.verdict {
        Verdict::Fail(detail) => detail,
        _ => "",
    }
}

/// What the host answered at each mismatched operation of a failing case, as its detail shows it.
fn actuals(result: &CaseResult) -> Vec<&str> {
    detail(result)
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("actual:"))
        .map(str::trim)
        .collect()
}

#[test]
fn a_v3_host_whose_future_says_ok_after_a_failed_listing_fails_a_keys_v3_stream_case() {
    // The backend fails every listing after its first page; the lying host ends the stream there, as it
    // should, but resolves the future `ok`, so the guest sees a short listing reported as complete.
    let lying = run_on(future_lies_host(), Interface::V3, TIMEOUT);
    let lying_failures = failed(&lying);
    let stream_failures: Vec<&CaseResult> = lying_failures
        .iter()
        .copied()
        .filter(|r| r.statements.iter().any(|s| s == "KEYS-V3-STREAM"))
        .collect();
    assert!(
        !stream_failures.is_empty(),
        "the lying future fails no KEYS-V3-STREAM case; the cases failing are only [{}]",
        names(&lying_failures)
    );
    assert!(
        passed(&lying) > 0,
        "the lying host failed every v3 case: the fault is not isolated"
    );
    for f in &stream_failures {
        let actual = actuals(f);
        assert!(
            actual.iter().any(|a| a.starts_with("keys "))
                && !actual.iter().any(|a| a.starts_with("error")),
            "{} should fail on a short listing reported as complete, not an error:\n{}",
            f.id,
            detail(f)
        );
    }

    // The same backend under kvhost's honest binding fails the same cases, but on the error the future
    // carries: so the lying host's failures above are the lie caught, not only the backend's failure.
    let honest = run_on(
        faulty_host(Fault::ListingFailsAfterFirstPage),
        Interface::V3,
        TIMEOUT,
    );
    assert!(passed(&honest) > 0);
    for f in &stream_failures {
        let same = honest
            .iter()
            .find(|r| r.id == f.id)
            .unwrap_or_else(|| panic!("the honest run has no case {}", f.id));
        assert!(
            actuals(same).iter().any(|a| a.starts_with("error other")),
            "under the honest binding {} should fail on the listing's error:\n{:?}",
            f.id,
            same.verdict
        );
    }
}

/// The cases citing `statement`, run on `interface` against `host`.
fn run_citing<H: HostUnderTest>(host: H, statement: &str, interface: Interface) -> Vec<CaseResult> {
    let citing: Vec<Case> = cases()
        .iter()
        .filter(|c| c.file.statements.iter().any(|s| s == statement))
        .cloned()
        .collect();
    let work = tempfile::tempdir().unwrap();
    Runner::new(host, work.path().to_path_buf(), TIMEOUT).run_all(&citing, &[interface], 2)
}

#[test]
fn a_false_durability_claim_fails_either_way() {
    let profile = ReferenceHost::sip010_profile();
    // In memory, claiming its stores survive a restart.
    let memory = ReferenceHost::new(Backend::Memory, profile.clone());
    let claims_durable = Profile {
        durable: true,
        ..memory.profile().clone()
    };
    let results = run_citing(
        ClaimingHost::new(memory, claims_durable),
        "PERSIST-RESTART",
        Interface::V2,
    );
    assert_eq!(
        names(&failed(&results)),
        "persist-restart/durable-keeps-data",
        "{results:?}"
    );
    // On SQLite, claiming its stores are lost in a restart.
    let sqlite = ReferenceHost::new(Backend::Sqlite, profile);
    let claims_memory = Profile {
        durable: false,
        ..sqlite.profile().clone()
    };
    let results = run_citing(
        ClaimingHost::new(sqlite, claims_memory),
        "PERSIST-RESTART",
        Interface::WasiKeyvalue,
    );
    assert_eq!(
        names(&failed(&results)),
        "persist-restart/in-memory-forgets",
        "{results:?}"
    );
}

#[test]
fn a_false_paging_claim_fails_either_way() {
    // The reference host pages wasi listings at 100 keys.
    let host = || ReferenceHost::new(Backend::Memory, ReferenceHost::sip010_profile());
    let claiming = |paging, page_keys| Profile {
        wasi_paging: Some(paging),
        wasi_page_keys: page_keys,
        ..host().profile().clone()
    };
    for (claimed, what) in [
        (
            claiming(WasiPaging::SinglePage, None),
            "every key in one page",
        ),
        (claiming(WasiPaging::Pages, Some(50)), "pages of at most 50"),
    ] {
        let results = run_citing(
            ClaimingHost::new(host(), claimed),
            "KEYS-WASI-CURSOR",
            Interface::WasiKeyvalue,
        );
        let failed = failed(&results);
        assert!(
            failed
                .iter()
                .any(|r| r.id == "keys-wasi-cursor/first-page-large"),
            "a host paging at 100 that claims {what} passes: failed {}",
            names(&failed)
        );
    }
    // The true claim, and a looser true one (pages of at most 1000), pass.
    for claimed in [
        claiming(WasiPaging::Pages, Some(100)),
        claiming(WasiPaging::Pages, Some(1000)),
    ] {
        let results = run_citing(
            ClaimingHost::new(host(), claimed),
            "KEYS-WASI-CURSOR",
            Interface::WasiKeyvalue,
        );
        assert!(failed(&results).is_empty(), "{}", names(&failed(&results)));
        assert!(passed(&results) >= 5);
    }
}

#[test]
fn a_host_that_reuses_handle_numbers_fails_only_a_claim_that_it_does_not() {
    for base in [
        ReferenceHost::sip010_profile(),
        ReferenceHost::unbounded_profile(),
    ] {
        // Claiming it never reuses them fails the case that checks it.
        let results = run_citing(
            falsely_fresh_host(base.clone()),
            "HANDLE-REUSE",
            Interface::V1,
        );
        assert_eq!(
            names(&failed(&results)),
            "handle-reuse/closed-number-stays-closed",
            "{results:?}"
        );
        // Declaring what it does, it passes every v1 case, and the one for the claim is skipped, not passed.
        let work = tempfile::tempdir().unwrap();
        let host = handle_reusing_host(base);
        let results = Runner::new(host, work.path().to_path_buf(), TIMEOUT).run_all(
            cases(),
            &[Interface::V1],
            2,
        );
        assert!(failed(&results).is_empty(), "{}", names(&failed(&results)));
        assert!(passed(&results) > 50, "{}", passed(&results));
        let reuse = results
            .iter()
            .find(|r| r.id == "handle-reuse/closed-number-stays-closed")
            .unwrap();
        assert!(
            matches!(&reuse.verdict, Verdict::Skip(why) if why.contains("v1-fresh-handles")),
            "{:?}",
            reuse.verdict
        );
    }
}
