//! Checking a recorded history: each key's operations searched for a linearisation, failures classified, and a
//! violation written up with the operations that show it.

use super::*;

/// What an operation did to its key's register, as far as the checker is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Access {
    Open,
    /// A `set` (`Some`) or `delete` (`None`).
    Write(Option<Vec<u8>>),
    /// A `get`: the value, or `None` for a missing key.
    Read(Option<Vec<u8>>),
    /// An `exists`.
    Exists(bool),
    /// An `increment` by `delta` that returned `result`.
    Increment {
        delta: i64,
        result: i64,
    },
    /// A `cas.new` that succeeded (its key, and what it read, come with the `current` and `swap` after it).
    CasMade,
    /// A cas's `current`: what its `cas.new` read.
    Remembered(Option<Vec<u8>>),
    /// A `swap`: whether it wrote.
    Swapped(bool),
    /// A `cas.new` as a read of its key: what `current` said it read, over the `cas.new`'s interval (the WIT:
    /// `new` "reads `key` and remembers its value").
    Snapshot {
        value: Option<Vec<u8>>,
        invoked: Duration,
        returned: Option<Duration>,
    },
    /// A `swap` of `value` from a cas that remembered `expected`, which wrote (`ok`) or failed with
    /// `cas-failed`.
    Swap {
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
        ok: bool,
    },
}

impl Access {
    /// The bytes it writes, or tries to (a swap that failed included).
    pub(super) fn writes(&self) -> Option<&[u8]> {
        match self {
            Access::Write(Some(v)) | Access::Swap { value: v, .. } => Some(v),
            _ => None,
        }
    }
}

/// What an operation did, or the nature of its failure and what to say about it.
pub(super) fn classify(
    event: &Event,
    record: &InstanceRecord,
    interface: Interface,
) -> Result<Access, (&'static str, String)> {
    match (&event.op, &event.outcome) {
        (Operation::Open { .. }, Outcome::Opened) => Ok(Access::Open),
        (Operation::Set { value, .. }, Outcome::Done) => Ok(Access::Write(Some(value.clone()))),
        (Operation::Delete { .. }, Outcome::Done) => Ok(Access::Write(None)),
        (Operation::Get { .. }, Outcome::Value(value)) => Ok(Access::Read(value.clone())),
        (Operation::Get { .. }, Outcome::Failed(e))
            if interface == Interface::V1 && e.kind == ErrorKind::NoSuchKey =>
        {
            Ok(Access::Read(None))
        }
        (Operation::Exists { .. }, Outcome::Exists(b)) => Ok(Access::Exists(*b)),
        (Operation::Increment { delta, .. }, Outcome::Counter(result)) => Ok(Access::Increment {
            delta: *delta,
            result: *result,
        }),
        (Operation::CasNew { .. }, Outcome::Opened) => Ok(Access::CasMade),
        (Operation::CasCurrent { .. }, Outcome::Value(value)) => {
            Ok(Access::Remembered(value.clone()))
        }
        (Operation::CasSwap { .. }, Outcome::Done) => Ok(Access::Swapped(true)),
        (Operation::CasSwap { .. }, Outcome::Failed(e)) if e.kind == ErrorKind::CasFailed => {
            Ok(Access::Swapped(false))
        }
        (_, Outcome::Failed(_)) => Err((
            HOST_ERROR,
            format!("the host returned {}", event.outcome.render(None)),
        )),
        (_, Outcome::Trapped(text)) if record.timed_out => Err((TIMEOUT, text.clone())),
        (_, Outcome::Trapped(text)) => Err((TRAP, text.clone())),
        (_, Outcome::NotRun) => Err((
            TRAP,
            "never ran: the instance stopped at an earlier operation".into(),
        )),
        (_, Outcome::ScriptError(text)) => Err((SCRIPT_ERROR, text.clone())),
        _ => Err((
            UNEXPECTED_OUTCOME,
            "an outcome of the wrong kind for this operation".into(),
        )),
    }
}

pub(super) fn micros(d: Duration) -> u128 {
    d.as_micros()
}

/// One line about an event: where it ran, its interval, the operation and its outcome.
pub(super) fn describe(event: &Event) -> String {
    describe_at(event, event.invoked, event.returned)
}

