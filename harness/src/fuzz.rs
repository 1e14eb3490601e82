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
use proptest::strategy::Union;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use proptest_state_machine::Sequential;
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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

/// One step of a generated sequence.
///
/// Moves name their intent (open a label, fill a store, operate on an open store) and are bound to concrete
/// slots only when applied, so that removing a move while shrinking leaves the others meaningful: an
/// operation whose store was never opened uses the first store that is.
#[derive(Clone, Debug, PartialEq)]
pub enum Move {
    /// The instance ends; what follows runs in a fresh instance of the same application.
    NewInstance,
    /// Open a label into the next free slot.
    Open {
        /// The label.
        label: String,
    },
    /// Open "default" into fresh slots until the open-store bound is reached (64 times with no bound).
    OpenMany,
    /// Write the keys `f0`, `f1`, ... until the store holds the tuple figure plus `target` (-1, 0 or +1).
    Fill {
        /// The slot of the store.
        slot: u32,
        /// Where to stop, relative to the tuple figure.
        target: i64,
    },
    /// One operation on an open store (its expectation is filled in from the model).
    Op(OpEntry),
    /// v1: one operation on a slot whose handle is not open (closed, or forged).
    Stale(OpEntry),
    /// v1: a handle number no host issued, in the next free slot.
    Forge,
    /// v3: operations in flight together (`concurrently`).
    Together(Vec<OpEntry>),
}

/// v1: a slot holding a number that is not open.
#[derive(Clone, Copy, Debug)]
struct Stale {
    /// The opens so far when it stopped being open.
    since: u64,
    /// Whether it is forged (a number the host never gave, which a later open may give) rather than closed.
    forged: bool,
}

/// One entry a move comes to, as applied to the model.
#[derive(Debug)]
struct Applied {
    entry: OpEntry,
    /// The outcome of each of its operations (repetitions expanded).
    outcomes: Vec<Expected>,
    /// For a single delete or increment: whether the store held the key before the move.
    held: Option<bool>,
}

/// A move applied to the model: the entries it came to, and the moves applied before it.
#[derive(Debug)]
struct Logged {
    mv: Move,
    applied: Vec<Applied>,
    /// [`GenState::closed_after_open`] after the move.
    closed_after_open: bool,
    before: Log,
}

/// The moves applied to a state so far, latest first; clones of a state share it.
type Log = Option<Arc<Logged>>;

/// The moves of a log, first to last.
fn logged(log: &Log) -> Vec<&Logged> {
    let mut moves = Vec::new();
    let mut next = log.as_deref();
    while let Some(l) = next {
        moves.push(l);
        next = l.before.as_deref();
    }
    moves.reverse();
    moves
}

/// Whether `log` is the log of exactly `moves`.
fn is_log_of(log: &Log, moves: &[Move]) -> bool {
    let mut next = log.as_deref();
    for mv in moves.iter().rev() {
        match next {
            Some(l) if l.mv == *mv => next = l.before.as_deref(),
            _ => return false,
        }
    }
    next.is_none()
}

/// The model's state as the generator sees it.
#[derive(Clone, Debug)]
pub struct GenState {
    setup: Arc<Setup>,
    /// Which state this is: new for every state [`GenState::new`] makes and every move applied, kept by a
    /// clone (whose contents are the same).
    id: u64,
    app: ModelApp,
    inst: ModelInstance,
    /// Operations run by the current instance.
    in_step: usize,
    /// A handle that is not open was used: the instance must end there (a host may trap).
    ended: bool,
    /// Successful opens in this instance so far.
    opens: u64,
    /// v1: each slot holding a number that is not open.
    stale_since: BTreeMap<u32, Stale>,
    /// v1: a closed number was used after a later open, which only a host claiming `v1-fresh-handles` must
    /// still refuse (the case then requires the claim).
    closed_after_open: bool,
    /// Keys and values used so far, for the generator to come back to.
    keys: Vec<KeySpec>,
    /// The moves applied so far, with what each came to: what a case is written from ([`build`]).
    log: Log,
}

impl GenState {
    fn new(setup: Arc<Setup>) -> GenState {
        let app = ModelApp::load(&setup.profile, &setup.grants, &setup.labels)
            .expect("the generated application loads under the profile it was made for");
        let inst = app.instance(COMPONENT, setup.interface);
        GenState {
            id: setup.fresh_state_id(),
            setup,
            app,
            inst,
            in_step: 0,
            ended: false,
            opens: 0,
            stale_since: BTreeMap::new(),
            closed_after_open: false,
            keys: Vec::new(),
            log: None,
        }
    }

    /// v1: whether the number in `slot`, not open, may be used now: with no open since it stopped being open (a
    /// host may give a closed or forged number to a later open), or, for a closed number, always under a profile
    /// claiming `v1-fresh-handles` (HANDLE-REUSE).
    fn stale_usable(&self, slot: u32) -> bool {
        self.stale_since.get(&slot).is_some_and(|stale| {
            stale.since == self.opens || (self.setup.profile.v1_fresh_handles && !stale.forged)
        })
    }

    /// Applies a move to the model and logs it with the entries it came to, or says why the move is not
    /// acceptable here.
    fn advance(&mut self, mv: &Move) -> Result<(), String> {
        self.id = self.setup.fresh_state_id();
        let applied = self.apply_move(mv)?;
        self.log = Some(Arc::new(Logged {
            mv: mv.clone(),
            applied,
            closed_after_open: self.closed_after_open,
            before: self.log.take(),
        }));
        Ok(())
    }

    /// Applies a move to the model: the entries it comes to, each with the outcome of each of its operations.
    fn apply_move(&mut self, mv: &Move) -> Result<Vec<Applied>, String> {
        if let Move::NewInstance = mv {
            if self.in_step == 0 {
                return Err("an instance that ran nothing".into());
            }
            self.inst = self.app.instance(COMPONENT, self.setup.interface);
            self.in_step = 0;
            self.ended = false;
            self.opens = 0;
            self.stale_since.clear();
            return Ok(Vec::new());
        }
        if self.ended {
            return Err("the instance has ended".into());
        }
        let profile = self.setup.profile.clone();
        let entries: Vec<OpEntry> = match mv {
            Move::NewInstance => Vec::new(),
            Move::Open { label } => vec![OpEntry {
                label: Some(label.clone()),
                ..entry(OpKind::Open, free_slot(&self.inst))
            }],
            Move::OpenMany => {
                let open = self.inst.open_slots().len() as i64;
                let count = match profile.open_stores {
                    Some(bound) if (bound as i64) > open => named("open-max", -open),
                    Some(_) => return Err("the open-store table is full".into()),
                    None => Size::Literal(64),
                };
                let first = self.inst.used_slots().last().map_or(0, |s| s + 1);
                vec![OpEntry {
                    label: Some(DEFAULT_LABEL.into()),
                    repeat: Some(count),
                    each_slot: true,
                    ..entry(OpKind::Open, first)
                }]
            }
            Move::Fill { slot, target } => {
                let slot = self.bind_slot(*slot)?;
                let label = self.label_of(slot)?;
                let (name, base) = match profile.limits.tuples {
                    Some(limit) => ("tuples-max", limit),
                    None => ("tuples-min", profile.tuples_min()),
                };
                let offset = target - self.app.key_count(&label) as i64;
                if base as i64 + offset < 1 {
                    return Err("the store already holds that many keys".into());
                }
                vec![OpEntry {
                    key: Some(KeySpec::Text(FILL_TEMPLATE.into())),
                    value: Some(ValueSpec::Text("x".into())),
                    repeat: Some(named(name, offset)),
                    ..entry(OpKind::Set, slot)
                }]
            }
            Move::Op(e) => vec![self.bind(e)?],
            Move::Stale(e) => {
                let slot = e.slot.resolve(&profile).map_err(|e| e.to_string())? as u32;
                if !self.stale_usable(slot) {
                    return Err("no usable closed handle in that slot".into());
                }
                vec![e.clone()]
            }
            Move::Forge => {
                let slot = free_slot(&self.inst);
                vec![OpEntry {
                    handle: Some(FORGED_BASE + slot),
                    ..entry(OpKind::ForgeHandle, slot)
                }]
            }
            Move::Together(members) => {
                let mut entries = vec![OpEntry {
                    count: Some(members.len() as u32),
                    ..entry(OpKind::Concurrently, 0)
                }];
                for m in members {
                    entries.push(self.bind(m)?);
                }
                entries
            }
        };
        // Whether each store held its key before the move (the entries are bound, nothing applied yet).
        let held: Vec<Option<bool>> = entries.iter().map(|e| self.held_before(e)).collect();
        let mut all = Vec::with_capacity(entries.len());
        let last = entries.len().saturating_sub(1);
        for ((n, e), held) in entries.into_iter().enumerate().zip(held) {
            let outcomes = self.apply_entry(&e)?;
            if outcomes.iter().any(invalid_handle) {
                if n != last {
                    return Err("a handle that is not open, used inside a group".into());
                }
                self.ended = true;
            }
            for key in entry_keys(&e) {
                if !self.keys.contains(key) {
                    self.keys.push(key.clone());
                }
            }
            all.push(Applied {
                entry: e,
                outcomes,
                held,
            });
        }
        Ok(all)
    }

