//! Expectations: a host's known gaps, kept in a file so that CI can gate on regressions.
//!
//! ```toml
//! # kvconf expectations for my-host
//! [[expect]]
//! trial = "v1/my-host/handle-v1-invalid/closed-handle"   # <interface>/<backend>/<case-id>, as reports name it
//! outcome = "fail"                                       # "fail" or "skip"
//! reason = "v1 handles are reused after close (tracked upstream)"
//! link = "https://example.com/issues/12"                 # optional
//! ```
//!
//! With `kvconf run --expectations FILE`:
//! - a listed trial that fails as expected does not fail the run (it is counted as an expected failure);
//! - a listed trial that passes, or whose outcome is not the listed one, is a **stale expectation** and fails the
//!   run, so a fixed gap is noticed and its entry removed;
//! - a listed skip is a declared skip; with `--strict`, any skip not declared fails the run;
//! - a listed trial no case can produce (an unknown case ID, interface, or a case that does not apply to that
//!   interface) is refused when the file is loaded, as is an entry without a reason.
//!
//! `kvconf run --bless` writes the file from a run: every failure and every skip, keeping the reason (and link)
//! of an entry already there and otherwise recording where it came from.

use crate::case::Case;
use crate::catalogue::Catalogue;
use crate::interface::Interface;
use crate::runner::{CaseResult, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The outcome a trial is expected to have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The trial fails.
    Fail,
    /// The trial is skipped.
    Skip,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
        }
    }
}

/// One entry of an expectations file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The trial, `<interface>/<backend>/<case-id>`.
    pub trial: String,
    /// Its expected outcome.
    pub outcome: Outcome,
    /// Why: required, so that every known gap is explained.
    pub reason: String,
    /// Where to read more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    expect: Vec<Expectation>,
}

/// A loaded and checked expectations file.
#[derive(Clone, Debug)]
pub struct Expectations {
    /// Where it came from.
    pub path: PathBuf,
    /// The entries, by trial name.
    pub entries: BTreeMap<String, Expectation>,
    /// A hash of the file's bytes (SHA-256, hex), so that reports say which expectations they were judged by.
    pub hash: String,
}

/// Why an expectations file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ExpectationsError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong and what to do.
    pub message: String,
}

/// The trial name of a case on an interface version and backend.
pub fn trial_name(interface: Interface, backend: &str, id: &str) -> String {
    format!("{interface}/{backend}/{id}")
}

