//! A case planned for one interface version and profile: every entry expanded to the exact operations, each with
//! the outcome it must have.

use super::*;

/// A step ready to run: operations with exact bytes and the outcome each must have.
#[derive(Clone, Debug)]
pub struct PlannedStep {
    /// The component whose fresh instance runs it.
    pub component: String,
    /// The interface version its instance speaks.
    pub interface: Interface,
    /// Whether the host restarts before it.
    pub restart: bool,
    /// The operations, repetitions expanded.
    pub ops: Vec<Operation>,
    /// The outcome each operation must have.
    pub expected: Vec<Expected>,
    /// The entries the operations came from, for compact transcripts.
    pub groups: Vec<Group>,
}

/// A run of operations expanded from one case-file entry.
#[derive(Clone, Debug)]
pub struct Group {
    /// Index of its first operation in the step.
    pub start: usize,
    /// How many operations (the repeat count).
    pub len: usize,
    /// The entry as a transcript shows it when repeated (`set[0] "k{i}" = "v{i}"`).
    pub text: String,
    /// Its expectation as a transcript shows it when matched: for a repeated entry (`value "v{i}"`), and for
    /// an answer the profile chooses (`invalid handle, answered as declared`).
    pub expect_text: String,
    /// Whether the expectation is a choice the profile declares, so a match is shown as `expect_text`.
    pub declared: bool,
}

/// A case expanded for one interface version and one profile.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The interface version the case runs for (a step may pin another).
    pub interface: Interface,
    /// Component ID -> granted labels.
    pub grants: BTreeMap<String, Vec<String>>,
    /// Labels the runtime configuration defines besides "default".
    pub labels: Vec<String>,
    /// Whether the application must load.
    pub load: LoadExpectation,
    /// The steps.
    pub steps: Vec<PlannedStep>,
}

/// The operations an entry performs under `profile`: one per repetition, every size, key and value expanded.
///
/// # Errors
///
/// When a size, key or value cannot be expanded under `profile`.
pub fn expand_ops(entry: &OpEntry, profile: &Profile) -> Result<Vec<Operation>, ExpandError> {
    let count = match &entry.repeat {
        Some(size) => size.resolve(profile)?,
        None => 1,
    };
    if count > crate::value::MAX_REPEAT {
        return Err(ExpandError::TooMany(count));
    }
    let base_slot = entry.slot.resolve(profile)?;
    let mut ops = Vec::with_capacity(count.min(4096) as usize);
    for i in 0..count {
        ops.push(expand_op(entry, profile, base_slot, i)?);
    }
    Ok(ops)
}

pub(super) fn expand_entry(
    entry: &OpEntry,
    interface: Interface,
    profile: &Profile,
    step: &mut PlannedStep,
) -> Result<(), ExpandError> {
    let ops = expand_ops(entry, profile)?;
    let count = ops.len() as u64;
    let base_slot = entry.slot.resolve(profile)?;
    let start = step.ops.len();
    for (i, op) in (0..count).zip(ops) {
        let expected = expected_of(&entry.expect, entry.op, interface, profile, i)?;
        step.ops.push(op);
        step.expected.push(expected);
    }
    step.groups.push(Group {
        start,
        len: count as usize,
        text: describe_entry(entry, base_slot, profile),
        declared: matches!(entry.expect, ExpectEntry::InvalidHandle),
        expect_text: match (&entry.expect, step.expected.get(start)) {
            (ExpectEntry::Value(v), _) => format!("value {}", v.describe(profile, None)),
            // The profile decides between two conforming answers; the transcript, shared by every profile,
            // says only that the declared one came.
            (ExpectEntry::InvalidHandle, _) => "invalid handle, answered as declared".to_string(),
            (_, Some(first)) => first.to_string(),
            (_, None) => String::new(),
        },
    });
    Ok(())
}

pub(super) fn expand_op(
    entry: &OpEntry,
    profile: &Profile,
    base_slot: u64,
    i: u64,
) -> Result<Operation, ExpandError> {
    let slot = if entry.each_slot {
        base_slot + i
    } else {
        base_slot
    };
    let slot = u32::try_from(slot).map_err(|_| ExpandError::Negative(format!("slot {slot}")))?;
    let key = match &entry.key {
        Some(k) => k.expand(profile, i)?,
        None => String::new(),
    };
    let keys = |list: &Option<Vec<KeySpec>>| -> Result<Vec<String>, ExpandError> {
        list.iter()
            .flatten()
            .map(|k| k.expand(profile, i))
            .collect()
    };
    let value = match &entry.value {
        Some(v) => v.expand(profile, i)?,
        None => Vec::new(),
    };
    Ok(match entry.op {
        OpKind::Open => Operation::Open {
            slot,
            label: fill_template(entry.label.as_deref().unwrap_or_default(), i),
        },
        OpKind::Get => Operation::Get { slot, key },
        OpKind::Set => Operation::Set { slot, key, value },
        OpKind::Delete => Operation::Delete { slot, key },
        OpKind::Exists => Operation::Exists { slot, key },
        OpKind::GetKeys => Operation::GetKeys { slot },
        OpKind::Close => Operation::Close { slot },
        OpKind::ForgeHandle => Operation::ForgeHandle {
            slot,
            handle: entry.handle.unwrap_or_default(),
        },
        OpKind::GetKeysPartial => Operation::GetKeysPartial {
            slot,
            take: entry.take.unwrap_or_default(),
        },
        OpKind::Concurrently => Operation::Concurrently {
            count: entry.count.unwrap_or_default(),
        },
        OpKind::ListKeys => Operation::ListKeys {
            slot,
            cursor: entry.cursor.clone(),
        },
        OpKind::Increment => Operation::Increment {
            slot,
            key,
            delta: entry.delta.unwrap_or_default(),
        },
        OpKind::CasNew => Operation::CasNew {
            slot,
            key,
            cas: entry.cas.unwrap_or_default(),
        },
        OpKind::CasCurrent => Operation::CasCurrent {
            cas: entry.cas.unwrap_or_default(),
        },
        OpKind::CasSwap => Operation::CasSwap {
            cas: entry.cas.unwrap_or_default(),
            value,
        },
        OpKind::GetMany => Operation::GetMany {
            slot,
            keys: keys(&entry.keys)?,
        },
        OpKind::DeleteMany => Operation::DeleteMany {
            slot,
            keys: keys(&entry.keys)?,
        },
        OpKind::SetMany => Operation::SetMany {
            slot,
            entries: entry
                .entries
                .iter()
                .flatten()
                .map(|e| {
                    let value = match &e.value {
                        Some(v) => v.expand(profile, i)?,
                        None => Vec::new(),
                    };
                    Ok((e.key.expand(profile, i)?, value))
                })
                .collect::<Result<_, ExpandError>>()?,
        },
    })
}