    /// For a single delete or increment: whether the store holds the key now.
    fn held_before(&self, e: &OpEntry) -> Option<bool> {
        if !matches!(e.op, OpKind::Delete | OpKind::Increment) || e.repeat.is_some() {
            return None;
        }
        let slot = e.slot.resolve(&self.setup.profile).ok()? as u32;
        let (_, label) = self
            .inst
            .open_slots()
            .into_iter()
            .find(|(s, _)| *s == slot)?;
        let key = e.key.as_ref()?.expand(&self.setup.profile, 0).ok()?;
        Some(self.app.holds(&label, &key).is_some())
    }

    /// `slot` if it holds an open store, else the first slot that does.
    fn bind_slot(&self, slot: u32) -> Result<u32, String> {
        let open = self.inst.open_slots();
        if open.iter().any(|(s, _)| *s == slot) {
            return Ok(slot);
        }
        open.first()
            .map(|(s, _)| *s)
            .ok_or_else(|| "no store is open".to_string())
    }

    fn label_of(&self, slot: u32) -> Result<String, String> {
        self.inst
            .open_slots()
            .into_iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, l)| l)
            .ok_or_else(|| format!("slot {slot} holds no open store"))
    }

    /// An operation bound to this state: its store slot open, its cas slot free (a new cas) or held.
    fn bind(&self, e: &OpEntry) -> Result<OpEntry, String> {
        let mut e = e.clone();
        if uses_store(e.op) {
            let slot = e
                .slot
                .resolve(&self.setup.profile)
                .map_err(|e| e.to_string())? as u32;
            e.slot = Size::Literal(u64::from(self.bind_slot(slot)?));
        }
        let held = self.inst.cas_slots();
        match e.op {
            OpKind::CasNew => e.cas = Some((0..).find(|c| !held.contains(c)).unwrap_or(0)),
            OpKind::CasCurrent | OpKind::CasSwap => {
                let wanted = e.cas.unwrap_or(0);
                if !held.contains(&wanted) {
                    e.cas = Some(*held.first().ok_or("no cas is held")?);
                }
            }
            _ => {}
        }
        Ok(e)
    }

    /// Applies one entry (all its repetitions) to the model.
    fn apply_entry(&mut self, e: &OpEntry) -> Result<Vec<Expected>, String> {
        let ops = case::expand_ops(e, &self.setup.profile).map_err(|e| e.to_string())?;
        if ops.is_empty() {
            return Err("an entry repeated zero times".into());
        }
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in &ops {
            if let Some(slot) = store_slot(op)
                && let Some(stale) = self.stale_since.get(&slot)
                && stale.since != self.opens
            {
                if !self.stale_usable(slot) {
                    return Err("a closed handle number used after a later open".into());
                }
                self.closed_after_open = true;
            }
            let was_open = matches!(op, Operation::Close { slot } if self.inst.open_slots().iter().any(|(s, _)| s == slot));
            let expected = self.app.apply(&mut self.inst, op);
            match &expected {
                Expected::ScriptError(e) => return Err(e.clone()),
                Expected::NotRun => return Err("after a trap".into()),
                _ => {}
            }
            match op {
                Operation::Open { .. } if expected == Expected::Opened => self.opens += 1,
                Operation::Close { slot } if was_open && self.setup.interface == Interface::V1 => {
                    let stale = Stale {
                        since: self.opens,
                        forged: false,
                    };
                    self.stale_since.insert(*slot, stale);
                }
                Operation::ForgeHandle { slot, .. } => {
                    let stale = Stale {
                        since: self.opens,
                        forged: true,
                    };
                    self.stale_since.insert(*slot, stale);
                }
                _ => {}
            }
            outcomes.push(expected);
        }
        if outcomes.windows(2).any(|w| w[0] != w[1]) {
            return Err("the repetitions of one entry would have different outcomes".into());
        }
        self.in_step += ops.len();
        Ok(outcomes)
    }
}

/// Whether an operation of this kind works on the store in its slot.
fn uses_store(kind: OpKind) -> bool {
    !matches!(
        kind,
        OpKind::Open
            | OpKind::ForgeHandle
            | OpKind::Concurrently
            | OpKind::CasCurrent
            | OpKind::CasSwap
    )
}

/// The slot of the store an operation uses, for operations on an open store.
fn store_slot(op: &Operation) -> Option<u32> {
    match op {
        Operation::Get { slot, .. }
        | Operation::Set { slot, .. }
        | Operation::Delete { slot, .. }
        | Operation::Exists { slot, .. }
        | Operation::GetKeys { slot }
        | Operation::Close { slot }
        | Operation::GetKeysPartial { slot, .. }
        | Operation::ListKeys { slot, .. }
        | Operation::Increment { slot, .. }
        | Operation::CasNew { slot, .. }
        | Operation::GetMany { slot, .. }
        | Operation::SetMany { slot, .. }
        | Operation::DeleteMany { slot, .. } => Some(*slot),
        Operation::Open { .. }
        | Operation::ForgeHandle { .. }
        | Operation::Concurrently { .. }
        | Operation::CasCurrent { .. }
        | Operation::CasSwap { .. } => None,
    }
}

/// v1's answer to a handle that is not open, whichever the profile declares.
fn invalid_handle(expected: &Expected) -> bool {
    matches!(
        expected,
        Expected::Trap | Expected::Error(ErrorKind::InvalidStore)
    )
}

/// The keys an entry names.
fn entry_keys(entry: &OpEntry) -> Vec<&KeySpec> {
    let mut keys: Vec<&KeySpec> = entry.key.iter().collect();
    keys.extend(entry.keys.iter().flatten());
    keys.extend(entry.entries.iter().flatten().map(|e| &e.key));
    keys.retain(|k| !matches!(k, KeySpec::Text(t) if t.contains("{i}")));
    keys
}