/// [`describe`] with the interval given.
pub(super) fn describe_at(event: &Event, invoked: Duration, returned: Option<Duration>) -> String {
    let returned = match returned {
        Some(r) => format!("{:>7}", micros(r)),
        None => "      …".into(),
    };
    format!(
        "[{:>7} – {returned}] µs  instance {} op {:>2}: {} -> {}",
        micros(invoked),
        event.instance,
        event.index,
        event.op,
        event.outcome.render(None)
    )
}

/// Checks a recorded history: every operation succeeded, no read invented a value, every key linearisable.
pub(super) fn check(recorded: &Recorded, interface: Interface) -> Option<Violation> {
    let mut failures = Vec::new();
    let mut accesses = Vec::new();
    for record in &recorded.instances {
        for event in &record.events {
            match classify(event, record, interface) {
                Ok(access) => accesses.push((event, access)),
                Err(failure) => failures.push((event, record, failure)),
            }
        }
    }
    if !failures.is_empty() {
        return Some(failed(&failures));
    }
    let keys = by_key(accesses);
    for (key, ops) in &keys {
        if let Some(v) = invented(key, ops, &keys) {
            return Some(v);
        }
    }
    for (key, ops) in &keys {
        let history = KeyHistory::new(ops, recorded.instances.len());
        match history.search(SEARCH_BUDGET) {
            Search::Linearisable => {}
            Search::NotLinearisable { deepest } => {
                return Some(not_linearisable(key, &history, deepest));
            }
            Search::Exhausted => {
                return Some(Violation {
                    statement: INCONCLUSIVE,
                    detail: format!(
                        "the linearisability search for key {} gave up after {SEARCH_BUDGET} configurations: \
                         use fewer instances or operations per key\n{}",
                        render_key(key),
                        excerpt(&history, &[])
                    ),
                });
            }
        }
    }
    None
}

/// A cas made in one instance: its `cas.new`, and what its `current` said it read (a swap from a cas whose
/// `current` was not asked cannot be judged, and is left out; kvconf's scripts always ask).
pub(super) struct MadeCas<'e> {
    pub(super) key: &'e str,
    pub(super) new: &'e Event,
    pub(super) remembered: Option<Option<Vec<u8>>>,
}

/// The accesses of a history by key, in order. A cas's `current` becomes its `cas.new`'s read of the key
/// ([`Access::Snapshot`]), and its `swap` a swap of that key from what it read ([`Access::Swap`]).
pub(super) fn by_key(accesses: Vec<(&Event, Access)>) -> BTreeMap<&str, Vec<(&Event, Access)>> {
    let mut keys: BTreeMap<&str, Vec<(&Event, Access)>> = BTreeMap::new();
    // Per instance, the cas in each cas slot: its `cas.new`, and what its `current` said it read.
    let mut made: HashMap<(usize, u32), MadeCas<'_>> = HashMap::new();
    for (event, access) in accesses {
        let (key, access) = match (&event.op, access) {
            (Operation::CasNew { cas, key, .. }, _) => {
                made.insert(
                    (event.instance, *cas),
                    MadeCas {
                        key,
                        new: event,
                        remembered: None,
                    },
                );
                continue;
            }
            (Operation::CasCurrent { cas }, Access::Remembered(value)) => {
                let Some(MadeCas {
                    key,
                    new,
                    remembered,
                }) = made.get_mut(&(event.instance, *cas))
                else {
                    continue;
                };
                *remembered = Some(value.clone());
                let snapshot = Access::Snapshot {
                    value,
                    invoked: new.invoked,
                    returned: new.returned,
                };
                (*key, snapshot)
            }
            (Operation::CasSwap { cas, value }, Access::Swapped(ok)) => {
                let Some(MadeCas {
                    key,
                    remembered: Some(expected),
                    ..
                }) = made.remove(&(event.instance, *cas))
                else {
                    continue;
                };
                let swap = Access::Swap {
                    expected,
                    value: value.clone(),
                    ok,
                };
                (key, swap)
            }
            (op, access) => match key_of(op) {
                Some(key) => (key, access),
                None => continue,
            },
        };
        keys.entry(key).or_default().push((event, access));
    }
    keys
}

pub(super) fn key_of(op: &Operation) -> Option<&str> {
    match op {
        Operation::Set { key, .. }
        | Operation::Get { key, .. }
        | Operation::Delete { key, .. }
        | Operation::Exists { key, .. }
        | Operation::Increment { key, .. } => Some(key),
        _ => None,
    }
}

