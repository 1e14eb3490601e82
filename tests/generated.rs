//! Generated sequences against the faulty hosts of the self-test: without any hand-written case, the
//! generator finds each fault, shrinks it to a case of at most five operations, and that case, saved and
//! loaded back as a case file, fails on the faulty host and passes on the reference host.

use kvconf::case;
use kvconf::catalogue::Catalogue;
use kvconf::fuzz::{FuzzConfig, FuzzOutcome, fuzz};
use kvconf::host::HostUnderTest;
use kvconf::interface::Interface;
use kvconf::reference::{Backend, ReferenceHost};
use kvconf::runner::{Runner, Verdict};
use kvconf_workspace::{
    Fault, assert_small_finding, falsely_fresh_host, faulty_host, future_lies_host,
    handle_reusing_host, trapping_host,
};
use std::time::Duration;

/// Sequences the generator gets to find a fault: the same seed every run, so CI is deterministic.
const SEQUENCES: u32 = 300;
const SEED: u64 = 1;

fn runner<H: HostUnderTest>(host: H, timeout: Duration) -> (Runner<H>, tempfile::TempDir) {
    let work = tempfile::tempdir().unwrap();
    (Runner::new(host, work.path().to_path_buf(), timeout), work)
}

fn config() -> FuzzConfig {
    FuzzConfig {
        sequences: SEQUENCES,
        seed: SEED,
        ..FuzzConfig::default()
    }
}

/// Fuzzes `host` on `interface` and checks the finding: at most five operations, citing `statement`, and as
/// a saved case file it fails on `host` and passes on the reference host.
fn finds<H: HostUnderTest>(
    host: H,
    interface: Interface,
    statement: &str,
    timeout: Duration,
) -> FuzzOutcome {
    let name = host.backend().to_string();
    let (runner, _work) = runner(host, timeout);
    let outcome = fuzz(&runner, interface, &config(), &|_| {});
    assert_eq!(outcome.error, None, "{name} on {interface}");
    let Some(finding) = &outcome.finding else {
        panic!(
            "{SEQUENCES} generated sequences on {interface} did not find the fault of {name} ({} operations run)",
            outcome.operations
        );
    };
    assert_small_finding(finding, &format!("{name} on {interface}"), statement);
    // Saved and loaded back as a case file, it fails on the faulty host and passes on the reference host.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("found.toml"), &finding.text).unwrap();
    let cases = case::load_dir(dir.path(), Catalogue::builtin())
        .unwrap_or_else(|e| panic!("the saved case does not load: {e:?}\n{}", finding.text));
    assert_eq!(cases.len(), 1);
    let result = runner.run_case(&cases[0], interface);
    assert!(
        matches!(result.verdict, Verdict::Fail(_)),
        "{name} on {interface}: the saved case passes on the faulty host:\n{}",
        finding.text
    );
    let profile = runner.host().profile().clone();
    let (reference, _work) = runner_for_reference(profile);
    let result = reference.run_case(&cases[0], interface);
    assert_eq!(
        result.verdict,
        Verdict::Pass,
        "{name} on {interface}: the saved case fails on the reference host:\n{}",
        finding.text
    );
    println!(
        "{name} on {interface}: sequence {}, {} operations after {} shrinking runs\n{}",
        finding.sequence, finding.generated.entries, finding.shrink_runs, finding.text
    );
    outcome
}

fn runner_for_reference(
    profile: kvconf::profile::Profile,
) -> (Runner<ReferenceHost>, tempfile::TempDir) {
    runner(
        ReferenceHost::new(Backend::Memory, profile),
        Duration::from_secs(30),
    )
}

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn generated_sequences_alone_find_every_backend_fault() {
    for (fault, statement, interface) in Fault::BACKEND_FAULTS {
        finds(faulty_host(fault), interface, statement, TIMEOUT);
    }
}

#[test]
fn generated_sequences_find_a_host_that_panics_or_traps() {
    finds(
        faulty_host(Fault::ExistsPanics),
        Interface::V2,
        "EXISTS",
        TIMEOUT,
    );
    finds(
        faulty_host(Fault::ListingPanics),
        Interface::V3,
        "KEYS-V3-STREAM",
        TIMEOUT,
    );
    finds(trapping_host(), Interface::V2, "EXISTS", TIMEOUT);
}

#[test]
fn generated_sequences_find_a_host_that_hangs() {
    finds(
        faulty_host(Fault::ExistsHangs),
        Interface::V2,
        "EXISTS",
        Duration::from_millis(500),
    );
}

#[test]
fn generated_sequences_find_a_v3_future_that_lies() {
    finds(future_lies_host(), Interface::V3, "KEYS-V3-STREAM", TIMEOUT);
}

