//! The generator's state: the moves of a sequence, what applying them did, and the model state they lead to.

use super::*;

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
pub(super) struct Stale {
    /// The opens so far when it stopped being open.
    pub(super) since: u64,
    /// Whether it is forged (a number the host never gave, which a later open may give) rather than closed.
    pub(super) forged: bool,
}

/// One entry a move comes to, as applied to the model.
#[derive(Debug)]
pub(super) struct Applied {
    pub(super) entry: OpEntry,
    /// The outcome of each of its operations (repetitions expanded).
    pub(super) outcomes: Vec<Expected>,
    /// For a single delete or increment: whether the store held the key before the move.
    pub(super) held: Option<bool>,
}

/// A move applied to the model: the entries it came to, and the moves applied before it.
#[derive(Debug)]
pub(super) struct Logged {
    pub(super) mv: Move,
    pub(super) applied: Vec<Applied>,
    /// [`GenState::closed_after_open`] after the move.
    pub(super) closed_after_open: bool,
    pub(super) before: Log,
}

/// The moves applied to a state so far, latest first; clones of a state share it.
pub(super) type Log = Option<Arc<Logged>>;

/// The moves of a log, first to last.
pub(super) fn logged(log: &Log) -> Vec<&Logged> {
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
pub(super) fn is_log_of(log: &Log, moves: &[Move]) -> bool {
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
    pub(super) setup: Arc<Setup>,
    /// Which state this is: new for every state [`GenState::new`] makes and every move applied, kept by a
    /// clone (whose contents are the same).
    pub(super) id: u64,
    pub(super) app: ModelApp,
    pub(super) inst: ModelInstance,
    /// Operations run by the current instance.
    pub(super) in_step: usize,
    /// A handle that is not open was used: the instance must end there (a host may trap).
    pub(super) ended: bool,
    /// Successful opens in this instance so far.
    pub(super) opens: u64,
    /// v1: each slot holding a number that is not open.
    pub(super) stale_since: BTreeMap<u32, Stale>,
    /// v1: a closed number was used after a later open, which only a host claiming `v1-fresh-handles` must
    /// still refuse (the case then requires the claim).
    pub(super) closed_after_open: bool,
    /// Keys and values used so far, for the generator to come back to.
    pub(super) keys: Vec<KeySpec>,
    /// The moves applied so far, with what each came to: what a case is written from ([`build`]).
    pub(super) log: Log,
}

impl GenState {
    pub(super) fn new(setup: Arc<Setup>) -> GenState {
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
    pub(super) fn stale_usable(&self, slot: u32) -> bool {
        self.stale_since.get(&slot).is_some_and(|stale| {
            stale.since == self.opens || (self.setup.profile.v1_fresh_handles && !stale.forged)
        })
    }

    /// Applies a move to the model and logs it with the entries it came to, or says why the move is not
    /// acceptable here.
    pub(super) fn advance(&mut self, mv: &Move) -> Result<(), String> {
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
    pub(super) fn apply_move(&mut self, mv: &Move) -> Result<Vec<Applied>, String> {
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
    pub(super) fn held_before(&self, e: &OpEntry) -> Option<bool> {
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
    pub(super) fn bind_slot(&self, slot: u32) -> Result<u32, String> {
        let open = self.inst.open_slots();
        if open.iter().any(|(s, _)| *s == slot) {
            return Ok(slot);
        }
        open.first()
            .map(|(s, _)| *s)
            .ok_or_else(|| "no store is open".to_string())
    }

    pub(super) fn label_of(&self, slot: u32) -> Result<String, String> {
        self.inst
            .open_slots()
            .into_iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, l)| l)
            .ok_or_else(|| format!("slot {slot} holds no open store"))
    }

    /// An operation bound to this state: its store slot open, its cas slot free (a new cas) or held.
    pub(super) fn bind(&self, e: &OpEntry) -> Result<OpEntry, String> {
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
    pub(super) fn apply_entry(&mut self, e: &OpEntry) -> Result<Vec<Expected>, String> {
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
pub(super) fn uses_store(kind: OpKind) -> bool {
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
pub(super) fn store_slot(op: &Operation) -> Option<u32> {
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
pub(super) fn invalid_handle(expected: &Expected) -> bool {
    matches!(
        expected,
        Expected::Trap | Expected::Error(ErrorKind::InvalidStore)
    )
}

/// The keys an entry names.
pub(super) fn entry_keys(entry: &OpEntry) -> Vec<&KeySpec> {
    let mut keys: Vec<&KeySpec> = entry.key.iter().collect();
    keys.extend(entry.keys.iter().flatten());
    keys.extend(entry.entries.iter().flatten().map(|e| &e.key));
    keys.retain(|k| !matches!(k, KeySpec::Text(t) if t.contains("{i}")));
    keys
}

/// The values an entry writes.
pub(super) fn entry_values(entry: &OpEntry) -> Vec<&ValueSpec> {
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