impl Expectations {
    /// Loads `path` and checks every entry against `cases` and the host's `backends`: each must name a trial
    /// a case (or the generated trials) can produce on one of them, and give a reason.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or parsed, or an entry is unknown, duplicated or unexplained.
    pub fn load(
        path: &Path,
        cases: &[Case],
        backends: &[&str],
    ) -> Result<Expectations, ExpectationsError> {
        let err = |message: String| ExpectationsError {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let text =
            std::str::from_utf8(&bytes).map_err(|_| err("the file is not UTF-8".to_string()))?;
        let file: File = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let catalogue = Catalogue::builtin();
        let mut entries = BTreeMap::new();
        for e in file.expect {
            if e.reason.trim().is_empty() {
                return Err(err(format!(
                    "{:?} has an empty reason: say why the trial is expected to {}",
                    e.trial,
                    e.outcome.name()
                )));
            }
            check_trial(&e.trial, cases, catalogue, backends)
                .map_err(|m| err(format!("{:?}: {m}", e.trial)))?;
            if entries.contains_key(&e.trial) {
                return Err(err(format!("{:?} is listed twice", e.trial)));
            }
            entries.insert(e.trial.clone(), e);
        }
        Ok(Expectations {
            path: path.to_path_buf(),
            entries,
            hash: sha256_hex(&bytes),
        })
    }

    /// Judges a run's results against the expectations.
    pub fn apply(&self, results: &[CaseResult]) -> Applied {
        let mut applied = Applied::default();
        let mut seen = std::collections::BTreeSet::new();
        for r in results {
            let name = r.trial_name();
            let listed = self.entries.get(&name);
            if listed.is_some() {
                seen.insert(name.clone());
            }
            match (&r.verdict, listed.map(|e| e.outcome)) {
                (Verdict::Fail(_), Some(Outcome::Fail)) => applied.expected_failures.push(name),
                (Verdict::Fail(_), _) => applied.unexpected_failures.push(name),
                (Verdict::Skip(_), Some(Outcome::Skip)) => applied.declared_skips.push(name),
                (Verdict::Skip(_), None) => applied.undeclared_skips.push(name),
                (Verdict::Pass, None) => {}
                (verdict, Some(outcome)) => applied.stale.push(self.stale(&name, outcome, verdict)),
            }
        }
        applied.not_run = self
            .entries
            .keys()
            .filter(|t| !seen.contains(*t))
            .cloned()
            .collect();
        applied
    }

    /// One result as it is reported under the expectations, the one place a listed trial's verdict changes (the
    /// tallies are [`Expectations::apply`]'s): a listed failure that failed is skipped with the entry's reason
    /// (a known gap: neither a regression nor a pass), a listed skip that was skipped is skipped with the entry's
    /// reason, a listed skip that failed fails, and a listed trial that did otherwise fails as a stale
    /// expectation. A trial not listed keeps its verdict.
    pub fn judge(&self, result: &CaseResult) -> Verdict {
        let name = result.trial_name();
        let Some(entry) = self.entries.get(&name) else {
            return result.verdict.clone();
        };
        let path = self.path.display();
        match (&result.verdict, entry.outcome) {
            (Verdict::Fail(_), Outcome::Fail) => Verdict::Skip(format!(
                "expected failure, listed in {path}: {}",
                entry.reason
            )),
            (Verdict::Skip(_), Outcome::Skip) => {
                Verdict::Skip(format!("declared skip, listed in {path}: {}", entry.reason))
            }
            (Verdict::Fail(detail), Outcome::Skip) => Verdict::Fail(format!(
                "listed in {path} as expected to be skipped, but it ran and failed:\n{detail}"
            )),
            (verdict, outcome) => Verdict::Fail(format!(
                "stale expectation: {}",
                self.stale(&name, outcome, verdict)
            )),
        }
    }

    /// What a stale entry is, and what to do.
    fn stale(&self, name: &str, outcome: Outcome, verdict: &Verdict) -> String {
        let actual = match verdict {
            Verdict::Pass => "passed",
            Verdict::Skip(_) => "was skipped",
            Verdict::Fail(_) => "failed",
        };
        format!(
            "{name}: listed as expected to {}, but it {actual}: remove or change its entry in {} (or run with --bless)",
            outcome.name(),
            self.path.display()
        )
    }
}

/// A run judged against expectations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Listed as failing, and failed.
    pub expected_failures: Vec<String>,
    /// Failed without being listed: regressions.
    pub unexpected_failures: Vec<String>,
    /// Listed as skipped, and skipped.
    pub declared_skips: Vec<String>,
    /// Skipped without being listed (an error under `--strict`).
    pub undeclared_skips: Vec<String>,
    /// Listed, but the outcome was another: each with what to do.
    pub stale: Vec<String>,
    /// Listed, but not part of this run (another interface, backend or filter): not judged.
    pub not_run: Vec<String>,
}

impl Applied {
    /// Whether the run passes: no unexpected failure, no stale expectation, and under `strict` no undeclared
    /// skip.
    pub fn passed(&self, strict: bool) -> bool {
        self.unexpected_failures.is_empty()
            && self.stale.is_empty()
            && (!strict || self.undeclared_skips.is_empty())
    }

