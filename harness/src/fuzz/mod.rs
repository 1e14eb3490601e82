//! Generated operation sequences: model-based property testing of a host.
//!
//! Hand-written cases check what someone thought of; this module searches for what nobody did. A proptest
//! state machine ([`proptest_state_machine`]) generates sequences of operations from the model's state (what
//! is open, which keys exist), each sequence is written as a conformance case whose every expectation the
//! model ([`crate::model`]) predicts under the host's profile, and the case runs through the driver like any
//! other. On a difference the sequence is shrunk, removing operations first and then simplifying them, to the
//! smallest that still shows it, and the result is a case file that can be kept as a regression case.
//!
//! Because every generated sequence *is* a case, one whose case-file text parses back to that very case (checked
//! for every sequence that shows a difference before it is shrunk and saved, and by a test for many sequences),
//! a saved counterexample runs exactly as it ran when it was found.
//!
//! The sequences reach the host through an [`Executor`]: in-process a [`Runner`](crate::runner::Runner), whose
//! every sequence gets fresh stores; out-of-process an [`adapter::Session`](crate::adapter::Session), which runs
//! each sequence as `kvconf run --adapter` runs a case (the runtime started once for the sequences' application
//! and reused, its stores emptied between two sequences), shrinking by running again against the runtime.
//!
//! What the generator puts pressure on:
//! - opens of granted, ungranted and undefined labels, up to and past the open-store bound;
//! - closes, v1 handle numbers that were closed or never issued, and fresh instances of the application;
//! - sets, overwrites, deletes, existence checks and listings (v3 streams read whole or in part, wasi pages);
//! - keys of 0 bytes (where the profile claims KEY-EMPTY) and 1 byte, and of the key limit minus one, exactly, and plus one byte in one-, two-, three- and
//!   four-byte UTF-8 characters; keys that differ only in case or in Unicode normalisation; keys holding ASCII
//!   punctuation (`#`, `?`, `/`, `\`, `%`, quotes and brackets), spaces (alone, leading, trailing, inner), control
//!   characters (tab, line feed, C0, DEL, NUL), stacked combining marks and characters outside the BMP;
//! - values of 0 and 1 bytes, every byte value, and the value limit minus one, exactly, and plus one byte;
//! - stores filled to one below, exactly at, and (without a declared limit) one past the tuple figure;
//! - wasi increments (including overflow), compare-and-swap and batches; v3 operations in flight together.
//!
//! The empty key is generated only for a host whose profile claims to accept it (KEY-EMPTY is what Spin is
//! observed to do, not a requirement), and a v1 handle number is used after a later `open` only when it was closed
//! and the profile claims `v1-fresh-handles`, since a host may reuse closed numbers (HANDLE-REUSE is observed, not
//! required) and a forged number may be one a later `open` gives; such a sequence requires the claim.
//!
//! The module by job: `state` holds the moves and the model state they lead to, `strategy` which moves are
//! possible from a state, `write` a sequence as a case, `search` generates and runs sequences until one shows a
//! difference, `shrink` shrinks it; this file puts them together ([`fuzz`], [`check_sequences`]) and writes up
//! what it finds.