/// The values an entry writes.
fn entry_values(entry: &OpEntry) -> Vec<&ValueSpec> {
    let mut values: Vec<&ValueSpec> = entry.value.iter().collect();
    values.extend(
        entry
            .entries
            .iter()
            .flatten()
            .filter_map(|e| e.value.as_ref()),
    );
    values
}

/// `name`, plus or minus `offset`, as a size expression.
fn named(name: &str, offset: i64) -> Size {
    Size::Named(match offset {
        0 => name.to_string(),
        o if o > 0 => format!("{name}+{o}"),
        o => format!("{name}-{}", -o),
    })
}

/// An entry with no operation-specific fields yet.
fn entry(op: OpKind, slot: u32) -> OpEntry {
    OpEntry {
        op,
        slot: Size::Literal(slot as u64),
        label: None,
        key: None,
        value: None,
        repeat: None,
        each_slot: false,
        handle: None,
        take: None,
        count: None,
        cursor: None,
        delta: None,
        cas: None,
        keys: None,
        entries: None,
        expect: ExpectEntry::Ok,
    }
}

fn one(e: OpEntry) -> Move {
    Move::Op(e)
}

/// Keys: short ones first (what shrinking moves towards), keys already used, and keys at the key limit.
fn key_strategy(state: &GenState) -> BoxedStrategy<KeySpec> {
    let mut keys = KEYS.to_vec();
    // The empty key only where the host claims to accept it (KEY-EMPTY is observed, not required).
    if state.setup.profile.empty_key {
        keys.push("");
    }
    let short = select(keys)
        .prop_map(|k| KeySpec::Text(k.to_string()))
        .boxed();
    let (name, offsets): (&str, Vec<i64>) = match state.setup.profile.limits.key_bytes {
        Some(_) => ("key-max", vec![-1, 0, 1]),
        None => ("key-min", vec![-1, 0, 1]),
    };
    let long = (select(vec!["k", "é", "€", "😀"]), select(offsets))
        .prop_map(move |(fill, offset)| KeySpec::Generated {
            fill: fill.to_string(),
            bytes: named(name, offset),
        })
        .boxed();
    let text = select(&TEXT_KEYS[..])
        .prop_map(|k| KeySpec::Text(k.to_string()))
        .boxed();
    let mut arms = vec![(5, short)];
    if !state.keys.is_empty() {
        arms.push((4, select(state.keys.clone()).boxed()));
    }
    arms.push((2, text));
    arms.push((1, long));
    Union::new_weighted(arms).boxed()
}

/// Values: short ones first, binary ones, and values at the value limit.
fn value_strategy(profile: &Profile) -> BoxedStrategy<ValueSpec> {
    let name = match profile.limits.value_bytes {
        Some(_) => "value-max",
        None => "value-min",
    };
    Union::new_weighted(vec![
        (
            12,
            select(&TEXTS[..])
                .prop_map(|t| ValueSpec::Text(t.to_string()))
                .boxed(),
        ),
        (
            3,
            select(vec!["00", "ff00fe"])
                .prop_map(|h| ValueSpec::Hex { hex: h.to_string() })
                .boxed(),
        ),
        (1, Just(ValueSpec::Range { range: [0, 255] }).boxed()),
        (
            1,
            (select(vec![-1i64, 0, 1]), 1..4u64)
                .prop_map(move |(offset, seed)| ValueSpec::Pattern {
                    len: named(name, offset),
                    seed,
                })
                .boxed(),
        ),
    ])
    .boxed()
}

/// The next slot no handle occupies.
fn free_slot(inst: &ModelInstance) -> u32 {
    let used = inst.used_slots();
    (0..).find(|s| !used.contains(s)).unwrap_or(0)
}

/// The moves possible from `state`, weighted; the first arms are the simplest, which shrinking prefers.
/// The largest open-store bound the generator fills in one move ([`Move::OpenMany`]); past it, the bound is left to
/// the hand-written OPEN-LIMIT cases.
pub const OPEN_MANY_MAX: u64 = 4096;

fn transitions(state: &GenState) -> BoxedStrategy<Move> {
    if state.ended {
        return Just(Move::NewInstance).boxed();
    }
    let setup = &state.setup;
    let interface = setup.interface;
    let open: Vec<u32> = state.inst.open_slots().iter().map(|(s, _)| *s).collect();
    let mut arms: Vec<(u32, BoxedStrategy<Move>)> = Vec::new();
    // Built once for the step and shared by the arms that draw a key or a value (a strategy is a description:
    // a clone draws exactly what a new one would).
    let draws = Draws {
        key: key_strategy(state),
        value: value_strategy(&setup.profile),
    };
    let key = || draws.key.clone();
    let value = || draws.value.clone();
    if !open.is_empty() {
        let slots = || select(open.clone());
        arms.push((
            8,
            (slots(), key(), value())
                .prop_map(|(slot, key, value)| {
                    one(OpEntry {
                        key: Some(key),
                        value: Some(value),
                        ..entry(OpKind::Set, slot)
                    })
                })
                .boxed(),
        ));
        for (weight, kind) in [(6, OpKind::Get), (2, OpKind::Exists), (3, OpKind::Delete)] {
            arms.push((
                weight,
                (slots(), key())
                    .prop_map(move |(slot, key)| {
                        one(OpEntry {
                            key: Some(key),
                            ..entry(kind, slot)
                        })
                    })
                    .boxed(),
            ));
        }
        arms.push((
            2,
            slots()
                .prop_map(|slot| one(entry(OpKind::GetKeys, slot)))
                .boxed(),
        ));
        arms.push((
            1,
            slots()
                .prop_map(|slot| one(entry(OpKind::Close, slot)))
                .boxed(),
        ));
        if let Some(fill) = fill_strategy(state, &open) {
            arms.push((1, fill));
        }
    }
    arms.push((
        if open.is_empty() { 12 } else { 1 },
        select(&LABELS[..])
            .prop_map(|label| Move::Open {
                label: label.to_string(),
            })
            .boxed(),
    ));
    // Filling the open-store table is a move only where the table is not full, and small enough to fill in one
    // sequence (a host declaring a bound of a million handles would spend minutes opening them each time).
    let fillable = state
        .setup
        .profile
        .open_stores
        .is_none_or(|bound| (open.len() as u64) < bound && bound <= OPEN_MANY_MAX);
    if fillable {
        arms.push((1, Just(Move::OpenMany).boxed()));
    }
    if state.in_step > 0 {
        arms.push((1, Just(Move::NewInstance).boxed()));
    }
    match interface {
        Interface::V1 => v1_arms(state, &draws, &mut arms),
        Interface::V3 if !open.is_empty() => v3_arms(&draws, &open, &mut arms),
        Interface::WasiKeyvalue | Interface::WasiKeyvalueDraft if !open.is_empty() => {
            wasi_arms(state, &draws, &open, &mut arms)
        }
        _ => {}
    }
    Union::new_weighted(arms).boxed()
}

/// A fill: the keys `f0`, `f1`, ... written until the store holds one below or exactly the tuple figure
/// (the declared limit), or one below, exactly or one past it (no declared limit: every one must succeed).
fn fill_strategy(state: &GenState, open: &[u32]) -> Option<BoxedStrategy<Move>> {
    let profile = &state.setup.profile;
    let targets: Vec<i64> = match profile.limits.tuples {
        Some(_) => vec![-1, 0],
        None => vec![-1, 0, 1],
    };
    let mut choices = Vec::new();
    for slot in open {
        for target in &targets {
            choices.push(Move::Fill {
                slot: *slot,
                target: *target,
            });
        }
    }
    (!choices.is_empty()).then(|| select(choices).boxed())
}