    /// What the expectations did to the run, for the end of a human report.
    pub fn summary(&self, path: &Path, strict: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "expectations {}: {} expected failure(s), {} declared skip(s), {} undeclared skip(s){}, {} stale, {} not in this run",
            path.display(),
            self.expected_failures.len(),
            self.declared_skips.len(),
            self.undeclared_skips.len(),
            if strict { " (--strict)" } else { "" },
            self.stale.len(),
            self.not_run.len()
        );
        for s in &self.stale {
            let _ = writeln!(out, "  stale: {s}");
        }
        for f in &self.unexpected_failures {
            let _ = writeln!(out, "  unexpected failure: {f}");
        }
        if strict {
            for s in &self.undeclared_skips {
                let _ = writeln!(
                    out,
                    "  undeclared skip: {s} (declare it with outcome = \"skip\" and a reason, or drop --strict)"
                );
            }
        }
        out
    }
}

/// The expectations file a run implies: each failure and skip, with the reason (and link) of the entry in
/// `existing` if there is one, else the first line of what happened.
///
/// Entries for trials this run did not include (another interface, backend, or outside `--filter`) are kept
/// as they are, so blessing part of a host's trials never loses the rest.
pub fn bless(existing: Option<&Expectations>, results: &[CaseResult], host: &str) -> String {
    let ran: std::collections::BTreeSet<String> =
        results.iter().map(CaseResult::trial_name).collect();
    let mut entries: Vec<Expectation> = existing
        .map(|x| {
            x.entries
                .values()
                .filter(|e| !ran.contains(&e.trial))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    for r in results {
        let (outcome, what) = match &r.verdict {
            Verdict::Pass => continue,
            Verdict::Fail(detail) => (Outcome::Fail, detail.as_str()),
            Verdict::Skip(reason) => (Outcome::Skip, reason.as_str()),
        };
        let name = r.trial_name();
        let kept = existing
            .and_then(|x| x.entries.get(&name))
            .filter(|e| e.outcome == outcome);
        let first = what
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("(no detail)");
        entries.push(Expectation {
            trial: name,
            outcome,
            reason: kept.map_or_else(|| format!("seen in a run: {first}"), |e| e.reason.clone()),
            link: kept.and_then(|e| e.link.clone()),
        });
    }
    entries.sort_by(|a, b| a.trial.cmp(&b.trial));
    let mut out = format!(
        "# kvconf expectations for {host}, written by `kvconf run --bless`: the trials known to fail or to be\n\
         # skipped, each with why. Replace a \"seen in a run\" reason with the real one.\n"
    );
    for e in entries {
        let body = toml::to_string(&File { expect: vec![e] })
            .unwrap_or_else(|e| format!("# cannot write this entry: {e}\n"));
        let _ = write!(out, "\n{body}");
    }
    out
}

/// Whether a trial name is one the suite can produce.
fn check_trial(
    trial: &str,
    cases: &[Case],
    catalogue: &Catalogue,
    backends: &[&str],
) -> Result<(), String> {
    let mut parts = trial.splitn(3, '/');
    let (Some(interface), Some(backend), Some(id)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(
            "not a trial name: write <interface>/<backend>/<case-id>, as reports name trials"
                .into(),
        );
    };
    let Some(interface) = Interface::from_name(interface) else {
        return Err(format!(
            "unknown interface {interface:?}: use v1, v2, v3, wasi-keyvalue or wasi-keyvalue-draft"
        ));
    };
    if !backends.contains(&backend) {
        return Err(format!(
            "the host has no backend {backend:?}: its trials are named with {}",
            backends.join(", ")
        ));
    }
    if id == crate::history::TRIAL_ID || id == crate::fuzz::TRIAL_ID {
        return Ok(());
    }
    let Some(case) = cases.iter().find(|c| c.id() == id) else {
        return Err(format!(
            "no case has the ID {id:?}: `kvconf list` shows them (a case that was renamed or removed must leave the file too)"
        ));
    };
    if !case.interfaces(catalogue).contains(&interface) {
        return Err(format!("case {id:?} does not run on {interface}"));
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases() -> Vec<Case> {
        crate::case::load_dir(&crate::case::default_dir(), Catalogue::builtin()).unwrap()
    }

    fn result(id: &str, verdict: Verdict) -> CaseResult {
        CaseResult::for_test(id, verdict)
    }

    fn load(text: &str) -> Result<Expectations, ExpectationsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expect.toml");
        std::fs::write(&path, text).unwrap();
        Expectations::load(&path, &cases(), &["mine"])
    }

    const ID: &str = "delete-absent/empty-store";

    #[test]
    fn unknown_ids_interfaces_and_missing_reasons_are_refused_with_a_reason() {
        let e = load(
            "[[expect]]\ntrial = \"v2/mine/no-such-case\"\noutcome = \"fail\"\nreason = \"r\"\n",
        )
        .unwrap_err();
        assert!(
            e.message.contains("no case has the ID \"no-such-case\""),
            "{e}"
        );
        let e = load("[[expect]]\ntrial = \"v9/mine/x\"\noutcome = \"fail\"\nreason = \"r\"\n")
            .unwrap_err();
        assert!(e.message.contains("unknown interface"), "{e}");
        let e = load(&format!(
            "[[expect]]\ntrial = \"v2/memroy/{ID}\"\noutcome = \"fail\"\nreason = \"r\"\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("no backend \"memroy\""), "{e}");
        let e = load(&format!(
            "[[expect]]\ntrial = \"v2/mine/{ID}\"\noutcome = \"fail\"\nreason = \" \"\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("empty reason"), "{e}");
        let e = load(&format!(
            "[[expect]]\ntrial = \"v2/mine/{ID}\"\noutcome = \"fail\"\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("reason"), "{e}");
        let e = load(&format!(
            "[[expect]]\ntrial = \"v2/mine/{ID}\"\noutcome = \"fail\"\nreason = \"r\"\nwhy = \"x\"\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("why"), "{e}");
    }

    #[test]
    fn expected_failures_pass_stale_ones_fail_and_strict_counts_undeclared_skips() {
        let x = load(&format!(
            "[[expect]]\ntrial = \"v2/mine/{ID}\"\noutcome = \"fail\"\nreason = \"known\"\n"
        ))
        .unwrap();
        let failing = [result(ID, Verdict::Fail("boom".into()))];
        let applied = x.apply(&failing);
        assert_eq!(applied.expected_failures, vec![format!("v2/mine/{ID}")]);
        assert!(applied.passed(true));
        let passing = [result(ID, Verdict::Pass)];
        let applied = x.apply(&passing);
        assert_eq!(applied.stale.len(), 1, "{applied:?}");
        assert!(!applied.passed(false));
        let skipped = [result(
            "open-twice/write-one-read-other",
            Verdict::Skip("no".into()),
        )];
        let applied = x.apply(&skipped);
        assert!(applied.passed(false));
        assert!(!applied.passed(true));
    }

    #[test]
    fn bless_round_trips_and_keeps_reasons() {
        let results = [
            result(ID, Verdict::Fail("  step 1 op 2: delete\n more".into())),
            result(
                "open-twice/write-one-read-other",
                Verdict::Skip("profile lacks it".into()),
            ),
            result("exists/false-then-true", Verdict::Pass),
        ];
        let text = bless(None, &results, "mine");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expect.toml");
        std::fs::write(&path, &text).unwrap();
        let x = Expectations::load(&path, &cases(), &["mine"])
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(x.entries.len(), 2);
        assert_eq!(
            x.entries[&format!("v2/mine/{ID}")].reason,
            "seen in a run: step 1 op 2: delete"
        );
        let applied = x.apply(&results);
        assert!(applied.passed(true), "{applied:?}");
        // A reason written by a person survives the next bless.
        let edited = text.replace("seen in a run: step 1 op 2: delete", "a real reason");
        std::fs::write(&path, &edited).unwrap();
        let x = Expectations::load(&path, &cases(), &["mine"]).unwrap();
        assert_eq!(bless(Some(&x), &results, "mine"), edited);
    }
}
