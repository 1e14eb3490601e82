//! Reports of a run: a readable one (a line per statement, the failures in full, a summary), JSON, JUnit XML
//! (a `<testsuite>` per interface version and backend, for CI dashboards; [`Report::junit`]) and a Markdown
//! conformance matrix (a row per statement, a column per interface version and backend; [`Report::markdown`]).

use crate::catalogue::{Catalogue, Strength};
use crate::interface::Interface;
use crate::profile::Profile;
use crate::runner::{CaseResult, Verdict};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

pub(crate) mod junit;
mod markdown;

/// The SHA-256 (hex) of the WIT files this build was compiled against: of a manifest with one line
/// `<sha256 of the file>  <path>` per file under `wit/`, paths relative to it, sorted, as
/// `cd wit && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum | sha256sum` prints it
/// (computed by `harness/build.rs`).
pub const WIT_SHA256: &str = env!("KVCONF_WIT_SHA256");

/// What the JUnit and Markdown reports say about a run besides its results and the host: what a reader needs
/// to tell whether two reports were produced alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The seed of the generated concurrent histories.
    pub seed: u64,
    /// The SHA-256 (hex) of the expectations file the run was judged by, if it was judged by one.
    pub expectations_hash: Option<String>,
    /// The SHA-256 (hex) of the WIT files the suite was built against: [`WIT_SHA256`] unless a test fixes it.
    pub wit_hash: String,
    /// The SHA-256 (hex) of each version's canonical WIT ([`Interface::wit_sha256`](crate::interface::Interface::wit_sha256)), so that two
    /// reports can be compared version by version.
    pub version_hashes: BTreeMap<Interface, String>,
    /// The suite's coverage of the WIT by the cases of the run, for the Markdown report's "WIT coverage"
    /// section; `None` leaves the section out.
    pub coverage: Option<crate::coverage::Coverage>,
}

impl Meta {
    /// The meta-data of a run of this build with history seed `seed`, judged by the expectations file whose
    /// hash is `expectations_hash`, if any.
    pub fn new(seed: u64, expectations_hash: Option<String>) -> Meta {
        Meta {
            seed,
            expectations_hash,
            wit_hash: WIT_SHA256.to_string(),
            version_hashes: Interface::ALL
                .into_iter()
                .map(|i| (i, i.wit_sha256()))
                .collect(),
            coverage: None,
        }
    }
}

/// Counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases that did not apply to the host's claims.
    pub skipped: usize,
    /// All cases run or skipped.
    pub total: usize,
}

impl Summary {
    /// Counts the results.
    pub fn of(results: &[CaseResult]) -> Summary {
        Summary::tally(results)
    }

    fn tally<'a>(results: impl IntoIterator<Item = &'a CaseResult>) -> Summary {
        let mut s = Summary::default();
        for r in results {
            s.total += 1;
            match r.verdict {
                Verdict::Pass => s.passed += 1,
                Verdict::Fail(_) => s.failed += 1,
                Verdict::Skip(_) => s.skipped += 1,
            }
        }
        s
    }
}

/// How a statement fared on one interface version.
#[derive(Clone, Debug, Serialize)]
pub struct StatementRow {
    /// The statement ID.
    pub id: String,
    /// Its strength.
    pub strength: Strength,
    /// The interface version.
    pub interface: Interface,
    /// The cases that cite it, on every backend run.
    pub cases: usize,
    /// Their IDs (each once, whatever the number of backends).
    pub case_ids: Vec<String>,
    /// How many of them passed, failed, were skipped.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Skipped.
    pub skipped: usize,
    /// `pass`, `fail`, `skip` (every case skipped) or `no-case`.
    pub result: &'static str,
}