/// The strategies of keys and values for one step.
struct Draws {
    key: BoxedStrategy<KeySpec>,
    value: BoxedStrategy<ValueSpec>,
}

fn v1_arms(state: &GenState, draws: &Draws, arms: &mut Vec<(u32, BoxedStrategy<Move>)>) {
    arms.push((1, Just(Move::Forge).boxed()));
    let stale: Vec<u32> = state
        .inst
        .stale_slots()
        .into_iter()
        .filter(|s| state.stale_usable(*s))
        .collect();
    if stale.is_empty() {
        return;
    }
    let kinds = vec![
        OpKind::Get,
        OpKind::Set,
        OpKind::Delete,
        OpKind::Exists,
        OpKind::GetKeys,
        OpKind::Close,
    ];
    arms.push((
        3,
        (
            select(stale),
            select(kinds),
            draws.key.clone(),
            draws.value.clone(),
        )
            .prop_map(|(slot, kind, key, value)| {
                let mut e = entry(kind, slot);
                if matches!(
                    kind,
                    OpKind::Get | OpKind::Set | OpKind::Delete | OpKind::Exists
                ) {
                    e.key = Some(key);
                }
                if kind == OpKind::Set {
                    e.value = Some(value);
                }
                Move::Stale(e)
            })
            .boxed(),
    ));
}

fn v3_arms(draws: &Draws, open: &[u32], arms: &mut Vec<(u32, BoxedStrategy<Move>)>) {
    arms.push((
        2,
        (select(open.to_vec()), select(vec![0u32, 1, 2, 5]))
            .prop_map(|(slot, take)| {
                one(OpEntry {
                    take: Some(take),
                    ..entry(OpKind::GetKeysPartial, slot)
                })
            })
            .boxed(),
    ));
    // Operations in flight together: reads, or writes of distinct keys, so that their order does not matter.
    let read = (
        select(open.to_vec()),
        select(vec![OpKind::Get, OpKind::Exists, OpKind::GetKeys]),
        draws.key.clone(),
    )
        .prop_map(|(slot, kind, key)| {
            let mut e = entry(kind, slot);
            if kind != OpKind::GetKeys {
                e.key = Some(key);
            }
            e
        });
    let write = (
        select(open.to_vec()),
        draws.key.clone(),
        draws.value.clone(),
    )
        .prop_map(|(slot, key, value)| OpEntry {
            key: Some(key),
            value: Some(value),
            ..entry(OpKind::Set, slot)
        });
    let group = Move::Together;
    arms.push((
        1,
        proptest::collection::vec(read, 2..=3)
            .prop_map(group)
            .boxed(),
    ));
    arms.push((
        1,
        proptest::collection::vec(write, 2..=3)
            .prop_map(move |mut members| {
                let mut seen = BTreeSet::new();
                members.retain(|m| seen.insert(format!("{:?}", m.key)));
                members
            })
            .prop_filter("two writes", |m| m.len() >= 2)
            .prop_map(group)
            .boxed(),
    ));
}

/// The arms of both wasi:keyvalue editions; the draft edition (`u64` deltas, no compare-and-swap) gets no
/// negative delta and no cas move, which it cannot express.
fn wasi_arms(
    state: &GenState,
    draws: &Draws,
    open: &[u32],
    arms: &mut Vec<(u32, BoxedStrategy<Move>)>,
) {
    let draft = state.setup.interface == Interface::WasiKeyvalueDraft;
    let slots = || select(open.to_vec());
    let key = || draws.key.clone();
    arms.push((
        2,
        slots()
            .prop_map(|slot| one(entry(OpKind::ListKeys, slot)))
            .boxed(),
    ));
    arms.push((
        3,
        (
            slots(),
            key(),
            select(if draft {
                vec![1i64, 7, i64::MAX]
            } else {
                vec![1i64, -1, 7, i64::MAX, i64::MIN]
            }),
        )
            .prop_map(|(slot, key, delta)| {
                one(OpEntry {
                    key: Some(key),
                    delta: Some(delta),
                    ..entry(OpKind::Increment, slot)
                })
            })
            .boxed(),
    ));
    let cas_slots = state.inst.cas_slots();
    if !draft && cas_slots.len() < 3 {
        // Mostly of a key an open store holds, so that an overwrite keeps it present (the race a swap that checks
        // only presence loses).
        let held: Vec<KeySpec> = state
            .inst
            .open_slots()
            .iter()
            .flat_map(|(_, label)| state.app.keys(label).take(16))
            .map(|key| KeySpec::Text(key.to_owned()))
            .collect();
        let cas_key = if held.is_empty() {
            key()
        } else {
            Union::new_weighted(vec![(3, select(held).boxed()), (1, key())]).boxed()
        };
        arms.push((
            2,
            (slots(), cas_key)
                .prop_map(move |(slot, key)| {
                    one(OpEntry {
                        key: Some(key),
                        cas: Some(0),
                        ..entry(OpKind::CasNew, slot)
                    })
                })
                .boxed(),
        ));
    }
    let cas_keys = state.inst.cas_keys();
    if !cas_keys.is_empty() {
        // A write over a key a cas was made for, before its swap, so that the swap must fail (ATOMIC-CAS): one
        // that checks only whether the key is present, or nothing at all, then succeeds.
        arms.push((
            3,
            (slots(), select(cas_keys), draws.value.clone())
                .prop_map(|(slot, key, value)| {
                    one(OpEntry {
                        key: Some(KeySpec::Text(key)),
                        value: Some(value),
                        ..entry(OpKind::Set, slot)
                    })
                })
                .boxed(),
        ));
    }
    if !cas_slots.is_empty() {
        arms.push((
            1,
            select(cas_slots.clone())
                .prop_map(|cas| {
                    one(OpEntry {
                        cas: Some(cas),
                        ..entry(OpKind::CasCurrent, 0)
                    })
                })
                .boxed(),
        ));
        arms.push((
            3,
            (select(cas_slots), draws.value.clone())
                .prop_map(|(cas, value)| {
                    one(OpEntry {
                        cas: Some(cas),
                        value: Some(value),
                        ..entry(OpKind::CasSwap, 0)
                    })
                })
                .boxed(),
        ));
    }
    let distinct = |keys: Vec<KeySpec>| {
        let mut seen = BTreeSet::new();
        keys.into_iter()
            .filter(|k| seen.insert(format!("{k:?}")))
            .collect::<Vec<_>>()
    };
    for (weight, kind) in [(2, OpKind::GetMany), (1, OpKind::DeleteMany)] {
        arms.push((
            weight,
            (slots(), proptest::collection::vec(key(), 1..=3))
                .prop_map(move |(slot, keys)| {
                    one(OpEntry {
                        keys: Some(distinct(keys)),
                        ..entry(kind, slot)
                    })
                })
                .boxed(),
        ));
    }
    arms.push((
        2,
        (
            slots(),
            // Values at the value limit too (one past it only in a batch of one pair: the model predicts no
            // longer batch that crosses a limit).
            proptest::collection::vec((key(), draws.value.clone()), 1..=3),
        )
            .prop_map(move |(slot, pairs)| {
                let mut seen = BTreeSet::new();
                let entries = pairs
                    .into_iter()
                    .filter(|(k, _)| seen.insert(format!("{k:?}")))
                    .map(|(key, value)| EntrySpec {
                        key,
                        value: Some(value),
                    })
                    .collect();
                one(OpEntry {
                    entries: Some(entries),
                    ..entry(OpKind::SetMany, slot)
                })
            })
            .boxed(),
    ));
}