pub(super) fn expected_of(
    expect: &ExpectEntry,
    op: OpKind,
    interface: Interface,
    profile: &Profile,
    i: u64,
) -> Result<Expected, ExpandError> {
    Ok(match expect {
        ExpectEntry::Ok if matches!(op, OpKind::Open | OpKind::CasNew) => Expected::Opened,
        ExpectEntry::Ok => Expected::Done,
        ExpectEntry::Absent => match interface {
            Interface::V1 => Expected::Error(ErrorKind::NoSuchKey),
            _ => Expected::Value(None),
        },
        ExpectEntry::Value(v) => Expected::Value(Some(ExpectedValue {
            bytes: v.expand(profile, i)?,
            description: v.describe(profile, Some(i)),
        })),
        ExpectEntry::Exists(b) => Expected::Exists(*b),
        ExpectEntry::Keys(spec) => Expected::Keys(expand_keys(spec, profile, i)?),
        // wasi:keyvalue (either edition) has no store-table-full: a bound on open buckets is reported as `other`.
        ExpectEntry::Error(ErrorKind::StoreTableFull) if interface.is_wasi() => {
            Expected::Error(ErrorKind::Other)
        }
        ExpectEntry::Error(kind) => Expected::Error(*kind),
        ExpectEntry::InvalidHandle => match profile.v1_invalid_handle {
            InvalidHandle::Error => Expected::Error(ErrorKind::InvalidStore),
            InvalidHandle::Trap => Expected::Trap,
        },
        ExpectEntry::Present => Expected::SomeValue,
        ExpectEntry::Counter(n) => Expected::Counter(*n),
        ExpectEntry::Entries(entries) => Expected::Entries(
            entries
                .iter()
                .map(|e| {
                    let value = match &e.value {
                        Some(v) => Some(ExpectedValue {
                            bytes: v.expand(profile, i)?,
                            description: v.describe(profile, Some(i)),
                        }),
                        None => None,
                    };
                    Ok((e.key.expand(profile, i)?, value))
                })
                .collect::<Result<_, ExpandError>>()?,
        ),
        ExpectEntry::SomeKeys { count, of } => Expected::SomeKeys {
            of: expand_keys(of, profile, i)?,
            count: *count,
        },
        ExpectEntry::FirstPage(of) => {
            let of = expand_keys(of, profile, i)?;
            let rule = profile.page_rule(of.len());
            Expected::FirstPage(of, rule)
        }
    })
}

pub(super) fn expand_keys(
    spec: &KeysSpec,
    profile: &Profile,
    i: u64,
) -> Result<BTreeSet<String>, ExpandError> {
    match spec {
        KeysSpec::List(keys) => keys.iter().map(|k| k.expand(profile, i)).collect(),
        KeysSpec::Generated {
            template,
            count,
            also,
        } => {
            let mut keys: BTreeSet<String> = (0..count.resolve(profile)?)
                .map(|n| fill_template(template, n))
                .collect();
            for k in also {
                keys.insert(k.expand(profile, i)?);
            }
            Ok(keys)
        }
    }
}

pub(super) fn describe_entry(entry: &OpEntry, slot: u64, profile: &Profile) -> String {
    let slot = if entry.each_slot {
        format!("{slot}+i")
    } else {
        slot.to_string()
    };
    let key = entry
        .key
        .as_ref()
        .map(|k| k.to_string())
        .unwrap_or_default();
    match entry.op {
        OpKind::Open => format!(
            "open[{slot}] {:?}",
            entry.label.as_deref().unwrap_or_default()
        ),
        OpKind::Get => format!("get[{slot}] {key}"),
        OpKind::Set => format!(
            "set[{slot}] {key} = {}",
            entry
                .value
                .as_ref()
                .map(|v| v.describe(profile, None))
                .unwrap_or_default()
        ),
        OpKind::Delete => format!("delete[{slot}] {key}"),
        OpKind::Exists => format!("exists[{slot}] {key}"),
        OpKind::GetKeys => format!("get-keys[{slot}]"),
        OpKind::Close => format!("close[{slot}]"),
        OpKind::Increment => format!(
            "increment[{slot}] {key} by {}",
            entry.delta.unwrap_or_default()
        ),
        OpKind::CasNew => format!(
            "cas-new[{slot}] {key} as cas {}",
            entry.cas.unwrap_or_default()
        ),
        other => format!("{}[{slot}]", other.name()),
    }
}