use crate::case::{
    self, AppSection, Case, CaseFile, EntrySpec, ExpectEntry, KeysSpec, LoadExpectation, OpEntry,
    OpKind, StepSection,
};
use crate::catalogue::Catalogue;
use crate::interface::Interface;
use crate::model::{DEFAULT_LABEL, ModelApp, ModelInstance};
use crate::outcome::{ErrorKind, Expected, Operation};
use crate::profile::{Capability, Profile, UnconfiguredLabel};
use crate::runner::{Executor, Verdict};
use crate::value::{KeySpec, Size, ValueSpec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use proptest_state_machine::Sequential;
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod search;
mod shrink;
mod state;
mod strategy;
mod write;

use search::*;
use shrink::*;
use state::*;
use strategy::*;
use write::*;

pub use state::{GenState, Move};
pub use strategy::{OPEN_MANY_MAX, sequences};
pub use write::{Generated, build};

/// The case ID of a generated sequence (and of the case directory it runs in, in-process).
const SEQUENCE_ID: &str = "fuzz/sequence";

/// The component every generated sequence runs as.
const COMPONENT: &str = "main";

/// Labels the generator opens: granted ones, one defined but not granted, one granted (where the profile
/// loads such an application) but undefined, and one that differs from "default" only in case.
const LABELS: [&str; 5] = [DEFAULT_LABEL, "cache", "spare", "ghost", "Default"];

/// Short keys: a one-byte key, keys that differ only in case, `é` precomposed and decomposed, non-Latin text.
const KEYS: [&str; 8] = ["k", "K", "a", "é", "e\u{301}", "ключ", "🔑", "k2"];

/// Keys whose text a host might refuse, rewrite, trim or cut (KEY-TEXT: any string is a key): the characters
/// document stores refuse in ids, whitespace, control characters, and characters outside the BMP.
const TEXT_KEYS: [&str; 20] = [
    "a#b",
    "q?x",
    "p/q",
    "b\\s",
    "%2F",
    "a.b",
    "{[(<",
    "'\"`",
    "@:;,",
    "!$&*+=|~^",
    " ",
    " k",
    "k ",
    "a b",
    "\t",
    "line\n",
    "\u{1}\u{1f}",
    "\u{7f}",
    "a\u{0}b",
    "e\u{301}\u{301}𝄞",
];

/// Short values: one byte, text, non-ASCII text, and the empty value. None is decimal text or 8 bytes long,
/// so none can be taken for a counter by a host that counts in text or in 8-byte integers.
const TEXTS: [&str; 4] = ["v", "value-one", "другое", ""];

/// The template of the keys a fill writes.
const FILL_TEMPLATE: &str = "f{i}";

/// Forged v1 handle numbers start here, far from any number a host issues first.
const FORGED_BASE: u32 = 4_000_000;

/// The application a generated sequence runs in, under a host's profile.
#[derive(Debug)]
pub struct Setup {
    /// The interface version the sequence speaks.
    pub interface: Interface,
    /// What the host claims.
    pub profile: Profile,
    grants: BTreeMap<String, Vec<String>>,
    labels: Vec<String>,
    /// The last [`GenState::id`] given out.
    states: AtomicU64,
}

impl Setup {
    /// The application for `interface` under `profile`: "default" and "cache" granted and defined, "spare"
    /// defined but not granted, and "ghost" granted but undefined where the profile loads such an application.
    pub fn new(interface: Interface, profile: Profile) -> Setup {
        let mut granted = vec![DEFAULT_LABEL.to_string(), "cache".to_string()];
        if profile.unconfigured_label == UnconfiguredLabel::NoSuchStore {
            granted.push("ghost".to_string());
        }
        Setup {
            interface,
            profile,
            grants: BTreeMap::from([(COMPONENT.to_string(), granted)]),
            labels: vec!["cache".to_string(), "spare".to_string()],
            states: AtomicU64::new(0),
        }
    }

    /// An ID no state of this setup has had.
    fn fresh_state_id(&self) -> u64 {
        self.states.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The environment variable that overrides the seed of the generated sequences of a test binary
/// ([`crate::libtest::Suite::seed`]).
pub const SEED_VARIABLE: &str = "KVCONF_SEED";
/// The environment variable that says where a test binary saves a difference its generated sequences find
/// ([`crate::libtest::Suite::save`]).
pub const SAVE_VARIABLE: &str = "KVCONF_SAVE";

/// The ID of the trial of generated sequences, in reports and the libtest suite ([`crate::libtest::Suite`]).
pub const TRIAL_ID: &str = "generated/sequences";

/// How to run generated sequences.
#[derive(Clone, Debug)]
pub struct FuzzConfig {
    /// Sequences to generate (per interface version and backend).
    pub sequences: u32,
    /// The seed: the same seed generates the same sequences.
    pub seed: u64,
    /// The most moves in one sequence.
    pub max_moves: usize,
    /// The most shrinking runs after a difference.
    pub max_shrink_iters: u32,
}

impl Default for FuzzConfig {
    fn default() -> Self {
        FuzzConfig {
            sequences: 256,
            seed: 1,
            max_moves: 24,
            max_shrink_iters: 2048,
        }
    }
}

/// A difference found and shrunk.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Which generated sequence (from 1) first showed a difference.
    pub sequence: u64,
    /// The shrunk sequence as a case, ready to save.
    pub generated: Generated,
    /// The case file's text.
    pub text: String,
    /// Expected against actual, operation by operation, and the transcript.
    pub detail: String,
    /// Runs spent shrinking.
    pub shrink_runs: u64,
}

impl Finding {
    /// The file name the case is saved under (`kvconf fuzz --save`, the libtest suite's `save`): its ID, with
    /// `__` for each `/`.
    pub fn file_name(&self) -> String {
        self.generated.file.id.replace('/', "__") + ".toml"
    }
}

/// What running generated sequences on one interface version and backend found.
#[derive(Clone, Debug)]
pub struct FuzzOutcome {
    /// The interface version.
    pub interface: Interface,
    /// The host's name: the backend in-process, the adapter's name out-of-process ([`Executor::host_name`]).
    pub backend: String,
    /// Sequences run before a difference (or all of them).
    pub sequences: u64,
    /// Operations those sequences ran (repetitions expanded).
    pub operations: u64,
    /// The shrunk difference, if one was found.
    pub finding: Option<Finding>,
    /// A fault in kvconf itself (a generated case it cannot read back, say), if any.
    pub error: Option<String>,
}

/// The RNG seed for `seed` and `interface`: each version gets its own sequences, the same on every backend.
fn rng_seed(seed: u64, interface: Interface) -> [u8; 32] {
    let mut state = seed ^ (interface as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        let bytes = crate::value::pattern(state, 8);
        chunk.copy_from_slice(&bytes);
        state = state.wrapping_add(1);
    }
    out
}

/// Runs `config.sequences` generated sequences on `interface` against the host `runner` reaches (a
/// [`Runner`](crate::runner::Runner) in-process, an [`adapter::Session`](crate::adapter::Session)
/// out-of-process), one after another (the next written while the host runs one), calling `progress` with the
/// operations of each sequence that ran; on a difference, shrinks it (rerunning against the same host) and stops.
///
/// Every sequence is a case with the ID `fuzz/sequence` (`fuzz/sequence-2`, `fuzz/sequence-3` and so on where
/// the executor runs several at once, [`Executor::concurrent_cases`], each of its threads using one).
/// In-process their stores live in directories under the runner's work directory named by those IDs: give
/// concurrent calls runners with different work directories. Out-of-process the sequences share the session's
/// runtime and its stores: give concurrent calls sessions of their own.
pub fn fuzz<E: Executor + ?Sized>(
    runner: &E,
    interface: Interface,
    config: &FuzzConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> FuzzOutcome {
    let backend = runner.host_name().to_string();
    let setup = Arc::new(Setup::new(interface, runner.profile().clone()));
    let last: Arc<Mutex<Log>> = Arc::default();
    let strategy = generator(setup.clone(), config.max_moves, last.clone());
    // The search and the shrinking are this module's (below); proptest's runner is the generator's RNG and
    // its count of rejected moves.
    let proptest_config = Config {
        failure_persistence: None,
        max_local_rejects: 1 << 20,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(config.seed, interface));
    let mut test_runner = TestRunner::new_with_rng(proptest_config, rng);
    let search = search(
        runner,
        &setup,
        &strategy,
        &last,
        &mut test_runner,
        config,
        progress,
    );
    let mut outcome = FuzzOutcome {
        interface,
        backend,
        sequences: search.passed + u64::from(search.failing.is_some()),
        operations: search.operations,
        finding: None,
        error: search.error,
    };
    let Some(mut tree) = search.failing.filter(|_| outcome.error.is_none()) else {
        return outcome;
    };
    let shrink_runs = AtomicU64::new(0);
    let found = shrink(runner, &setup, &last, &mut tree, config, &shrink_runs)
        .map(|moves| minimise(runner, &setup, moves, &shrink_runs))
        .and_then(|moves| describe(runner, &setup, &moves, config, outcome.sequences));
    match found {
        Ok(mut finding) => {
            finding.shrink_runs = shrink_runs.load(Ordering::SeqCst);
            outcome.finding = Some(finding);
        }
        Err(e) => outcome.error = Some(e),
    }
    outcome
}

/// The generator's log of the moves it applied last, if it is the log of exactly `moves`.
fn take_log(last: &Mutex<Log>, moves: &[Move]) -> Option<Log> {
    let log = last.lock().unwrap_or_else(|e| e.into_inner()).take();
    is_log_of(&log, moves).then_some(log)
}

/// One sequence's run: the first difference (its detail and the move it came from), and the operations run.
struct SequenceRun {
    difference: Option<(String, usize)>,
    operations: usize,
}

impl SequenceRun {
    /// Tells the generator's shrinking (`seen`) how many of the sequence's `moves` the run reached: up to the
    /// move that differed, or all of them.
    fn tell_reached(&self, moves: usize, seen: Option<&AtomicUsize>) {
        if let Some(seen) = seen {
            let reached = self.difference.as_ref().map_or(moves, |(_, mv)| mv + 1);
            seen.store(reached, Ordering::SeqCst);
        }
    }
}

/// Runs `moves` as a case, written from `log` (the model's run of exactly these moves) if given.
fn run_moves<E: Executor + ?Sized>(
    runner: &E,
    setup: &Arc<Setup>,
    moves: &[Move],
    log: Option<Log>,
) -> Result<SequenceRun, String> {
    let generated = write_moves(setup, moves, log, SEQUENCE_ID)?;
    run_generated(runner, setup, &generated, moves.len())
}

/// `moves` written as the case `id`, from `log` (the model's run of exactly these moves) if given.
fn write_moves(
    setup: &Arc<Setup>,
    moves: &[Move],
    log: Option<Log>,
    id: &str,
) -> Result<Generated, String> {
    let title = "a generated sequence";
    match log {
        Some(log) => write(setup, &log, id, title, None),
        None => build(setup, moves, id, title, None),
    }
    .map_err(|e| format!("kvconf generated an invalid sequence: {e}"))
}

/// Runs a sequence already written as a case (`moves` of them).
fn run_generated<E: Executor + ?Sized>(
    runner: &E,
    setup: &Arc<Setup>,
    generated: &Generated,
    moves: usize,
) -> Result<SequenceRun, String> {
    let case = generated.case()?;
    let result = runner.run_case(&case, setup.interface);
    match result.verdict {
        Verdict::Pass => Ok(SequenceRun {
            difference: None,
            operations: generated.operations,
        }),
        Verdict::Fail(detail) => {
            // What is found is saved as text: it must read back as the case that ran.
            generated.read_back()?;
            let mv = result
                .first_difference
                .and_then(|(step, op)| generated.move_of.get(step)?.get(op).copied())
                .unwrap_or(moves.saturating_sub(1));
            Ok(SequenceRun {
                difference: Some((detail, mv)),
                operations: generated.operations,
            })
        }
        Verdict::Skip(reason) => Err(format!(
            "kvconf generated a case the host's own profile skips ({reason}): a fault in the generator"
        )),
    }
}

/// Runs the minimal sequence once more and writes it up as a case with the difference it shows.
fn describe<E: Executor + ?Sized>(
    runner: &E,
    setup: &Arc<Setup>,
    moves: &[Move],
    config: &FuzzConfig,
    sequence: u64,
) -> Result<Finding, String> {
    let interface = setup.interface;
    let backend = runner.host_name().to_string();
    let draft = build(setup, moves, SEQUENCE_ID, "", None)?;
    let case = draft.read_back()?;
    let result = runner.run_case(&case, interface);
    let Verdict::Fail(detail) = result.verdict else {
        return Err(format!(
            "the shrunk sequence no longer shows a difference (the host is not deterministic?):\n{}",
            draft.text("")
        ));
    };
    let focus = result.first_difference;
    // The operation that differed, as transcripts show it.
    let what = focus
        .and_then(|(step, op)| {
            let plan = case.plan(interface, &setup.profile).ok()?;
            Some(plan.steps.get(step)?.ops.get(op)?.to_string())
        })
        .unwrap_or_else(|| "the sequence".into());
    let safe_backend: String = backend
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let id = format!(
        "fuzz/{}-{safe_backend}-seed{}-sequence{sequence}",
        interface.name(),
        config.seed
    );
    let title = format!("found by kvconf fuzz: {what} differs from the model");
    let generated = build(setup, moves, &id, &title, focus)?;
    let comment = format!(
        "Found by `kvconf fuzz --interface {} {} --seed {} --max-moves {} --sequences {}` \
         (sequence {sequence}), shrunk to {} operation(s).\nExpectations are the model's, under profile {}.",
        interface.name(),
        runner.command_flags(),
        config.seed,
        config.max_moves,
        sequence,
        generated.entries,
        setup.profile.name,
    );
    let text = generated.text(&comment);
    Ok(Finding {
        sequence,
        generated,
        text,
        detail,
        shrink_runs: 0,
    })
}

/// Runs `config.sequences` generated sequences on `interface` as one trial ([`TRIAL_ID`]): a pass, or a failure
/// showing the shrunk difference as a case file (saved under `save` if given) and how to reproduce it.
pub fn check_sequences<E: Executor + ?Sized>(
    runner: &E,
    interface: Interface,
    config: &FuzzConfig,
    save: Option<&Path>,
) -> crate::runner::CaseResult {
    let start = std::time::Instant::now();
    let outcome = fuzz(runner, interface, config, &|_| {});
    let mut statements = Vec::new();
    let verdict = match (&outcome.error, &outcome.finding) {
        (Some(error), _) => Verdict::Fail(format!("kvconf itself failed: {error}")),
        (None, Some(finding)) => {
            statements.clone_from(&finding.generated.file.statements);
            let seed = config.seed;
            let saved = match save {
                None => format!("({SAVE_VARIABLE}=<dir> saves it)"),
                Some(dir) => {
                    let path = dir.join(finding.file_name());
                    match std::fs::create_dir_all(dir)
                        .and_then(|()| std::fs::write(&path, &finding.text))
                    {
                        Ok(()) => format!(
                            "(saved as {}: keep it as a regression case, run by `Suite::cases` or `kvconf run --cases`)",
                            path.display()
                        ),
                        Err(e) => format!("(could not be saved as {}: {e})", path.display()),
                    }
                }
            };
            Verdict::Fail(format!(
                "generated sequence {sequence} of seed {seed} differs from the model; shrunk in {runs} runs to \
                 {entries} operation(s):\n{detail}\n\nas a case file {saved}:\n\n{text}\n\
                 The same seed gives the same sequences: rerun this trial with {SEED_VARIABLE}={seed}, or run \
                 `kvconf fuzz --interface {interface} --seed {seed} --sequences {sequence}` against the reference host.",
                sequence = finding.sequence,
                runs = finding.shrink_runs,
                entries = finding.generated.entries,
                detail = finding.detail.trim_end(),
                text = finding.text,
                interface = interface.name(),
            ))
        }
        (None, None) => Verdict::Pass,
    };
    crate::runner::CaseResult {
        id: TRIAL_ID.to_string(),
        title: format!(
            "{} generated sequences of seed {} (up to {} moves each) agree with the model",
            config.sequences, config.seed, config.max_moves
        ),
        interface,
        backend: runner.host_name().to_string(),
        statements,
        verdict,
        transcript: format!(
            "{} sequences, {} operations\n",
            outcome.sequences, outcome.operations
        ),
        millis: start.elapsed().as_millis() as u64,
        first_difference: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ReferenceHost;
    use crate::value::fill_template;

    fn setup(interface: Interface) -> Arc<Setup> {
        Arc::new(Setup::new(interface, ReferenceHost::sip010_profile()))
    }

    #[test]
    fn the_search_draws_the_sequences_proptests_runner_draws() {
        // A seed keeps giving the sequences (and so the findings) it gave when proptest's runner ran the search.
        let strategy = sequences(setup(Interface::V2), 24);
        let rng = || TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(3, Interface::V2));
        let config = Config {
            cases: 16,
            failure_persistence: None,
            ..Config::default()
        };
        let drawn = Mutex::new(Vec::new());
        TestRunner::new_with_rng(config.clone(), rng())
            .run(&strategy, |(_, moves, _)| {
                drawn.lock().unwrap().push(moves);
                Ok(())
            })
            .unwrap();
        let mut runner = TestRunner::new_with_rng(config, rng());
        let ours: Vec<Vec<Move>> = (0..16)
            .map(|_| {
                reseed(runner.rng());
                strategy.new_tree(&mut runner).unwrap().current().1
            })
            .collect();
        assert_eq!(drawn.into_inner().unwrap(), ours);
    }

    #[test]
    fn generated_sequences_are_valid_cases_whose_expectations_are_the_models() {
        for interface in Interface::ALL {
            let setup = setup(interface);
            let strategy = sequences(setup.clone(), 24);
            let mut runner = TestRunner::new_with_rng(
                Config::default(),
                TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(7, interface)),
            );
            for _ in 0..64 {
                let (_, moves, _) = strategy.new_tree(&mut runner).unwrap().current();
                let generated = build(&setup, &moves, "fuzz/t", "t", None).unwrap();
                let case = generated.read_back().unwrap();
                let plan = case.plan(interface, &setup.profile).unwrap();
                let predicted = crate::model::predict(&setup.profile, &plan).unwrap();
                for (step, expected) in plan.steps.iter().zip(predicted) {
                    assert_eq!(step.expected, expected, "{}", generated.text(""));
                }
            }
        }
    }

    /// The case a generated sequence runs as (`Generated::case`, not written out as text) is exactly the case
    /// its text parses back to, as a saved counterexample is read: for many sequences of every version, under
    /// both built-in profiles, written as fuzz writes them (from the generator's run of the moves) and as
    /// `build` writes them.
    #[test]
    fn generated_cases_are_the_cases_their_text_reads_back_as() {
        let profiles = [
            ReferenceHost::sip010_profile(),
            ReferenceHost::unbounded_profile(),
        ];
        for profile in profiles {
            for interface in Interface::ALL {
                let last: Arc<Mutex<Log>> = Arc::default();
                let setup = Arc::new(Setup::new(interface, profile.clone()));
                let strategy = generator(setup.clone(), 24, last.clone());
                let mut runner = TestRunner::new_with_rng(
                    Config::default(),
                    TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(11, interface)),
                );
                for _ in 0..128 {
                    let (_, moves, _) = strategy.new_tree(&mut runner).unwrap().current();
                    let log = last.lock().unwrap().take();
                    assert!(is_log_of(&log, &moves));
                    let written = write(&setup, &log, "fuzz/sequence", "t", None).unwrap();
                    let built = build(&setup, &moves, "fuzz/sequence", "t", None).unwrap();
                    let text = built.text("");
                    assert_eq!(written.text(""), text);
                    let case = written.case().unwrap();
                    let read = written.read_back().unwrap();
                    assert_eq!(case.file, read.file, "{text}");
                    assert_eq!(case.path, read.path);
                }
            }
        }
    }

    #[test]
    fn fill_index_reads_exactly_the_keys_a_fill_writes() {
        for i in [0, 7, 10, 1023, u64::MAX] {
            assert_eq!(fill_index(&fill_template(FILL_TEMPLATE, i)), Some(i));
        }
        for key in [
            "f",
            "f01",
            "f+1",
            "f-1",
            "f 1",
            "F1",
            "g1",
            "f1x",
            "f18446744073709551616",
        ] {
            assert_eq!(fill_index(key), None, "{key}");
        }
    }

    #[test]
    fn a_closed_number_is_used_after_a_later_open_only_under_the_fresh_handles_claim() {
        let get_stale = Move::Stale(OpEntry {
            key: Some(KeySpec::Text("k".into())),
            ..entry(OpKind::Get, 0)
        });
        let open = || Move::Open {
            label: DEFAULT_LABEL.into(),
        };
        let closed = vec![
            open(),
            Move::Op(entry(OpKind::Close, 0)),
            open(),
            get_stale.clone(),
        ];
        // The reference profile claims it: the sequence is a case that requires the claim and cites HANDLE-REUSE,
        // and the model expects the old number to be refused.
        let claims = setup(Interface::V1);
        let generated = build(&claims, &closed, "fuzz/t", "t", None).unwrap();
        assert!(
            generated
                .file
                .requires
                .contains(&Capability::V1FreshHandles),
            "{}",
            generated.text("")
        );
        assert!(
            generated
                .file
                .statements
                .iter()
                .any(|s| s == "HANDLE-REUSE")
        );
        let case = generated.case().unwrap();
        let plan = case.plan(Interface::V1, &claims.profile).unwrap();
        let predicted = crate::model::predict(&claims.profile, &plan).unwrap();
        assert_eq!(
            predicted[0].last(),
            Some(&Expected::Error(ErrorKind::InvalidStore)),
            "{predicted:?}"
        );
        // A closed number used before any later open needs no claim.
        let early = build(&claims, &closed[..2], "fuzz/t", "t", None).unwrap();
        assert!(!early.file.requires.contains(&Capability::V1FreshHandles));
        // Without the claim, or for a forged number (one a later open may give), the sequence is refused.
        let no_claim = Arc::new(Setup::new(
            Interface::V1,
            Profile {
                v1_fresh_handles: false,
                ..ReferenceHost::sip010_profile()
            },
        ));
        let refused = build(&no_claim, &closed, "fuzz/t", "t", None).unwrap_err();
        assert!(refused.contains("no usable closed handle"), "{refused}");
        let forged = vec![Move::Forge, open(), get_stale];
        assert!(build(&claims, &forged, "fuzz/t", "t", None).is_err());
    }

    #[test]
    fn the_generator_writes_batches_at_and_past_the_limits() {
        // Through both wasi editions: set-many with a value at the value limit, and set-many of one pair
        // refused past a limit (LIMIT-BEYOND).
        for interface in [Interface::WasiKeyvalue, Interface::WasiKeyvalueDraft] {
            let setup = setup(interface);
            let strategy = sequences(setup.clone(), 24);
            let mut runner = TestRunner::new_with_rng(
                Config::default(),
                TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(7, interface)),
            );
            let (mut at, mut refused) = (0, 0);
            for _ in 0..256 {
                let (_, moves, _) = strategy.new_tree(&mut runner).unwrap().current();
                let generated = build(&setup, &moves, "fuzz/t", "t", None).unwrap();
                let set_many = generated.file.steps.iter().flat_map(|s| &s.ops);
                for op in set_many.filter(|op| op.op == OpKind::SetMany) {
                    let named = |name: &str| {
                        op.entries.iter().flatten().any(|e| {
                            matches!(&e.value, Some(ValueSpec::Pattern { len, .. }) if format!("{len:?}").contains(name))
                        })
                    };
                    at += usize::from(named("value-max"));
                    refused += usize::from(matches!(op.expect, ExpectEntry::Error(_)));
                }
            }
            assert!(
                at > 0 && refused > 0,
                "{interface}: {at} set-many at the value limit, {refused} refused"
            );
        }
    }

    #[test]
    fn the_same_seed_generates_the_same_sequences() {
        let setup = setup(Interface::V2);
        let strategy = sequences(setup.clone(), 24);
        let texts = |seed| {
            let mut runner = TestRunner::new_with_rng(
                Config::default(),
                TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(seed, Interface::V2)),
            );
            (0..8)
                .map(|_| {
                    let (_, moves, _) = strategy.new_tree(&mut runner).unwrap().current();
                    build(&setup, &moves, "fuzz/t", "t", None).unwrap().text("")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(3), texts(3));
        assert_ne!(texts(3), texts(4));
    }
}