/// The strategy of generated sequences of 1 to `max_moves` moves for `setup`.
pub fn sequences(
    setup: Arc<Setup>,
    max_moves: usize,
) -> Sequential<GenState, Move, BoxedStrategy<GenState>, BoxedStrategy<Move>> {
    generator(setup, max_moves, Arc::default())
}

/// The strategy of [`sequences`], which also leaves in `last` the log of the moves it applied last: those of
/// the sequence it has just generated (or, shrinking, just checked), so that [`fuzz`] writes that sequence's
/// case from it rather than running the model over the moves once more.
fn generator(
    setup: Arc<Setup>,
    max_moves: usize,
    last: Arc<Mutex<Log>>,
) -> Sequential<GenState, Move, BoxedStrategy<GenState>, BoxedStrategy<Move>> {
    // A move's precondition is that it applies to the state; proptest-state-machine checks it and then applies
    // the move to the same state. The state the check computed is kept for that, instead of applying the move
    // (a fill is a thousand operations of the model) a second time.
    let checked: Arc<Mutex<Option<Checked>>> = Arc::default();
    let kept = checked.clone();
    let applied = move |state: GenState| {
        *last.lock().unwrap_or_else(|e| e.into_inner()) = state.log.clone();
        state
    };
    Sequential::new(
        (1..=max_moves.max(1)).into(),
        move || Just(GenState::new(setup.clone())).boxed(),
        move |state: &GenState, mv: &Move| {
            let mut next = state.clone();
            let applies = next.advance(mv).is_ok();
            *checked.lock().unwrap_or_else(|e| e.into_inner()) = applies.then(|| Checked {
                from: state.id,
                mv: mv.clone(),
                next,
            });
            applies
        },
        transitions,
        move |mut state: GenState, mv: &Move| {
            let checked = kept.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(checked) = checked
                && checked.from == state.id
                && checked.mv == *mv
            {
                return applied(checked.next);
            }
            // Only moves whose preconditions held are applied, so this cannot fail.
            let _ = state.advance(mv);
            applied(state)
        },
    )
}

/// A move whose precondition held, and the state it led to.
struct Checked {
    /// The [`GenState::id`] of the state it was applied to.
    from: u64,
    mv: Move,
    next: GenState,
}

/// A generated sequence written as a case.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The case file.
    pub file: CaseFile,
    /// For each step, for each operation (repetitions expanded), the index of the move it came from.
    pub move_of: Vec<Vec<usize>>,
    /// Entries in the case file (a repeated entry counts once).
    pub entries: usize,
    /// Operations it runs (repetitions expanded).
    pub operations: usize,
}

impl Generated {
    /// The case file's text, with `comment` at the top.
    pub fn text(&self, comment: &str) -> String {
        self.file
            .to_toml(comment)
            .unwrap_or_else(|e| format!("# kvconf could not write this case as TOML: {e}\n"))
    }

    /// The case, checked as a case file is checked when it is read. It is the case its text parses back to
    /// (what a saved counterexample runs as): a test checks so for many generated sequences, and
    /// [`Generated::read_back`] checks it again for every sequence that shows a difference. Writing and
    /// parsing the text of every sequence cost more than checking it.
    ///
    /// # Errors
    ///
    /// When the case is not valid: a fault in kvconf's generator, reported as such.
    pub fn case(&self) -> Result<Case, String> {
        Case::new(
            Path::new("<generated>"),
            self.file.clone(),
            Catalogue::builtin(),
        )
        .map_err(|e| format!("kvconf generated an invalid case: {e}\n{}", self.text("")))
    }

    /// The case parsed back from its text exactly as a saved file would be, checked to be the case
    /// [`Generated::case`] gives.
    ///
    /// # Errors
    ///
    /// When the text does not parse as a valid case, or parses as another case: a fault in kvconf's generator,
    /// reported as such.
    pub fn read_back(&self) -> Result<Case, String> {
        let text = self.text("");
        let case = Case::parse(Path::new("<generated>"), &text, Catalogue::builtin())
            .map_err(|e| format!("kvconf generated a case it cannot read back: {e}\n{text}"))?;
        if case.file != self.file {
            return Err(format!(
                "kvconf generated a case whose text reads back as another case:\n{text}"
            ));
        }
        Ok(case)
    }
}

/// Writes `moves` as a case: each expectation the model's, in the case vocabulary, and the statements of
/// the operations it checks (those of the operation at `focus`, if given, first).
///
/// # Errors
///
/// When the moves are not a valid sequence for `setup` (a move's precondition fails).
pub fn build(
    setup: &Arc<Setup>,
    moves: &[Move],
    id: &str,
    title: &str,
    focus: Option<(usize, usize)>,
) -> Result<Generated, String> {
    write(setup, &replay(setup, moves)?, id, title, focus)
}

/// The model's run of `moves` from a fresh application, or the move that is not valid where it is.
fn replay(setup: &Arc<Setup>, moves: &[Move]) -> Result<Log, String> {
    let mut state = GenState::new(setup.clone());
    for (index, mv) in moves.iter().enumerate() {
        state
            .advance(mv)
            .map_err(|e| format!("move {}: {e}", index + 1))?;
    }
    Ok(state.log)
}

/// Writes the model's run of a sequence as a case, as [`build`] does.
fn write(
    setup: &Arc<Setup>,
    log: &Log,
    id: &str,
    title: &str,
    focus: Option<(usize, usize)>,
) -> Result<Generated, String> {
    let profile = &setup.profile;
    let interface = setup.interface;
    // Each move's concrete entries and their outcomes, step by step.
    struct Written<'a> {
        step: usize,
        index: usize,
        entry: &'a OpEntry,
        outcomes: &'a [Expected],
        held: Option<bool>,
    }
    let moves = logged(log);
    let closed_after_open = moves.last().is_some_and(|l| l.closed_after_open);
    let mut written: Vec<Written> = Vec::new();
    let mut step = 0;
    for (index, l) in moves.iter().enumerate() {
        if let Move::NewInstance = l.mv {
            step += 1;
        }
        for applied in &l.applied {
            written.push(Written {
                step,
                index,
                entry: &applied.entry,
                outcomes: &applied.outcomes,
                held: applied.held,
            });
        }
    }
    let mut registry = Registry::new(profile, written.iter().map(|w| w.entry));
    if closed_after_open {
        registry.dimensions.insert("fresh-handles");
    }
    // A refusal depends on the profile's limits even when no size in the case is named after them (a small
    // declared limit reached by plain operations): the case then requires the claims behind it.
    for w in &written {
        match (w.entry.op, &w.outcomes[0]) {
            (OpKind::Open, Expected::Error(ErrorKind::StoreTableFull | ErrorKind::Other)) => {
                registry.dimensions.insert("open");
            }
            (
                OpKind::Set | OpKind::SetMany | OpKind::CasSwap,
                Expected::Error(ErrorKind::Other),
            ) => {
                registry.dimensions.extend(["key", "value", "tuples"]);
            }
            // An increment may also fail for a value that is no counter, or an overflow; a new key past the
            // tuple limit is the one refusal that depends on the profile.
            (OpKind::Increment, Expected::Error(ErrorKind::Other)) => {
                registry.dimensions.insert("tuples");
            }
            _ => {}
        }
    }
    let mut steps: Vec<StepSection> = (0..=step)
        .map(|_| StepSection {
            component: None,
            interface: None,
            restart: false,
            ops: Vec::new(),
        })
        .collect();
    let mut move_of: Vec<Vec<usize>> = vec![Vec::new(); step + 1];
    let mut cited: Vec<(Option<(usize, usize)>, &'static str)> = Vec::new();
    let mut labels_opened = BTreeSet::new();
    for w in &written {
        let at = (w.step, move_of[w.step].len());
        let mut e = w.entry.clone();
        e.expect = registry.expect_entry(&w.outcomes[0]);
        for statement in statements_of(w.entry, &w.outcomes[0], interface, w.held) {
            cited.push((Some(at), statement));
        }
        if w.entry.op == OpKind::Open && w.outcomes[0] == Expected::Opened {
            labels_opened.insert(w.entry.label.clone().unwrap_or_default());
        }
        move_of[w.step].extend(std::iter::repeat_n(w.index, w.outcomes.len()));
        steps[w.step].ops.push(e);
    }
    // A fresh instance that ran nothing (a sequence ending with one) is left out.
    while steps.len() > 1 && steps.last().is_some_and(|s| s.ops.is_empty()) {
        steps.pop();
        move_of.pop();
    }
    if steps.iter().any(|s| s.ops.is_empty()) {
        return Err("a sequence with no operation".into());
    }
    if steps.len() > 1 {
        cited.push((None, "PERSIST-INSTANCES"));
    }
    if labels_opened.len() > 1 {
        cited.push((None, "ISOLATION-LABEL"));
    }
    if closed_after_open {
        cited.push((None, "HANDLE-REUSE"));
    }
    // The statements of the move at the focus first, then the rest in order of appearance.
    let catalogue = Catalogue::builtin();
    let focus_move = focus.and_then(|(step, op)| move_of.get(step)?.get(op).copied());
    let mut statements: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        let applies = catalogue
            .get(s)
            .is_some_and(|st| st.interfaces.contains(&interface));
        if applies && !statements.iter().any(|x| x == s) {
            statements.push(s.to_string());
        }
    };
    if let Some(mv) = focus_move {
        for (at, s) in &cited {
            if let Some((st, op)) = at
                && move_of[*st].get(*op) == Some(&mv)
            {
                push(s);
            }
        }
    }
    for (_, s) in &cited {
        push(s);
    }
    let operations = move_of.iter().map(Vec::len).sum();
    let file = CaseFile {
        id: id.to_string(),
        title: title.to_string(),
        statements,
        interfaces: vec![interface],
        requires: registry.requires(profile, &setup.grants),
        app: AppSection {
            grants: setup.grants.clone(),
            labels: setup.labels.clone(),
            expect_load: LoadExpectation::Loads,
        },
        steps,
    };
    Ok(Generated {
        file,
        move_of,
        entries: written.len(),
        operations,
    })
}