/// The account of a history in which operations failed: the first failure's nature, and every failure.
pub(super) fn failed(failures: &[(&Event, &InstanceRecord, (&'static str, String))]) -> Violation {
    // A `not run` only follows the failure that stopped its instance; name that failure.
    let first = failures
        .iter()
        .find(|(e, _, _)| e.outcome != Outcome::NotRun)
        .unwrap_or(&failures[0]);
    let mut detail = format!(
        "operations failed, so the history cannot be judged; the first: {}\n",
        first.2.1.lines().next().unwrap_or("")
    );
    const SHOWN: usize = 12;
    for (event, _, (nature, _)) in failures
        .iter()
        .filter(|(e, _, _)| e.outcome != Outcome::NotRun)
        .take(SHOWN)
    {
        let _ = writeln!(detail, "  {nature}: {}", describe(event));
    }
    let not_run = failures
        .iter()
        .filter(|(e, _, _)| e.outcome == Outcome::NotRun)
        .count();
    if not_run > 0 {
        let _ = writeln!(detail, "  ({not_run} operations after those never ran)");
    }
    let mut instances: Vec<usize> = failures.iter().map(|(e, _, _)| e.instance).collect();
    instances.dedup();
    for instance in instances {
        let in_it = || failures.iter().filter(|(e, _, _)| e.instance == instance);
        if let Some((_, _, (_, text))) =
            in_it().find(|(e, _, _)| matches!(e.outcome, Outcome::Trapped(_)))
        {
            let _ = writeln!(
                detail,
                "  instance {instance} fault:\n{}",
                indent(text, "    ")
            );
        }
        if let Some((_, record, _)) = in_it().find(|(_, r, _)| !r.stderr.is_empty()) {
            let _ = writeln!(
                detail,
                "  instance {instance} guest stderr:\n{}",
                indent(&record.stderr, "    ")
            );
        }
    }
    Violation {
        statement: first.2.0,
        detail,
    }
}

pub(super) fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

/// A read of `key` returning bytes no `set` of `key` wrote: a torn or invented value.
pub(super) fn invented(
    key: &str,
    ops: &[(&Event, Access)],
    keys: &BTreeMap<&str, Vec<(&Event, Access)>>,
) -> Option<Violation> {
    let written: HashSet<&[u8]> = ops.iter().filter_map(|(_, a)| a.writes()).collect();
    let (event, bytes) = ops.iter().find_map(|(e, a)| match a {
        Access::Read(Some(v)) | Access::Snapshot { value: Some(v), .. }
            if !written.contains(v.as_slice()) =>
        {
            Some((e, v))
        }
        _ => None,
    })?;
    let elsewhere = keys.iter().find(|(k, ops)| {
        **k != key
            && ops
                .iter()
                .any(|(_, a)| a.writes() == Some(bytes.as_slice()))
    });
    let origin = match elsewhere {
        Some((other, _)) => format!(
            "they were written to key {}, never to this one",
            render_key(other)
        ),
        None => match torn(bytes, &written) {
            Some((head, tail)) => format!(
                "they are the start of {} followed by the end of {}",
                render_bytes(head),
                render_bytes(tail)
            ),
            None => "no operation of the history wrote them".to_string(),
        },
    };
    let mut writes: Vec<String> = written.iter().map(|v| render_bytes(v)).collect();
    writes.sort();
    Some(Violation {
        statement: ATOMIC,
        detail: format!(
            "a read of key {} returned {}, which no set of that key wrote ({origin}): a torn or invented value\n  \
             {}\n  the values written to {}: {}",
            render_key(key),
            render_bytes(bytes),
            describe(event),
            render_key(key),
            writes.join(", ")
        ),
    })
}

/// Whether `bytes` is the start of one written value followed by the rest of another (an overwrite that kept the
/// old tail, or two writes interleaved): the two values, the longest such start first.
pub(super) fn torn<'v>(bytes: &[u8], written: &HashSet<&'v [u8]>) -> Option<(&'v [u8], &'v [u8])> {
    let mut heads: Vec<&[u8]> = written
        .iter()
        .copied()
        .filter(|w| !w.is_empty() && w.len() < bytes.len() && bytes.starts_with(w))
        .collect();
    heads.sort_by_key(|w| std::cmp::Reverse(w.len()));
    heads.into_iter().find_map(|head| {
        let rest = &bytes[head.len()..];
        written
            .iter()
            .copied()
            .find(|w| w.len() == bytes.len() && w.ends_with(rest))
            .map(|tail| (head, tail))
    })
}

/// One operation on a key, as the search sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Write a value (its number among the key's written values) or absent (`None`).
    Write(Option<u32>),
    /// Read a value or absent.
    Read(Option<u32>),
    /// Read present (`true`) or absent.
    Exists(bool),
    /// Add `delta` to a counter and return `result`. A counter's key holds nothing but its counter, so its
    /// register's `Some(n)` is the counter `n` (and `None` its start, 0): the value numbers of written values
    /// never meet it.
    Increment { delta: i64, result: i64 },
    /// Compare-and-swap: write value `new` if the register holds `expected` (`ok`), or find it holds something
    /// else and leave it (not `ok`). A swapped key holds nothing but swapped values, each written once, so the
    /// register never returns to a value it left, and "holds what the cas read" is "was not written since".
    Swap {
        expected: Option<u32>,
        new: u32,
        ok: bool,
    },
}

impl Step {
    /// What the step writes to the register, if it writes (a written value or absent).
    pub(super) fn writes(self) -> Option<Option<u32>> {
        match self {
            Step::Write(v) => Some(v),
            Step::Swap { new, ok: true, .. } => Some(Some(new)),
            _ => None,
        }
    }
}

/// One operation on a key with its interval.
#[derive(Clone, Debug)]
pub(super) struct KeyOp<'a> {
    pub(super) event: &'a Event,
    pub(super) step: Step,
    pub(super) invoked: Duration,
    pub(super) returned: Duration,
}