#[test]
fn generated_sequences_find_a_host_that_reuses_v1_handle_numbers_while_claiming_it_does_not() {
    let host = falsely_fresh_host(ReferenceHost::sip010_profile());
    let outcome = finds(host, Interface::V1, "HANDLE-REUSE", TIMEOUT);
    let finding = outcome.finding.unwrap();
    assert!(
        finding
            .generated
            .file
            .requires
            .contains(&kvconf::profile::Capability::V1FreshHandles),
        "{}",
        finding.text
    );
}

#[test]
fn a_host_that_reuses_v1_handle_numbers_and_says_so_shows_no_difference() {
    for base in [
        ReferenceHost::sip010_profile(),
        ReferenceHost::unbounded_profile(),
    ] {
        let (runner, _work) = runner(handle_reusing_host(base), TIMEOUT);
        let outcome = fuzz(&runner, Interface::V1, &config(), &|_| {});
        assert_eq!(outcome.error, None);
        assert!(
            outcome.finding.is_none(),
            "{}",
            outcome.finding.map(|f| f.text).unwrap_or_default()
        );
        assert_eq!(outcome.sequences, u64::from(SEQUENCES));
    }
}

#[test]
fn the_reference_host_shows_no_difference_on_any_version_or_backend() {
    for backend in [Backend::Memory, Backend::Sqlite] {
        for interface in Interface::ALL {
            let (runner, _work) = runner(
                ReferenceHost::new(backend, ReferenceHost::sip010_profile()),
                TIMEOUT,
            );
            let config = FuzzConfig {
                sequences: 64,
                ..config()
            };
            let outcome = fuzz(&runner, interface, &config, &|_| {});
            assert_eq!(outcome.error, None);
            assert!(
                outcome.finding.is_none(),
                "{interface}/{}: {}",
                backend.name(),
                outcome
                    .finding
                    .map(|f| f.detail + &f.text)
                    .unwrap_or_default()
            );
            assert_eq!(outcome.sequences, 64);
        }
    }
}

/// `kvconf fuzz` as run by default (256 sequences, seed 1) finds a host refusing keys with `#` or `?` on every
/// version, and the shrunk case cites KEY-TEXT.
#[test]
fn the_default_fuzz_run_finds_a_host_refusing_key_punctuation_on_every_version() {
    for interface in Interface::ALL {
        let (runner, _work) = runner(faulty_host(Fault::RefusesKeyPunctuation), TIMEOUT);
        let outcome = fuzz(&runner, interface, &FuzzConfig::default(), &|_| {});
        assert_eq!(outcome.error, None, "{interface}");
        let finding = outcome.finding.as_ref().unwrap_or_else(|| {
            panic!("256 sequences on {interface} did not find a host refusing '#' and '?' in keys")
        });
        assert_small_finding(
            finding,
            &format!("RefusesKeyPunctuation on {interface}"),
            "KEY-TEXT",
        );
    }
}

#[test]
fn the_libtest_suite_runs_generated_sequences_that_find_a_fault_and_save_it() {
    // The trial as a host author's test binary has it, run by libtest-mimic: it fails on the faulty host. (The
    // inner run prints its own summary, "test result: FAILED" for the faulty host: that is the point.)
    let run = |fault: Fault| {
        let trials = kvconf::libtest::Suite::new(faulty_host(fault))
            .histories(0)
            .sequences(256)
            .trials()
            .unwrap();
        let name = format!("v2/{fault:?}/{}", kvconf::fuzz::TRIAL_ID);
        assert!(trials.iter().any(|t| t.name() == name), "no trial {name}");
        let args = libtest_mimic::Arguments::from_iter(["kvconf", "--exact", "--quiet", &name]);
        let conclusion = libtest_mimic::run(&args, trials);
        (conclusion.num_passed, conclusion.num_failed)
    };
    assert_eq!(run(Fault::RefusesKeyPunctuation), (0, 1));
    assert_eq!(run(Fault::None), (1, 0));
    // What the failure says: the shrunk case file, saved, and how to reproduce it.
    let save = tempfile::tempdir().unwrap();
    let (runner, _work) = runner(faulty_host(Fault::RefusesKeyPunctuation), TIMEOUT);
    let config = FuzzConfig {
        sequences: 256,
        ..FuzzConfig::default()
    };
    let result = kvconf::fuzz::check_sequences(&runner, Interface::V2, &config, Some(save.path()));
    let Verdict::Fail(detail) = &result.verdict else {
        panic!("the faulty host passed: {result:?}")
    };
    assert!(
        result.statements.iter().any(|s| s == "KEY-TEXT"),
        "{:?}",
        result.statements
    );
    assert!(detail.contains("KVCONF_SEED=1"), "{detail}");
    let saved: Vec<_> = std::fs::read_dir(save.path()).unwrap().collect();
    assert_eq!(saved.len(), 1, "{detail}");
    let path = saved[0].as_ref().unwrap().path();
    assert!(detail.contains(&path.display().to_string()), "{detail}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(detail.contains(&text), "{detail}");
    case::Case::parse(&path, &text, Catalogue::builtin()).expect("the saved case parses");
}