/// The statements an entry with this outcome checks.
fn statements_of(
    e: &OpEntry,
    expected: &Expected,
    interface: Interface,
    held: Option<bool>,
) -> Vec<&'static str> {
    use ErrorKind as K;
    let mut out = Vec::new();
    if invalid_handle(expected) {
        out.push("HANDLE-V1-INVALID");
        return out;
    }
    match (e.op, expected) {
        (OpKind::Open, Expected::Opened) => {
            out.push(if e.label.as_deref() == Some(DEFAULT_LABEL) {
                "OPEN-DEFAULT"
            } else {
                "OPEN-GRANT"
            })
        }
        (OpKind::Open, Expected::Error(K::AccessDenied)) => out.push("OPEN-GRANT"),
        (OpKind::Open, Expected::Error(K::NoSuchStore)) => out.push("OPEN-UNCONFIGURED"),
        (OpKind::Open, Expected::Error(_)) => out.push("OPEN-TABLE-FULL"),
        (OpKind::Get, Expected::Value(None) | Expected::Error(K::NoSuchKey)) => {
            out.push("GET-MISSING")
        }
        (OpKind::Get, Expected::SomeValue) | (OpKind::Increment, Expected::Counter(_)) => {
            out.push("ATOMIC-INCREMENT")
        }
        (OpKind::Get, _) => out.push("SET-GET-EXACT"),
        (OpKind::Set, Expected::Error(_)) => out.push("LIMIT-BEYOND"),
        (OpKind::Set, _) => {
            out.push("SET-GET-EXACT");
            out.push("SET-OVERWRITE");
        }
        (OpKind::Delete, _) => out.push(match held {
            Some(false) => "DELETE-ABSENT",
            _ => "DELETE-REMOVES",
        }),
        (OpKind::Exists, _) => out.push("EXISTS"),
        (OpKind::GetKeys, Expected::Keys(keys)) => {
            out.push(if keys.is_empty() {
                "KEYS-EMPTY"
            } else {
                "KEYS-EXACT"
            });
            match interface {
                Interface::V3 => out.push("KEYS-V3-STREAM"),
                // The wasi drivers list every key by following the host's cursors page by page.
                Interface::WasiKeyvalue | Interface::WasiKeyvalueDraft => {
                    out.push("KEYS-WASI-CURSOR")
                }
                _ => {}
            }
        }
        (OpKind::GetKeysPartial, _) => out.push("KEYS-V3-STREAM"),
        (OpKind::ListKeys, _) => out.push("KEYS-WASI-CURSOR"),
        (OpKind::Close, _) => out.push(if interface == Interface::V1 {
            "HANDLE-V1-CLOSE"
        } else {
            "HANDLE-DROP"
        }),
        (OpKind::ForgeHandle, _) => out.push("HANDLE-V1-INVALID"),
        // An increment refused for a key the store does not hold creates a tuple past the limit; for one it
        // holds, the value is not a counter.
        (OpKind::Increment, Expected::Error(_)) if held == Some(false) => out.push("LIMIT-BEYOND"),
        (OpKind::Increment, _) => out.push("ATOMIC-INCREMENT-BAD"),
        // A swap refused with `other` (not `cas-failed`) writes past a limit.
        (OpKind::CasSwap, Expected::Error(K::Other)) => {
            out.push("ATOMIC-CAS");
            out.push("LIMIT-BEYOND");
        }
        (OpKind::CasNew | OpKind::CasCurrent | OpKind::CasSwap, _) => out.push("ATOMIC-CAS"),
        (OpKind::GetMany, _) => out.push("BATCH-GET-MANY"),
        // A set-many refused with `other` is one pair past a limit.
        (OpKind::SetMany, Expected::Error(K::Other)) => {
            out.push("BATCH-SET-DELETE-MANY");
            out.push("LIMIT-BEYOND");
        }
        (OpKind::SetMany | OpKind::DeleteMany, _) => out.push("BATCH-SET-DELETE-MANY"),
        (OpKind::Concurrently, _) => out.push("CONCURRENT-VISIBLE"),
        _ => {}
    }
    // Sizes at the limits.
    if let Some(KeySpec::Generated { fill, .. }) = &e.key {
        out.push(if matches!(expected, Expected::Error(_)) {
            "LIMIT-BEYOND"
        } else {
            "LIMIT-KEY"
        });
        if !fill.is_ascii() {
            out.push("KEY-TEXT");
        }
    }
    // A key that is not ASCII letters and digits (a repeated entry's `{i}` aside).
    if let Some(KeySpec::Text(t)) = &e.key
        && !t
            .replace("{i}", "")
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
    {
        out.push("KEY-TEXT");
    }
    if entry_keys(e)
        .iter()
        .any(|k| **k == KeySpec::Text(String::new()))
    {
        out.push("KEY-EMPTY");
    }
    if matches!(e.value, Some(ValueSpec::Pattern { .. })) {
        out.push(if matches!(expected, Expected::Error(_)) {
            "LIMIT-BEYOND"
        } else {
            "LIMIT-VALUE"
        });
    }
    if e.repeat.is_some() && e.op == OpKind::Set {
        out.push("LIMIT-CAPACITY");
    }
    out
}