/// The operations on one key, per instance, in program order.
pub(super) struct KeyHistory<'a> {
    pub(super) per_instance: Vec<Vec<KeyOp<'a>>>,
}

/// What the linearisability search found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Search {
    Linearisable,
    /// No linearisation; the longest valid prefix of one linearised this many operations.
    NotLinearisable {
        deepest: usize,
    },
    /// The budget ran out.
    Exhausted,
}

impl<'a> KeyHistory<'a> {
    /// Every read of a value some `set` wrote (checked by [`invented`] first); a read of other bytes gets a
    /// value number no write has, so no linearisation satisfies it.
    pub(super) fn new(ops: &[(&'a Event, Access)], instances: usize) -> Self {
        let mut values: HashMap<&[u8], u32> = HashMap::new();
        for (_, access) in ops {
            if let Some(v) = access.writes() {
                let next = values.len() as u32;
                values.entry(v).or_insert(next);
            }
        }
        let unknown = values.len() as u32;
        let number = |v: &Option<Vec<u8>>| {
            v.as_ref()
                .map(|v| values.get(v.as_slice()).copied().unwrap_or(unknown))
        };
        let mut per_instance: Vec<Vec<KeyOp<'a>>> = vec![Vec::new(); instances];
        for (event, access) in ops {
            let (mut invoked, mut returned) = (event.invoked, event.returned);
            let step = match access {
                Access::Write(v) => Step::Write(number(v)),
                Access::Read(v) => Step::Read(number(v)),
                Access::Exists(b) => Step::Exists(*b),
                Access::Increment { delta, result } => Step::Increment {
                    delta: *delta,
                    result: *result,
                },
                Access::Snapshot {
                    value,
                    invoked: made,
                    returned: made_returned,
                } => {
                    (invoked, returned) = (*made, *made_returned);
                    Step::Read(number(value))
                }
                Access::Swap {
                    expected,
                    value,
                    ok,
                } => Step::Swap {
                    expected: number(expected),
                    new: values[value.as_slice()],
                    ok: *ok,
                },
                Access::Open | Access::CasMade | Access::Remembered(_) | Access::Swapped(_) => {
                    continue;
                }
            };
            if per_instance.len() <= event.instance {
                per_instance.resize(event.instance + 1, Vec::new());
            }
            per_instance[event.instance].push(KeyOp {
                event,
                step,
                invoked,
                returned: returned.unwrap_or(Duration::MAX),
            });
        }
        for ops in &mut per_instance {
            ops.sort_by_key(|op| op.event.index);
        }
        KeyHistory { per_instance }
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &KeyOp<'a>> {
        self.per_instance.iter().flatten()
    }

    /// Wing and Gong's search with memoisation of (linearised prefixes, register value); iterative, so the
    /// depth of a long history does not matter.
    pub(super) fn search(&self, budget: usize) -> Search {
        let per = &self.per_instance;
        let k = per.len();
        let total: usize = per.iter().map(Vec::len).sum();
        let mut prefix = vec![0usize; k];
        let mut seen: HashSet<(Vec<usize>, Option<u32>)> = HashSet::new();
        seen.insert((prefix.clone(), None));
        // Each frame: the register's value in that configuration, and the next instance to try from it.
        let mut frames: Vec<(Option<u32>, usize)> = vec![(None, 0)];
        // The instance advanced to reach each frame after the first.
        let mut path: Vec<usize> = Vec::new();
        let mut deepest = 0;
        loop {
            if path.len() == total {
                return Search::Linearisable;
            }
            let Some(&(value, from)) = frames.last() else {
                return Search::NotLinearisable { deepest };
            };
            let mut next = None;
            for i in from..k {
                let Some(op) = per[i].get(prefix[i]) else {
                    continue;
                };
                // Minimal: no pending operation of another instance returned before this one was invoked.
                let preceded = (0..k).any(|j| {
                    j != i
                        && per[j]
                            .get(prefix[j])
                            .is_some_and(|other| other.returned < op.invoked)
                });
                if preceded {
                    continue;
                }
                let after = match op.step {
                    Step::Write(v) => v,
                    Step::Read(v) if v == value => value,
                    Step::Exists(b) if b == value.is_some() => value,
                    Step::Increment { delta, result } => {
                        let current = i64::from(value.unwrap_or(0));
                        match u32::try_from(result) {
                            Ok(after) if current.checked_add(delta) == Some(result) => Some(after),
                            _ => continue,
                        }
                    }
                    Step::Swap { expected, new, ok } if ok == (value == expected) => {
                        if ok {
                            Some(new)
                        } else {
                            value
                        }
                    }
                    _ => continue,
                };
                prefix[i] += 1;
                if seen.insert((prefix.clone(), after)) {
                    next = Some((i, after));
                    break;
                }
                prefix[i] -= 1;
            }
            if let Some(frame) = frames.last_mut() {
                frame.1 = next.map_or(k, |(i, _)| i + 1);
            }
            match next {
                Some((i, after)) => {
                    if seen.len() > budget {
                        return Search::Exhausted;
                    }
                    path.push(i);
                    deepest = deepest.max(path.len());
                    frames.push((after, 0));
                }
                None => {
                    frames.pop();
                    if let Some(i) = path.pop() {
                        prefix[i] -= 1;
                    }
                }
            }
        }
    }

    /// The reads that saw a value already overwritten when they began: (the read, the write of what it saw
    /// (`None`: the initial absence), a write that came wholly between).
    pub(super) fn stale_reads(&self) -> Vec<(&KeyOp<'a>, Option<&KeyOp<'a>>, &KeyOp<'a>)> {
        let mut out = Vec::new();
        for read in self.all() {
            // Whether a write gives what the read saw.
            let gives = |w: Step| match (read.step, w.writes()) {
                (Step::Read(v), Some(x)) => v == x,
                (Step::Exists(b), Some(x)) => b == x.is_some(),
                _ => false,
            };
            let initial = match read.step {
                Step::Read(v) => v.is_none(),
                Step::Exists(b) => !b,
                Step::Write(_) | Step::Increment { .. } | Step::Swap { .. } => continue,
            };
            // The writes the read may have seen: those of what it saw that began before it returned.
            let writers: Vec<&KeyOp<'a>> = self
                .all()
                .filter(|w| gives(w.step) && w.invoked < read.returned)
                .collect();
            if writers.is_empty() && !initial {
                // A read from the future, named by `reads_from_the_future`.
                continue;
            }
            // For every write it may have seen (and the initial absence, before everything), a write of
            // something else started after that one returned and returned before the read began.
            let overwrite = |after: Duration| {
                self.all().find(|w| {
                    w.step.writes().is_some()
                        && !gives(w.step)
                        && after <= w.invoked
                        && w.returned <= read.invoked
                })
            };
            // The latest write of what the read saw, and a write that overwrote it.
            let mut witness: Option<(Duration, Option<&KeyOp<'a>>, &KeyOp<'a>)> = None;
            let mut stale = true;
            for writer in writers
                .iter()
                .map(|w| Some(*w))
                .chain(initial.then_some(None))
            {
                let returned = writer.map_or(Duration::ZERO, |w| w.returned);
                let Some(overwritten) = overwrite(returned) else {
                    stale = false;
                    break;
                };
                if witness.is_none_or(|(latest, _, _)| returned >= latest) {
                    witness = Some((returned, writer, overwritten));
                }
            }
            if stale && let Some((_, writer, overwritten)) = witness {
                out.push((read, writer, overwritten));
            }
        }
        out
    }

    /// Two reads that saw different things although no write of the key was in progress from the first one's
    /// invocation to the last one's return: the register could not change between them, so they must agree.
    pub(super) fn disagreeing_reads(&self) -> Option<(&KeyOp<'a>, &KeyOp<'a>)> {
        let reads: Vec<&KeyOp<'a>> = self
            .all()
            .filter(|op| matches!(op.step, Step::Read(_) | Step::Exists(_)))
            .collect();
        let differ = |a: Step, b: Step| match (a, b) {
            (Step::Read(x), Step::Read(y)) => x != y,
            (Step::Read(x), Step::Exists(b)) | (Step::Exists(b), Step::Read(x)) => x.is_some() != b,
            (Step::Exists(a), Step::Exists(b)) => a != b,
            _ => false,
        };
        for (n, first) in reads.iter().enumerate() {
            for second in &reads[n + 1..] {
                if !differ(first.step, second.step) {
                    continue;
                }
                let start = first.invoked.min(second.invoked);
                let end = first.returned.max(second.returned);
                let quiet = self
                    .all()
                    .all(|w| w.step.writes().is_none() || w.returned <= start || w.invoked >= end);
                if quiet {
                    return Some((first, second));
                }
            }
        }
        None
    }

    /// Pairs of increments by a positive delta that returned the same counter: one of them was lost.
    pub(super) fn lost_updates(&self) -> Vec<(&KeyOp<'a>, &KeyOp<'a>)> {
        let increments: Vec<&KeyOp<'a>> = self
            .all()
            .filter(|op| matches!(op.step, Step::Increment { delta, .. } if delta > 0))
            .collect();
        let result = |op: &KeyOp<'a>| match op.step {
            Step::Increment { result, .. } => Some(result),
            _ => None,
        };
        let mut out = Vec::new();
        for (n, first) in increments.iter().enumerate() {
            for second in &increments[n + 1..] {
                if result(first) == result(second) {
                    out.push((*first, *second));
                }
            }
        }
        out
    }

    /// Pairs of swaps that both wrote from a cas that read the same thing: one overwrote the other's write
    /// without having seen it (a swapped key never returns to a value it left, so only one can have found its
    /// cas's value still there).
    pub(super) fn double_swaps(&self) -> Vec<(&KeyOp<'a>, &KeyOp<'a>)> {
        let swaps: Vec<(&KeyOp<'a>, Option<u32>)> = self
            .all()
            .filter_map(|op| match op.step {
                Step::Swap {
                    expected, ok: true, ..
                } => Some((op, expected)),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for (n, (first, from)) in swaps.iter().enumerate() {
            for (second, other) in &swaps[n + 1..] {
                if from == other {
                    out.push((*first, *second));
                }
            }
        }
        out
    }

    /// The reads that saw a value whose every write began after the read returned.
    pub(super) fn reads_from_the_future(&self) -> Vec<&KeyOp<'a>> {
        self.all()
            .filter(|read| match read.step {
                Step::Read(Some(v)) => self
                    .all()
                    .filter(|w| w.step.writes() == Some(Some(v)))
                    .all(|w| w.invoked > read.returned),
                _ => false,
            })
            .collect()
    }
}

/// The key's operations in order of invocation, the `marked` ones flagged.
pub(super) fn excerpt(history: &KeyHistory<'_>, marked: &[&Event]) -> String {
    let mut ops: Vec<&KeyOp<'_>> = history.all().collect();
    ops.sort_by_key(|op| (op.invoked, op.event.instance, op.event.index));
    let mut out = String::from(
        "  its operations, by time of invocation (µs since the instances were released):\n",
    );
    for op in ops {
        let mark = if marked.iter().any(|m| std::ptr::eq(*m, op.event)) {
            "✗"
        } else {
            " "
        };
        let returned = (op.returned != Duration::MAX).then_some(op.returned);
        let line = describe_at(op.event, op.invoked, returned);
        // A cas's `current` stands for the read its `cas.new` made, and has the `cas.new`'s interval.
        let made = if let Operation::CasCurrent { .. } = op.event.op {
            " (what its cas-new read)"
        } else {
            ""
        };
        let _ = writeln!(out, "  {mark} {line}{made}");
    }
    out
}

/// An operation as the account of a violation names it: `instance 1 op 3 (get[0] "c0" -> value "a")`.
pub(super) fn named(op: &KeyOp<'_>) -> String {
    format!(
        "instance {} op {} ({} -> {})",
        op.event.instance,
        op.event.index,
        op.event.op,
        op.event.outcome.render(None)
    )
}

pub(super) fn not_linearisable(key: &str, history: &KeyHistory<'_>, deepest: usize) -> Violation {
    let total = history.all().count();
    let mut detail = format!(
        "the operations on key {} have no linearisation: no order of them, consistent with each instance's order \
         and with real time, has every read return the last value written (the longest consistent order takes \
         {deepest} of its {total} operations)\n",
        render_key(key)
    );
    let mut marked: Vec<&Event> = Vec::new();
    let stale = history.stale_reads();
    for (read, writer, overwrite) in stale.iter().take(3) {
        let seen = match writer {
            Some(w) => format!(
                "what instance {} op {} ({}) wrote, returned at {} µs",
                w.event.instance,
                w.event.index,
                w.event.op,
                micros(w.returned)
            ),
            None => "the key's initial absence".into(),
        };
        let _ = writeln!(
            detail,
            "  stale read: {}, invoked at {} µs, saw {seen}, although {} overwrote it in [{}, {}] µs, before \
             the read began",
            named(read),
            micros(read.invoked),
            named(overwrite),
            micros(overwrite.invoked),
            micros(overwrite.returned),
        );
        marked.push(read.event);
    }
    if stale.len() > 3 {
        let _ = writeln!(detail, "  … and {} more stale reads", stale.len() - 3);
    }
    for read in history.reads_from_the_future().into_iter().take(3) {
        let _ = writeln!(
            detail,
            "  read from the future: {} returned at {} µs, before the write of that value began",
            named(read),
            micros(read.returned)
        );
        marked.push(read.event);
    }
    if marked.is_empty()
        && let Some((first, second)) = history.disagreeing_reads()
    {
        let _ = writeln!(
            detail,
            "  reads that disagree: {} and {} both ran within [{}, {}] µs, while no write of the key was in \
             progress, yet they saw different values",
            named(first),
            named(second),
            micros(first.invoked.min(second.invoked)),
            micros(first.returned.max(second.returned)),
        );
        marked.extend([first.event, second.event]);
    }
    let lost = history.lost_updates();
    for (first, second) in lost.iter().take(3) {
        let _ = writeln!(
            detail,
            "  lost update: {} and {} returned the same counter, so one increment was applied over a value the \
             other had already replaced",
            named(first),
            named(second),
        );
        marked.extend([first.event, second.event]);
    }
    let swapped = history.double_swaps();
    for (first, second) in swapped.iter().take(3) {
        let _ = writeln!(
            detail,
            "  lost update: {} and {} both swapped from a cas that read the same value, so one wrote over the \
             other's value without having seen it (a swap writes only if the key still holds what its cas read)",
            named(first),
            named(second),
        );
        marked.extend([first.event, second.event]);
    }
    if marked.is_empty() {
        let _ = writeln!(
            detail,
            "  no single read or pair of reads is wrong on its own: the reads together disagree on the order of \
             the writes"
        );
    }
    detail.push_str(&excerpt(history, &marked));
    Violation {
        // Increments that return one value, and swaps that both wrote from one value, are not atomic; anything
        // else is a visibility fault.
        statement: if lost.is_empty() && swapped.is_empty() {
            VISIBLE
        } else {
            ATOMIC
        },
        detail,
    }
}
