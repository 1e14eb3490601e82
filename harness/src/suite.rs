//! The trials of a run, made in one place: each case on each interface version it applies to, the concurrent
//! histories and the generated sequences of each version, and each trial's name (`<interface>/<host>/<id>`).
//!
//! Every route runs what [`trials`] makes: `kvconf run` in-process ([`run_all`], on threads of its own) and
//! out-of-process ([`crate::adapter::Session::run_trials`], one application configuration at a time),
//! [`crate::libtest::Suite`] as libtest-mimic trials (kvconf's own conformance test among its users), and the
//! results are judged against an expectations file by [`crate::expectations::Expectations::judge`] alone.

use crate::case::Case;
use crate::catalogue::Catalogue;
use crate::expectations::trial_name;
use crate::fuzz::{self, FuzzConfig};
use crate::history::{self, HistoryConfig, Recorder};
use crate::host::HostUnderTest;
use crate::interface::Interface;
use crate::profile::Profile;
use crate::runner::{CaseResult, Runner};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What one trial checks.
#[derive(Clone, Debug)]
pub enum Check {
    /// One case, on the trial's interface version.
    Case(Arc<Case>),
    /// `count` concurrent histories of seed `seed` ([`history::check_histories`]).
    Histories {
        /// The histories' seed.
        seed: u64,
        /// How many.
        count: u64,
    },
    /// Generated sequences judged against the model ([`fuzz::check_sequences`]).
    Sequences(FuzzConfig),
}

/// One trial of a run.
#[derive(Clone, Debug)]
pub struct Trial {
    /// `<interface>/<host>/<id>`, as reports, expectations files and libtest filters name it.
    pub name: String,
    /// The interface version it runs on.
    pub interface: Interface,
    /// What it checks.
    pub check: Check,
    /// Known to be skipped before it runs: a case needing a claim the host does not make or a version it does not
    /// provide. Run anyway, it reports why.
    pub skipped: bool,
}

impl Trial {
    /// Runs the trial through `executor`; a difference the generated sequences find is saved under `save` if
    /// given.
    pub fn run<E: Recorder + ?Sized>(&self, executor: &E, save: Option<&Path>) -> CaseResult {
        match &self.check {
            Check::Case(case) => executor.run_case(case, self.interface),
            Check::Histories { seed, count } => history::check_histories(
                executor,
                self.interface,
                *seed,
                *count,
                &HistoryConfig::default(),
            ),
            Check::Sequences(config) => {
                fuzz::check_sequences(executor, self.interface, config, save)
            }
        }
    }

    /// The case it runs, if it is a case's trial.
    pub fn case(&self) -> Option<&Case> {
        match &self.check {
            Check::Case(case) => Some(case),
            _ => None,
        }
    }
}

/// What a run covers besides its cases.
#[derive(Clone, Debug)]
pub struct Selection {
    /// The interface versions to run (a case runs on those of them it applies to).
    pub interfaces: Vec<Interface>,
    /// Concurrent histories per version (0: no such trial).
    pub histories: u64,
    /// The histories' seed.
    pub history_seed: u64,
    /// Generated sequences per version, if any.
    pub sequences: Option<FuzzConfig>,
}

impl Selection {
    /// The cases only, on `interfaces`.
    pub fn cases_on(interfaces: &[Interface]) -> Selection {
        Selection {
            interfaces: interfaces.to_vec(),
            histories: 0,
            history_seed: 1,
            sequences: None,
        }
    }
}

/// The trials of `cases` and `selection` against a host named `host` claiming `profile`: every case on every
/// selected version it applies to (version by version, cases in their order), then each version's concurrent
/// histories, then each version's generated sequences.
pub fn trials(host: &str, profile: &Profile, cases: &[Case], selection: &Selection) -> Vec<Trial> {
    let catalogue = Catalogue::builtin();
    let mut out = Vec::new();
    let shared: Vec<Arc<Case>> = cases.iter().cloned().map(Arc::new).collect();
    for &interface in &selection.interfaces {
        for case in shared
            .iter()
            .filter(|c| c.interfaces(catalogue).contains(&interface))
        {
            let skipped = case.unmet(profile).is_some()
                || case
                    .file
                    .steps
                    .iter()
                    .filter_map(|s| s.interface)
                    .any(|i| !profile.interfaces.contains(&i));
            out.push(Trial {
                name: trial_name(interface, host, case.id()),
                interface,
                check: Check::Case(case.clone()),
                skipped,
            });
        }
    }
    for &interface in selection
        .interfaces
        .iter()
        .filter(|_| selection.histories > 0)
    {
        out.push(Trial {
            name: trial_name(interface, host, history::TRIAL_ID),
            interface,
            check: Check::Histories {
                seed: selection.history_seed,
                count: selection.histories,
            },
            skipped: false,
        });
    }
    for &interface in &selection.interfaces {
        if let Some(config) = selection.sequences.as_ref().filter(|c| c.sequences > 0) {
            out.push(Trial {
                name: trial_name(interface, host, fuzz::TRIAL_ID),
                interface,
                check: Check::Sequences(config.clone()),
                skipped: false,
            });
        }
    }
    out
}

