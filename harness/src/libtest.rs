//! The suite as a test binary of your own crate: every case on every version your host provides, plus the
//! generated concurrent histories, as libtest-mimic trials, so `cargo test` filters, `--list`, `--ignored`
//! and cargo-nextest work as for any test.
//!
//! In your crate's `Cargo.toml`:
//!
//! ```toml
//! [[test]]
//! name = "kvconf"
//! harness = false
//! ```
//!
//! and `tests/kvconf.rs`, for a host that implements [`HostUnderTest`]:
//!
//! ```no_run
//! # use kvconf::reference::{Backend, ReferenceHost};
//! # fn my_host() -> ReferenceHost { ReferenceHost::new(Backend::Memory, ReferenceHost::sip010_profile()) }
//! fn main() {
//!     kvconf::libtest::Suite::new(my_host())
//!         .expectations("tests/kvconf-expectations.toml") // optional: known gaps, each with a reason
//!         .run();
//! }
//! ```
//!
//! A backend author who implements kvhost's `StoreManager` and `Store` hands the suite
//! `ReferenceHost::with_backend(...)`: the reference host's bindings then serve that backend (see the
//! `examples/validate-a-host` crate of the kvconf repository for both ways, each in about ten lines).
//!
//! Besides the cases and the histories, the suite searches: per version, [`Suite::sequences`] generated operation
//! sequences (256 unless told otherwise), each run through the driver and judged against the model as `kvconf
//! fuzz` does ([`crate::fuzz`]), in the trial `<interface>/<backend>/generated/sequences`. A difference is shrunk
//! and reported as a case file, with how to reproduce it; the same seed ([`Suite::seed`], or the environment
//! variable `KVCONF_SEED`) gives the same sequences, and [`Suite::save`] (or `KVCONF_SAVE=<dir>`) writes the case
//! file where it can be kept as a regression case (run it with [`Suite::cases`] or `kvconf run --cases <dir>`).
//!
//! Trials are named `<interface>/<backend>/<case-id>`. A case for a claim the host's profile does not make is
//! flagged ignored (with the reason when run with `--include-ignored`), never reported as passed. With an expectations file
//! ([`crate::expectations`]), a listed failure passes (it is a known gap), a listed trial that no longer fails
//! fails as a stale expectation, and a listed skip is ignored with its reason.

use crate::case;
use crate::catalogue::Catalogue;
use crate::expectations::Expectations;
use crate::fuzz::FuzzConfig;
use crate::host::HostUnderTest;
use crate::interface::Interface;
use crate::runner::{CaseResult, Runner, Verdict};
use crate::suite::{self, Selection};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The conformance suite, ready to run against one host as a test binary.
pub struct Suite<H: HostUnderTest> {
    host: H,
    cases: PathBuf,
    expectations: Option<PathBuf>,
    histories: u64,
    sequences: u32,
    seed: u64,
    save: Option<PathBuf>,
    timeout: Duration,
    check_passed: Option<PassedCheck>,
}

/// An extra check of a case trial that passed ([`Suite::check_passed`]).
type PassedCheck = Arc<dyn Fn(&CaseResult) -> Result<(), String> + Send + Sync>;

pub use crate::fuzz::{SAVE_VARIABLE, SEED_VARIABLE};

impl<H: HostUnderTest> Suite<H> {
    /// The suite against `host`: kvconf's own cases, 8 concurrent histories and 256 generated sequences per
    /// version with seed 1, 60 s per case.
    pub fn new(host: H) -> Self {
        Suite {
            host,
            cases: case::default_dir(),
            expectations: None,
            histories: 8,
            sequences: FuzzConfig::default().sequences,
            seed: FuzzConfig::default().seed,
            save: None,
            timeout: Duration::from_secs(60),
            check_passed: None,
        }
    }

    /// Runs the cases under `dir` instead of kvconf's own.
    pub fn cases(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cases = dir.into();
        self
    }

    /// Judges the trials against an expectations file (relative paths are relative to the test's working
    /// directory, which cargo sets to the crate's root).
    pub fn expectations(mut self, path: impl Into<PathBuf>) -> Self {
        self.expectations = Some(path.into());
        self
    }

    /// Concurrent histories per version (0 leaves the trial out).
    pub fn histories(mut self, count: u64) -> Self {
        self.histories = count;
        self
    }

    /// Generated sequences per version (0 leaves the trial out), as `kvconf fuzz --sequences`.
    pub fn sequences(mut self, count: u32) -> Self {
        self.sequences = count;
        self
    }

    /// The seed of the generated sequences, as `kvconf fuzz --seed`: the same seed gives the same sequences.
    /// The environment variable `KVCONF_SEED` overrides it, so that a run can try other seeds, or reproduce a
    /// difference found under another, without a change to the test.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Where a difference found by the generated sequences is saved as a case file (as `kvconf fuzz --save`);
    /// the environment variable `KVCONF_SAVE` sets it too. Unset, the case file is shown in the failure only.
    pub fn save(mut self, dir: impl Into<PathBuf>) -> Self {
        self.save = Some(dir.into());
        self
    }

    /// How long a case may take before it fails as hung.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// An extra check of every case trial that passes, given its result (kvconf's own conformance test compares
    /// the transcript with a snapshot): an `Err` fails the trial with its message.
    pub fn check_passed(
        mut self,
        check: impl Fn(&CaseResult) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.check_passed = Some(Arc::new(check));
        self
    }