/// Everything a report shows.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// kvconf's version.
    pub suite_version: &'static str,
    /// The SHA-256 (hex) of the WIT files the suite was built against ([`WIT_SHA256`]).
    pub wit_sha256: String,
    /// The SHA-256 (hex) of the canonical WIT of each interface version run
    /// ([`Interface::wit_sha256`](crate::interface::Interface::wit_sha256)): what the JUnit report gives as each suite's
    /// `interface-wit-sha256` and the Markdown header lists.
    pub interface_wit_sha256: BTreeMap<Interface, String>,
    /// The host's name.
    pub host: String,
    /// The host's claims.
    pub profile: Profile,
    /// What the profile alone does not say about the run: the reference host's durability when its backends
    /// differ in it (`durable on sqlite only`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_note: Option<String>,
    /// The interface versions run.
    pub interfaces: Vec<Interface>,
    /// The backends run.
    pub backends: Vec<String>,
    /// The counts.
    pub summary: Summary,
    /// One row per statement per interface version.
    pub statements: Vec<StatementRow>,
    /// Every case result.
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// Builds the report of a run.
    pub fn new(
        host: &str,
        profile: &Profile,
        interfaces: &[Interface],
        results: Vec<CaseResult>,
    ) -> Report {
        let catalogue = Catalogue::builtin();
        let backends: BTreeSet<String> = results.iter().map(|r| r.backend.clone()).collect();
        let mut statements = Vec::new();
        for interface in interfaces {
            for st in catalogue
                .statements()
                .iter()
                .filter(|s| s.interfaces.contains(interface))
            {
                let mut row = StatementRow {
                    id: st.id.clone(),
                    strength: st.strength,
                    interface: *interface,
                    cases: 0,
                    case_ids: Vec::new(),
                    passed: 0,
                    failed: 0,
                    skipped: 0,
                    result: "no-case",
                };
                for r in results
                    .iter()
                    .filter(|r| r.interface == *interface && r.statements.contains(&st.id))
                {
                    row.cases += 1;
                    if !row.case_ids.contains(&r.id) {
                        row.case_ids.push(r.id.clone());
                    }
                    match r.verdict {
                        Verdict::Pass => row.passed += 1,
                        Verdict::Fail(_) => row.failed += 1,
                        Verdict::Skip(_) => row.skipped += 1,
                    }
                }
                row.result = if row.failed > 0 {
                    "fail"
                } else if row.passed > 0 {
                    "pass"
                } else if row.skipped > 0 {
                    "skip"
                } else {
                    "no-case"
                };
                statements.push(row);
            }
        }
        Report {
            suite_version: env!("CARGO_PKG_VERSION"),
            wit_sha256: WIT_SHA256.to_string(),
            interface_wit_sha256: interfaces.iter().map(|i| (*i, i.wit_sha256())).collect(),
            host: host.to_string(),
            profile: profile.clone(),
            profile_note: None,
            interfaces: interfaces.to_vec(),
            backends: backends.into_iter().collect(),
            summary: Summary::of(&results),
            statements,
            cases: results,
        }
    }

    /// This report with `note` shown after the profile (see [`Report::profile_note`]).
    pub fn with_profile_note(mut self, note: impl Into<String>) -> Report {
        self.profile_note = Some(note.into());
        self
    }

    /// The profile as the reports show it: its summary, and the note if there is one.
    pub fn profile_summary(&self) -> String {
        match &self.profile_note {
            Some(note) => format!("{}; {note}", self.profile.summary()),
            None => self.profile.summary(),
        }
    }

    /// The interface versions and backends run, as (version, backend) in the order the reports show them: by
    /// version as given, then by backend name.
    fn runs(&self) -> Vec<(Interface, &str)> {
        self.interfaces
            .iter()
            .flat_map(|i| self.backends.iter().map(move |b| (*i, b.as_str())))
            .collect()
    }

    /// The results of one version on one backend, in run order.
    fn results_of(&self, interface: Interface, backend: &str) -> Vec<&CaseResult> {
        self.cases
            .iter()
            .filter(|c| c.interface == interface && c.backend == backend)
            .collect()
    }

    /// Whether the run passed: nothing failed.
    pub fn passed(&self) -> bool {
        self.summary.failed == 0
    }

    /// The JSON report.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// The readable report.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "kvconf {} against {}", self.suite_version, self.host);
        let _ = writeln!(out, "profile {}", self.profile_summary());
        let _ = writeln!(
            out,
            "interfaces {}; backends {}",
            join(self.interfaces.iter().map(|i| i.to_string())),
            join(self.backends.iter().cloned())
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<22} {:<9} {:<19} {:>5}  result",
            "statement", "strength", "interface", "cases"
        );
        for row in &self.statements {
            let counts = match row.result {
                "pass" if row.skipped > 0 => {
                    format!("pass ({} passed, {} skipped)", row.passed, row.skipped)
                }
                "pass" => format!("pass ({} passed)", row.passed),
                "fail" => format!("FAIL ({} failed, {} passed)", row.failed, row.passed),
                "skip" => format!("skipped ({}; see below)", row.skipped),
                _ => "no case".to_string(),
            };
            let _ = writeln!(
                out,
                "{:<22} {:<9} {:<19} {:>5}  {counts}",
                row.id,
                row.strength.to_string(),
                row.interface.to_string(),
                row.cases
            );
        }
        let failures: Vec<&CaseResult> = self
            .cases
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Fail(_)))
            .collect();
        if !failures.is_empty() {
            let _ = writeln!(out, "\nfailures:");
            for f in &failures {
                if let Verdict::Fail(detail) = &f.verdict {
                    let _ = writeln!(
                        out,
                        "\n---- {} ({}) ----\n  {}\n{detail}",
                        f.trial_name(),
                        join(f.statements.iter().cloned()),
                        f.title
                    );
                }
            }
        }
        let skips: Vec<&CaseResult> = self
            .cases
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Skip(_)))
            .collect();
        if !skips.is_empty() {
            let _ = writeln!(out, "\nskipped (not counted as passed):");
            for s in &skips {
                if let Verdict::Skip(reason) = &s.verdict {
                    let _ = writeln!(out, "  {}: {reason}", s.trial_name());
                }
            }
        }
        let unchecked: Vec<String> = self
            .statements
            .iter()
            .filter(|r| r.result == "no-case" && r.strength == Strength::Must)
            .map(|r| format!("{} ({})", r.id, r.interface))
            .collect();
        if !unchecked.is_empty() {
            let _ = writeln!(
                out,
                "\nMUST statements no case in this run checks: {}",
                unchecked.join(", ")
            );
        }
        let _ = writeln!(
            out,
            // The last line is the plain summary CI dashboards read: `word: N passed, N failed, N skipped`.
            "\nresult: {}\nkvconf: {} passed, {} failed, {} skipped",
            if self.passed() { "ok" } else { "FAILED" },
            self.summary.passed,
            self.summary.failed,
            self.summary.skipped
        );
        out
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