impl<H: HostUnderTest> Runner<H> {
    /// Runs every case on every interface version in `interfaces` that it applies to, on `threads` threads
    /// (each case is isolated, so their order does not matter), and returns the results sorted by trial name:
    /// [`run_all`] of the cases' [`trials`].
    pub fn run_all(
        &self,
        cases: &[Case],
        interfaces: &[Interface],
        threads: usize,
    ) -> Vec<CaseResult> {
        let selection = Selection::cases_on(interfaces);
        let trials = trials(
            self.host().backend(),
            self.host().profile(),
            cases,
            &selection,
        );
        run_all(self, &trials, threads, None, &|_| {})
    }
}

/// Runs `trials` through `executor`: the cases on `threads` threads (each case is isolated, so their order does
/// not matter), then the histories and sequences one at a time (each runs instances at once of its own).
/// `progress` is told each result as it is known. The results are the cases' sorted by trial name, then the
/// others in their order.
pub fn run_all<E: Recorder + Sync + ?Sized>(
    executor: &E,
    trials: &[Trial],
    threads: usize,
    save: Option<&Path>,
    progress: &(dyn Fn(&CaseResult) + Sync),
) -> Vec<CaseResult> {
    let (cases, others): (Vec<&Trial>, Vec<&Trial>) =
        trials.iter().partition(|t| t.case().is_some());
    let next = Mutex::new(cases.into_iter());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let Some(trial) = next.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                        break;
                    };
                    let result = trial.run(executor, save);
                    progress(&result);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(result);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|r| r.trial_name());
    for trial in others {
        let result = trial.run(executor, save);
        progress(&result);
        results.push(result);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case;
    use crate::reference::ReferenceHost;

    fn cases() -> Vec<Case> {
        case::load_dir(&case::default_dir(), Catalogue::builtin()).unwrap()
    }

    #[test]
    fn every_case_runs_on_each_selected_version_it_applies_to_then_histories_then_sequences() {
        let cases = cases();
        let profile = ReferenceHost::sip010_profile();
        let interfaces = [Interface::V1, Interface::V3];
        let selection = Selection {
            interfaces: interfaces.to_vec(),
            histories: 4,
            history_seed: 9,
            sequences: Some(FuzzConfig::default()),
        };
        let trials = trials("mine", &profile, &cases, &selection);
        let applying = |i: Interface| {
            cases
                .iter()
                .filter(|c| c.interfaces(Catalogue::builtin()).contains(&i))
                .count()
        };
        let (v1, v3) = (applying(Interface::V1), applying(Interface::V3));
        assert_eq!(trials.len(), v1 + v3 + 2 + 2);
        assert!(trials[..v1].iter().all(|t| t.interface == Interface::V1));
        assert!(
            trials[v1..v1 + v3]
                .iter()
                .all(|t| t.interface == Interface::V3)
        );
        let first = &trials[0];
        assert_eq!(
            first.name,
            format!("v1/mine/{}", first.case().unwrap().id())
        );
        let rest: Vec<&str> = trials[v1 + v3..].iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            rest,
            [
                "v1/mine/generated/concurrent-histories",
                "v3/mine/generated/concurrent-histories",
                "v1/mine/generated/sequences",
                "v3/mine/generated/sequences",
            ]
        );
        assert!(matches!(
            trials[v1 + v3].check,
            Check::Histories { seed: 9, count: 4 }
        ));
        // No histories and no sequences: the cases alone.
        let only = super::trials("mine", &profile, &cases, &Selection::cases_on(&interfaces));
        assert_eq!(only.len(), v1 + v3);
    }

    #[test]
    fn a_case_for_a_claim_the_host_does_not_make_is_known_to_be_skipped() {
        let cases = cases();
        let profile = ReferenceHost::sip010_profile();
        let trials = trials(
            "mine",
            &profile,
            &cases,
            &Selection::cases_on(&[Interface::V2]),
        );
        for trial in &trials {
            let case = trial.case().unwrap();
            assert_eq!(
                trial.skipped,
                case.unmet(&profile).is_some(),
                "{}",
                trial.name
            );
        }
        assert!(trials.iter().any(|t| t.skipped));
        assert!(trials.iter().any(|t| !t.skipped));
    }
}