    /// The trials, one per case and version the host provides, one of concurrent histories and one of generated
    /// sequences per version.
    ///
    /// # Errors
    ///
    /// When the cases or the expectations file cannot be loaded, or `KVCONF_SEED` is not a number: the message
    /// says which and why.
    pub fn trials(self) -> Result<Vec<Trial>, String> {
        let seed = match std::env::var(SEED_VARIABLE) {
            Ok(text) => text.trim().parse().map_err(|_| {
                format!("{SEED_VARIABLE}={text:?} is not a seed: give a whole number such as 1")
            })?,
            Err(_) => self.seed,
        };
        let save = std::env::var_os(SAVE_VARIABLE)
            .map(PathBuf::from)
            .or(self.save);
        let cases = case::load_dir(&self.cases, Catalogue::builtin()).map_err(|errors| {
            let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            format!("kvconf cannot load its cases:\n{}", list.join("\n"))
        })?;
        let backend = self.host.backend().to_string();
        let expectations = match &self.expectations {
            Some(path) => Some(Arc::new(
                Expectations::load(path, &cases, &[backend.as_str()]).map_err(|e| e.to_string())?,
            )),
            None => None,
        };
        let work = tempfile::Builder::new()
            .prefix("kvconf-")
            .tempdir()
            .map_err(|e| format!("kvconf cannot create a temporary directory: {e}"))?;
        let runner = Arc::new(Runner::new(
            self.host,
            work.path().to_path_buf(),
            self.timeout,
        ));
        // The stores' directory lives as long as any trial does.
        let work = Arc::new(work);
        let interfaces: Vec<Interface> = Interface::RUNNABLE
            .into_iter()
            .filter(|i| runner.host().profile().interfaces.contains(i))
            .collect();
        let selection = Selection {
            interfaces,
            histories: self.histories,
            history_seed: 1,
            sequences: Some(FuzzConfig {
                sequences: self.sequences,
                seed,
                ..FuzzConfig::default()
            }),
        };
        let planned = suite::trials(&backend, runner.host().profile(), &cases, &selection);
        let trials = planned.into_iter().map(|trial| {
            let (runner, work, x, save) = (
                runner.clone(),
                work.clone(),
                expectations.clone(),
                save.clone(),
            );
            let check = self.check_passed.clone().filter(|_| trial.case().is_some());
            let (name, skipped) = (trial.name.clone(), trial.skipped);
            // A case for a claim the host does not make is known to be skipped before it runs: flagged ignored,
            // so that every harness (cargo-nextest included) reports it as ignored, never as passed.
            Trial::ignorable_test(name, move || {
                let _work = work;
                let mut result = trial.run(&*runner, save.as_deref());
                if let (Verdict::Pass, Some(check)) = (&result.verdict, check)
                    && let Err(detail) = check(&result)
                {
                    result.verdict = Verdict::Fail(detail);
                }
                judge(result, x.as_deref())
            })
            .with_ignored_flag(skipped)
        });
        Ok(trials.collect())
    }

    /// Runs the suite as the test binary's `main`, with libtest's command line, and exits with its status.
    pub fn run(self) -> ! {
        let args = Arguments::from_args();
        match self.trials() {
            Ok(trials) => libtest_mimic::run(&args, trials).exit(),
            Err(message) => {
                eprintln!("{message}");
                std::process::exit(101);
            }
        }
    }
}

/// A result as a trial's outcome, with the expectations file's word on it ([`Expectations::judge`]).
fn judge(result: CaseResult, expectations: Option<&Expectations>) -> Result<Completion, Failed> {
    let verdict = match expectations {
        Some(x) => x.judge(&result),
        None => result.verdict,
    };
    match verdict {
        Verdict::Pass => Ok(Completion::Completed),
        Verdict::Fail(detail) => Err(Failed::from(detail)),
        Verdict::Skip(reason) => Ok(Completion::ignored_with(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case;

    fn result(id: &str, verdict: Verdict) -> CaseResult {
        CaseResult::for_test(id, verdict)
    }

    fn expectations(outcome: &str) -> Expectations {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        std::fs::write(
            &path,
            format!("[[expect]]\ntrial = \"v2/mine/{ID}\"\noutcome = \"{outcome}\"\nreason = \"known\"\n"),
        )
        .unwrap();
        let cases = case::load_dir(&case::default_dir(), Catalogue::builtin()).unwrap();
        Expectations::load(&path, &cases, &["mine"]).unwrap()
    }

    const ID: &str = "delete-absent/empty-store";

    #[test]
    fn a_listed_failure_passes_and_a_listed_failure_that_passes_is_stale() {
        let x = expectations("fail");
        assert!(judge(result(ID, Verdict::Fail("boom".into())), Some(&x)).is_ok());
        let Err(stale) = judge(result(ID, Verdict::Pass), Some(&x)) else {
            panic!("a listed failure that passed was not stale");
        };
        assert!(
            format!("{stale:?}").contains("stale expectation"),
            "{stale:?}"
        );
    }

    #[test]
    fn a_trial_listed_as_skipped_that_fails_fails() {
        let x = expectations("skip");
        assert!(judge(result(ID, Verdict::Skip("no".into())), Some(&x)).is_ok());
        let Err(failed) = judge(result(ID, Verdict::Fail("boom".into())), Some(&x)) else {
            panic!("a trial listed as skipped that failed passed");
        };
        assert!(format!("{failed:?}").contains("boom"), "{failed:?}");
        assert!(judge(result(ID, Verdict::Pass), Some(&x)).is_err());
    }
}
