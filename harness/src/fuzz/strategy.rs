//! The strategies: which moves are possible from a state, weighted, with the keys and values they draw.

use super::*;

/// `name`, plus or minus `offset`, as a size expression.
pub(super) fn named(name: &str, offset: i64) -> Size {
    Size::Named(match offset {
        0 => name.to_string(),
        o if o > 0 => format!("{name}+{o}"),
        o => format!("{name}-{}", -o),
    })
}

/// An entry with no operation-specific fields yet.
pub(super) fn entry(op: OpKind, slot: u32) -> OpEntry {
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

pub(super) fn one(e: OpEntry) -> Move {
    Move::Op(e)
}

/// Keys: short ones first (what shrinking moves towards), keys already used, and keys at the key limit.
pub(super) fn key_strategy(state: &GenState) -> BoxedStrategy<KeySpec> {
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
pub(super) fn value_strategy(profile: &Profile) -> BoxedStrategy<ValueSpec> {
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
pub(super) fn free_slot(inst: &ModelInstance) -> u32 {
    let used = inst.used_slots();
    (0..).find(|s| !used.contains(s)).unwrap_or(0)
}

/// The moves possible from `state`, weighted; the first arms are the simplest, which shrinking prefers.
/// The largest open-store bound the generator fills in one move ([`Move::OpenMany`]); past it, the bound is left to
/// the hand-written OPEN-LIMIT cases.
pub const OPEN_MANY_MAX: u64 = 4096;

pub(super) fn transitions(state: &GenState) -> BoxedStrategy<Move> {
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
pub(super) fn fill_strategy(state: &GenState, open: &[u32]) -> Option<BoxedStrategy<Move>> {
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
pub(super) struct Draws {
    pub(super) key: BoxedStrategy<KeySpec>,
    pub(super) value: BoxedStrategy<ValueSpec>,
}

pub(super) fn v1_arms(state: &GenState, draws: &Draws, arms: &mut Vec<(u32, BoxedStrategy<Move>)>) {
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

pub(super) fn v3_arms(draws: &Draws, open: &[u32], arms: &mut Vec<(u32, BoxedStrategy<Move>)>) {
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
pub(super) fn wasi_arms(
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
    cas_arms(state, draws, open, arms);
    batch_arms(draws, open, arms);
}

/// wasi draft2's compare-and-swap: a `cas` (mostly of a key an open store holds), a write over a key a cas was
/// made for, and `current` and `swap` of a cas.
fn cas_arms(
    state: &GenState,
    draws: &Draws,
    open: &[u32],
    arms: &mut Vec<(u32, BoxedStrategy<Move>)>,
) {
    let draft = state.setup.interface == Interface::WasiKeyvalueDraft;
    let slots = || select(open.to_vec());
    let key = || draws.key.clone();
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
}

/// wasi's batches: `get-many`, `delete-many` and `set-many` of one to three distinct keys.
fn batch_arms(draws: &Draws, open: &[u32], arms: &mut Vec<(u32, BoxedStrategy<Move>)>) {
    let slots = || select(open.to_vec());
    let key = || draws.key.clone();
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
pub(super) fn generator(
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
