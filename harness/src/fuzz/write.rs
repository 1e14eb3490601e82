//! Writing a sequence as a case: each move's operations, the model's expectations, and the statements cited.

use super::*;

/// A move whose precondition held, and the state it led to.
pub(super) struct Checked {
    /// The [`GenState::id`] of the state it was applied to.
    pub(super) from: u64,
    pub(super) mv: Move,
    pub(super) next: GenState,
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
pub(super) fn replay(setup: &Arc<Setup>, moves: &[Move]) -> Result<Log, String> {
    let mut state = GenState::new(setup.clone());
    for (index, mv) in moves.iter().enumerate() {
        state
            .advance(mv)
            .map_err(|e| format!("move {}: {e}", index + 1))?;
    }
    Ok(state.log)
}

/// Writes the model's run of a sequence as a case, as [`build`] does.
pub(super) fn write(
    setup: &Arc<Setup>,
    log: &Log,
    id: &str,
    title: &str,
    focus: Option<(usize, usize)>,
) -> Result<Generated, String> {
    let profile = &setup.profile;
    let interface = setup.interface;
    let moves = logged(log);
    let closed_after_open = moves.last().is_some_and(|l| l.closed_after_open);
    let (written, step) = written_of(&moves);
    let mut registry = Registry::new(profile, written.iter().map(|w| w.entry));
    if closed_after_open {
        registry.dimensions.insert("fresh-handles");
    }
    note_refusals(&mut registry, &written);
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
    let statements = order_statements(&cited, &move_of, focus, interface);
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

/// One concrete entry a move came to, with its outcomes.
struct Written<'a> {
    /// The step (instance) it runs in.
    step: usize,
    /// The move it came from.
    index: usize,
    entry: &'a OpEntry,
    outcomes: &'a [Expected],
    held: Option<bool>,
}

/// Each move's concrete entries and their outcomes, step by step, and the last step.
fn written_of<'a>(moves: &[&'a Logged]) -> (Vec<Written<'a>>, usize) {
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
    (written, step)
}

/// A refusal depends on the profile's limits even when no size in the case is named after them (a small declared
/// limit reached by plain operations): the case then requires the claims behind it.
fn note_refusals(registry: &mut Registry, written: &[Written<'_>]) {
    for w in written {
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
}

/// The statements a case cites, each once and only those of `interface`: the statements of the move at the
/// focus first, then the rest in order of appearance.
fn order_statements(
    cited: &[(Option<(usize, usize)>, &'static str)],
    move_of: &[Vec<usize>],
    focus: Option<(usize, usize)>,
    interface: Interface,
) -> Vec<String> {
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
        for (at, s) in cited {
            if let Some((st, op)) = at
                && move_of[*st].get(*op) == Some(&mv)
            {
                push(s);
            }
        }
    }
    for (_, s) in cited {
        push(s);
    }
    statements
}

/// The statements an entry with this outcome checks.
pub(super) fn statements_of(
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
    size_statements(e, expected, &mut out);
    out
}

/// The statements an entry's sizes and key text check: keys and values at (or past) the limits, a fill up to
/// the tuple figure, keys that are not plain ASCII letters and digits, the empty key.
fn size_statements(e: &OpEntry, expected: &Expected, out: &mut Vec<&'static str>) {
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
}

/// The keys and values a sequence uses, so that expectations are written the way the sequence wrote them
/// (a 1 MiB value as its pattern, a key at the limit as its fill and size).
pub(super) struct Registry {
    pub(super) profile: Profile,
    /// The values written, in the order first written, each with its bytes (for repetition 0) once an
    /// expectation has needed them: a value at the limit is a mebibyte of pattern, rarely read back.
    pub(super) values: Vec<(ValueSpec, OnceCell<Option<Vec<u8>>>)>,
    pub(super) keys: BTreeMap<String, KeySpec>,
    /// Fill counts: the size expression and what it comes to.
    pub(super) fills: Vec<(Size, u64)>,
    pub(super) dimensions: BTreeSet<&'static str>,
}

impl Registry {
    pub(super) fn new<'a>(
        profile: &Profile,
        entries: impl Iterator<Item = &'a OpEntry>,
    ) -> Registry {
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
    pub(super) fn requires(
        &self,
        profile: &Profile,
        grants: &BTreeMap<String, Vec<String>>,
    ) -> Vec<Capability> {
        // The profile's claim about each limit the sequence reaches (or is refused by).
        let mut caps: Vec<Capability> = Profile::LIMITS
            .iter()
            .filter(|limit| self.dimensions.contains(*limit))
            .filter_map(|limit| profile.limit_claim(limit))
            .collect();
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
    pub(super) fn value(&self, bytes: &[u8]) -> ValueSpec {
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

    pub(super) fn key(&self, key: &str) -> KeySpec {
        self.keys
            .get(key)
            .cloned()
            .unwrap_or_else(|| KeySpec::Text(key.to_string()))
    }

    /// A listing: the keys of the largest fill as a template, the rest one by one.
    pub(super) fn listing(&self, keys: &BTreeSet<String>) -> KeysSpec {
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
    pub(super) fn expect_entry(&self, expected: &Expected) -> ExpectEntry {
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
pub(super) fn fill_index(key: &str) -> Option<u64> {
    let digits = key.strip_prefix('f')?;
    let canonical =
        digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return None;
    }
    digits.parse().ok()
}