/// The keys and values a sequence uses, so that expectations are written the way the sequence wrote them
/// (a 1 MiB value as its pattern, a key at the limit as its fill and size).
struct Registry {
    profile: Profile,
    /// The values written, in the order first written, each with its bytes (for repetition 0) once an
    /// expectation has needed them: a value at the limit is a mebibyte of pattern, rarely read back.
    values: Vec<(ValueSpec, OnceCell<Option<Vec<u8>>>)>,
    keys: BTreeMap<String, KeySpec>,
    /// Fill counts: the size expression and what it comes to.
    fills: Vec<(Size, u64)>,
    dimensions: BTreeSet<&'static str>,
}

impl Registry {
    fn new<'a>(profile: &Profile, entries: impl Iterator<Item = &'a OpEntry>) -> Registry {
        let mut registry = Registry {
            profile: profile.clone(),
            values: Vec::new(),
            keys: BTreeMap::new(),
            fills: Vec::new(),
            dimensions: BTreeSet::new(),
        };
        {
            for e in entries {
                for v in entry_values(e) {
                    if matches!(v, ValueSpec::Pattern { .. }) {
                        registry.dimensions.insert("value");
                    }
                    if !registry.values.iter().any(|(spec, _)| spec == v) {
                        registry.values.push((v.clone(), OnceCell::new()));
                    }
                }
                for k in entry_keys(e) {
                    if matches!(k, KeySpec::Generated { .. }) {
                        registry.dimensions.insert("key");
                    }
                    if *k == KeySpec::Text(String::new()) {
                        registry.dimensions.insert("empty-key");
                    }
                    if let Ok(text) = k.expand(profile, 0) {
                        registry.keys.entry(text).or_insert_with(|| k.clone());
                    }
                }
                if let Some(count) = &e.repeat {
                    match e.op {
                        OpKind::Set => {
                            registry.dimensions.insert("tuples");
                            if let Ok(n) = count.resolve(profile) {
                                registry.fills.push((count.clone(), n));
                            }
                        }
                        OpKind::Open => {
                            registry.dimensions.insert("open");
                        }
                        _ => {}
                    }
                }
            }
        }
        registry
    }

    /// The claims of the profile the sequence depends on: for each limit it goes near, whether the profile
    /// declares one (a key one byte past 256 is accepted or refused depending on that), and the profile's
    /// answer to an undefined label when the application is granted one.
    fn requires(
        &self,
        profile: &Profile,
        grants: &BTreeMap<String, Vec<String>>,
    ) -> Vec<Capability> {
        let mut caps = Vec::new();
        let claim = |declared: bool, yes, no| if declared { yes } else { no };
        if self.dimensions.contains("key") {
            caps.push(claim(
                profile.limits.key_bytes.is_some(),
                Capability::KeyLimit,
                Capability::NoKeyLimit,
            ));
        }
        if self.dimensions.contains("value") {
            caps.push(claim(
                profile.limits.value_bytes.is_some(),
                Capability::ValueLimit,
                Capability::NoValueLimit,
            ));
        }
        if self.dimensions.contains("tuples") {
            caps.push(claim(
                profile.limits.tuples.is_some(),
                Capability::TupleLimit,
                Capability::NoTupleLimit,
            ));
        }
        if self.dimensions.contains("open") {
            caps.push(claim(
                profile.open_stores.is_some(),
                Capability::OpenLimit,
                Capability::NoOpenLimit,
            ));
        }
        if self.dimensions.contains("empty-key") {
            caps.push(Capability::EmptyKey);
        }
        if self.dimensions.contains("fresh-handles") {
            caps.push(Capability::V1FreshHandles);
        }
        if grants.values().flatten().any(|l| l == "ghost") {
            caps.push(Capability::UnconfiguredNoSuchStore);
        }
        caps
    }

    /// How the sequence wrote the value `bytes`: the first value written that comes to them, or the bytes
    /// themselves.
    fn value(&self, bytes: &[u8]) -> ValueSpec {
        let written = self.values.iter().find(|(spec, expanded)| {
            // A pattern's length is known without writing the pattern out.
            if let ValueSpec::Pattern { len, .. } = spec
                && len.resolve(&self.profile).ok() != Some(bytes.len() as u64)
            {
                return false;
            }
            let expanded = expanded.get_or_init(|| spec.expand(&self.profile, 0).ok());
            expanded.as_deref() == Some(bytes)
        });
        if let Some((spec, _)) = written {
            return spec.clone();
        }
        match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('{') => ValueSpec::Text(text.to_string()),
            _ => ValueSpec::Hex {
                hex: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            },
        }
    }

    fn key(&self, key: &str) -> KeySpec {
        self.keys
            .get(key)
            .cloned()
            .unwrap_or_else(|| KeySpec::Text(key.to_string()))
    }

    /// A listing: the keys of the largest fill as a template, the rest one by one.
    fn listing(&self, keys: &BTreeSet<String>) -> KeysSpec {
        // Whether a key is one of the first `n` a fill writes; the keys are distinct, so they hold all of
        // those when they hold `n` of them.
        let filled = |key: &str, n: u64| fill_index(key).is_some_and(|i| i < n);
        let best = self
            .fills
            .iter()
            .filter(|(_, n)| keys.iter().filter(|k| filled(k, *n)).count() as u64 == *n)
            .max_by_key(|(_, n)| *n);
        match best {
            Some((count, n)) if *n > 0 => KeysSpec::Generated {
                template: FILL_TEMPLATE.to_string(),
                count: count.clone(),
                also: keys
                    .iter()
                    .filter(|k| !filled(k, *n))
                    .map(|k| self.key(k))
                    .collect(),
            },
            _ => KeysSpec::List(keys.iter().map(|k| self.key(k)).collect()),
        }
    }

    /// The model's expectation in the case vocabulary.
    fn expect_entry(&self, expected: &Expected) -> ExpectEntry {
        match expected {
            Expected::Opened | Expected::Done => ExpectEntry::Ok,
            Expected::Value(None) | Expected::Error(ErrorKind::NoSuchKey) => ExpectEntry::Absent,
            Expected::Value(Some(v)) => ExpectEntry::Value(self.value(&v.bytes)),
            Expected::Exists(b) => ExpectEntry::Exists(*b),
            Expected::Keys(keys) => ExpectEntry::Keys(self.listing(keys)),
            e if invalid_handle(e) => ExpectEntry::InvalidHandle,
            Expected::Error(kind) => ExpectEntry::Error(*kind),
            Expected::SomeValue => ExpectEntry::Present,
            Expected::Counter(n) => ExpectEntry::Counter(*n),
            Expected::Entries(entries) => ExpectEntry::Entries(
                entries
                    .iter()
                    .map(|(k, v)| EntrySpec {
                        key: self.key(k),
                        value: v.as_ref().map(|v| self.value(&v.bytes)),
                    })
                    .collect(),
            ),
            Expected::SomeKeys { of, count } => ExpectEntry::SomeKeys {
                count: *count,
                of: self.listing(of),
            },
            Expected::FirstPage(keys, _) => ExpectEntry::FirstPage(self.listing(keys)),
            // Never reached: a move with these outcomes fails its precondition.
            Expected::Trap | Expected::ScriptError(_) | Expected::NotRun => ExpectEntry::Ok,
        }
    }
}

/// The `i` of a key a fill writes (`f{i}`, [`FILL_TEMPLATE`], with `i` in decimal as `format!` writes it).
fn fill_index(key: &str) -> Option<u64> {
    let digits = key.strip_prefix('f')?;
    let canonical =
        digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return None;
    }
    digits.parse().ok()
}

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
/// out-of-process), one at a time, calling `progress` with the operations of each sequence that passed; on a
/// difference, shrinks it (rerunning against the same host) and stops.
///
/// Every sequence is a case with the ID `fuzz/sequence`. In-process its stores live in one directory under the
/// runner's work directory: give concurrent calls runners with different work directories. Out-of-process the
/// sequences share the session's runtime and its stores: give concurrent calls sessions of their own.
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
    let proptest_config = Config {
        cases: config.sequences,
        failure_persistence: None,
        max_shrink_iters: config.max_shrink_iters,
        // A hanging host costs a whole timeout per shrinking run: stop shrinking after five minutes.
        max_shrink_time: 300_000,
        max_local_rejects: 1 << 20,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(config.seed, interface));
    let mut test_runner = TestRunner::new_with_rng(proptest_config, rng);
    let sequences = AtomicU64::new(0);
    let operations = AtomicU64::new(0);
    let shrinking = AtomicBool::new(false);
    let shrink_runs = AtomicU64::new(0);
    let first_failure = AtomicU64::new(0);
    let internal: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let result = test_runner.run(
        &strategy,
        |(_, moves, seen): (GenState, Vec<Move>, Option<Arc<AtomicUsize>>)| {
            let is_shrinking = shrinking.load(Ordering::SeqCst);
            if is_shrinking {
                shrink_runs.fetch_add(1, Ordering::SeqCst);
            }
            // The generator's run of these moves, if they are the ones it applied last.
            let log = last.lock().unwrap_or_else(|e| e.into_inner()).take();
            let log = is_log_of(&log, &moves).then_some(log);
            let outcome = run_moves(runner, &setup, &moves, log);
            let mark_seen = |n: usize| {
                if let Some(seen) = &seen {
                    seen.store(n, Ordering::SeqCst);
                }
            };
            match outcome {
                Err(e) => {
                    mark_seen(moves.len());
                    internal
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e.clone());
                    Err(TestCaseError::fail(e))
                }
                Ok(SequenceRun {
                    difference: None,
                    operations: ops,
                    ..
                }) => {
                    mark_seen(moves.len());
                    if !is_shrinking {
                        sequences.fetch_add(1, Ordering::SeqCst);
                        operations.fetch_add(ops as u64, Ordering::SeqCst);
                        progress(ops as u64);
                    }
                    Ok(())
                }
                Ok(SequenceRun {
                    difference: Some((detail, mv)),
                    operations: ops,
                }) => {
                    mark_seen(mv + 1);
                    if !shrinking.swap(true, Ordering::SeqCst) {
                        let n = sequences.fetch_add(1, Ordering::SeqCst) + 1;
                        operations.fetch_add(ops as u64, Ordering::SeqCst);
                        first_failure.store(n, Ordering::SeqCst);
                        progress(ops as u64);
                    }
                    Err(TestCaseError::fail(detail))
                }
            }
        },
    );
    let mut outcome = FuzzOutcome {
        interface,
        backend,
        sequences: sequences.load(Ordering::SeqCst),
        operations: operations.load(Ordering::SeqCst),
        finding: None,
        error: internal.into_inner().unwrap_or_else(|p| p.into_inner()),
    };
    if outcome.error.is_some() {
        return outcome;
    }
    match result {
        Ok(()) => {}
        Err(TestError::Abort(reason)) => {
            outcome.error = Some(format!("the generator gave up: {reason}"));
        }
        Err(TestError::Fail(_, (_, moves, _))) => {
            let moves = minimise(runner, &setup, moves, &shrink_runs);
            let sequence = first_failure.load(Ordering::SeqCst);
            match describe(runner, &setup, &moves, config, sequence) {
                Ok(mut finding) => {
                    finding.shrink_runs = shrink_runs.load(Ordering::SeqCst);
                    outcome.finding = Some(finding);
                }
                Err(e) => outcome.error = Some(e),
            }
        }
    }
    outcome
}

/// One sequence's run: the first difference (its detail and the move it came from), and the operations run.
struct SequenceRun {
    difference: Option<(String, usize)>,
    operations: usize,
}

/// Runs `moves` as a case, written from `log` (the model's run of exactly these moves) if given.
fn run_moves<E: Executor + ?Sized>(
    runner: &E,
    setup: &Arc<Setup>,
    moves: &[Move],
    log: Option<Log>,
) -> Result<SequenceRun, String> {
    let (id, title) = ("fuzz/sequence", "a generated sequence");
    let generated = match log {
        Some(log) => write(setup, &log, id, title, None),
        None => build(setup, moves, id, title, None),
    }
    .map_err(|e| format!("kvconf generated an invalid sequence: {e}"))?;
    run_generated(runner, setup, &generated, moves.len())
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

/// Removes moves one at a time while the sequence stays valid and still shows a difference, until no single
/// move can go (proptest's shrinking removes moves in one pass from the back; this finishes the job).
fn minimise<E: Executor + ?Sized>(
    runner: &E,
    setup: &Arc<Setup>,
    mut moves: Vec<Move>,
    runs: &AtomicU64,
) -> Vec<Move> {
    let mut changed = true;
    while changed {
        changed = false;
        for candidate in simpler(&moves) {
            if candidate.is_empty() {
                continue;
            }
            // A candidate that is no valid sequence (a removed open its operations needed) is passed over.
            let Ok(generated) = build(setup, &candidate, "fuzz/sequence", "", None) else {
                continue;
            };
            runs.fetch_add(1, Ordering::SeqCst);
            if let Ok(SequenceRun {
                difference: Some(_),
                ..
            }) = run_generated(runner, setup, &generated, candidate.len())
            {
                moves = candidate;
                changed = true;
                break;
            }
        }
    }
    moves
}

/// The sequences one step simpler than `moves`: one move fewer (from the back), a fill of the open-store
/// table replaced by a single open, a fill of a store by two sets, one operation fewer in a concurrent group.
fn simpler(moves: &[Move]) -> Vec<Vec<Move>> {
    let mut out = Vec::new();
    for i in (0..moves.len()).rev() {
        let mut fewer = moves.to_vec();
        fewer.remove(i);
        out.push(fewer);
        let replaced: Vec<Move> = match &moves[i] {
            Move::OpenMany => vec![Move::Open {
                label: DEFAULT_LABEL.into(),
            }],
            // Two keys instead of a thousand, where two show the difference too.
            Move::Fill { slot, .. } => {
                let set = |key: &str| {
                    Move::Op(OpEntry {
                        key: Some(KeySpec::Text(key.into())),
                        value: Some(ValueSpec::Text("x".into())),
                        ..entry(OpKind::Set, *slot)
                    })
                };
                let mut c = moves.to_vec();
                c.splice(i..=i, [set("f0"), set("f1")]);
                out.push(c);
                Vec::new()
            }
            Move::Together(members) if members.len() == 1 => vec![Move::Op(members[0].clone())],
            Move::Together(members) => (0..members.len())
                .map(|j| {
                    let mut m = members.clone();
                    m.remove(j);
                    Move::Together(m)
                })
                .collect(),
            _ => Vec::new(),
        };
        for r in replaced {
            let mut c = moves.to_vec();
            c[i] = r;
            out.push(c);
        }
    }
    out
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
    let draft = build(setup, moves, "fuzz/sequence", "", None)?;
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
    use crate::libtest::{SAVE_VARIABLE, SEED_VARIABLE};
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
    use proptest::strategy::ValueTree;

    fn setup(interface: Interface) -> Arc<Setup> {
        Arc::new(Setup::new(interface, ReferenceHost::sip010_profile()))
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
