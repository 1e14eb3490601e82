//! The model: the spec as an executable, predicting the outcome of any script under a profile.
//!
//! The model shares no code with the reference host, on purpose: the model is the spec and the host one
//! implementation of it. Were they one piece of code, a bug in it would agree with itself and hide.
//!
//! Where the spec leaves an outcome to the host and the profile does not say which (the bytes of a counter,
//! the pages of a listing), the model predicts only what every conforming host must give ([`Expected::SomeValue`],
//! [`Expected::FirstPage`]); where no single outcome conforms at all (a batch that crosses a limit), it says so
//! as a script error, so that no case can expect one.

use crate::interface::Interface;
use crate::outcome::{ErrorKind, Expected, ExpectedValue, Operation};
use crate::profile::{InvalidHandle, Profile, UnconfiguredLabel};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The default store's label, which exists without configuration (OPEN-DEFAULT).
pub const DEFAULT_LABEL: &str = "default";

/// What a key holds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stored {
    /// Bytes written by `set`.
    Bytes(Arc<[u8]>),
    /// A counter written by `increment`; its bytes are the host's business.
    Counter(i64),
}

/// An application as the model sees it: its stores' contents, shared by all its instances.
#[derive(Clone, Debug)]
pub struct ModelApp {
    profile: Profile,
    grants: BTreeMap<String, Vec<String>>,
    defined: BTreeSet<String>,
    /// Each store's contents, shared with clones of the model until one of them writes to it.
    stores: BTreeMap<String, Arc<Contents>>,
}

/// A store's contents. The generator clones the model for every move it tries ([`crate::fuzz`]), when a store
/// may hold a thousand keys or a mebibyte value: a clone shares each store's contents until it writes to that
/// store, and then shares its keys and values.
type Contents = BTreeMap<Arc<str>, Stored>;

/// What a slot of an instance holds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    /// An open handle onto the store with this label.
    Open(String),
    /// v1: a handle number that is not open (closed, or never opened).
    Stale,
}

/// A wasi `cas`: the key it watches and the value it saw.
#[derive(Clone, Debug)]
struct Cas {
    label: String,
    key: String,
    seen: Option<Stored>,
}

/// One instance of a component of a [`ModelApp`], speaking one interface version: its open handles.
#[derive(Clone, Debug)]
pub struct ModelInstance {
    component: String,
    interface: Interface,
    slots: BTreeMap<u32, Slot>,
    cas: BTreeMap<u32, Cas>,
    trapped: bool,
}

impl ModelInstance {
    /// The interface version the instance speaks.
    pub fn interface(&self) -> Interface {
        self.interface
    }

    /// The slots holding an open store, with the store's label.
    pub fn open_slots(&self) -> Vec<(u32, String)> {
        self.slots
            .iter()
            .filter_map(|(slot, s)| match s {
                Slot::Open(label) => Some((*slot, label.clone())),
                Slot::Stale => None,
            })
            .collect()
    }

    /// v1: the slots holding a handle number that is not open (closed, or forged).
    pub fn stale_slots(&self) -> Vec<u32> {
        self.slots
            .iter()
            .filter(|(_, s)| **s == Slot::Stale)
            .map(|(slot, _)| *slot)
            .collect()
    }

    /// Every slot in use, open or stale.
    pub fn used_slots(&self) -> Vec<u32> {
        self.slots.keys().copied().collect()
    }

    /// The keys of the `cas` handles held, in cas-slot order.
    pub fn cas_keys(&self) -> Vec<String> {
        self.cas.values().map(|c| c.key.clone()).collect()
    }

    /// The wasi cas slots holding a `cas`.
    pub fn cas_slots(&self) -> Vec<u32> {
        self.cas.keys().copied().collect()
    }

    /// Whether the instance has trapped (every later operation is not run).
    pub fn trapped(&self) -> bool {
        self.trapped
    }
}

/// Why the model says an application does not load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The component granted an undefined label.
    pub component: String,
    /// The undefined label.
    pub label: String,
}

impl ModelApp {
    /// Loads an application: `grants` maps components to labels, `labels` are those the runtime configuration
    /// defines. Refused when the profile refuses undefined labels at load (OPEN-UNCONFIGURED).
    pub fn load(
        profile: &Profile,
        grants: &BTreeMap<String, Vec<String>>,
        labels: &[String],
    ) -> Result<ModelApp, Refusal> {
        let mut defined: BTreeSet<String> = labels.iter().cloned().collect();
        defined.insert(DEFAULT_LABEL.to_string());
        if profile.unconfigured_label == UnconfiguredLabel::RefuseLoad {
            for (component, granted) in grants {
                if let Some(label) = granted.iter().find(|l| !defined.contains(*l)) {
                    return Err(Refusal {
                        component: component.clone(),
                        label: label.clone(),
                    });
                }
            }
        }
        Ok(ModelApp {
            profile: profile.clone(),
            grants: grants.clone(),
            defined,
            stores: BTreeMap::new(),
        })
    }

    /// The host restarts (PERSIST-RESTART): a durable host's stores keep their contents, an in-memory one's are
    /// empty again.
    pub fn restart(&mut self) {
        if !self.profile.durable {
            self.stores.clear();
        }
    }

    /// A fresh instance of `component` speaking `interface`, with nothing open.
    pub fn instance(&self, component: &str, interface: Interface) -> ModelInstance {
        ModelInstance {
            component: component.to_string(),
            interface,
            slots: BTreeMap::new(),
            cas: BTreeMap::new(),
            trapped: false,
        }
    }

    /// Applies one operation, returning the outcome the spec requires.
    pub fn apply(&mut self, inst: &mut ModelInstance, op: &Operation) -> Expected {
        if inst.trapped {
            return Expected::NotRun;
        }
        if let Some(missing) = unavailable(op, inst.interface) {
            return Expected::ScriptError(missing);
        }
        match op {
            Operation::Open { slot, label } => self.open(inst, *slot, label),
            Operation::Close { slot } => close(inst, *slot),
            Operation::ForgeHandle { slot, .. } => forge(inst, *slot),
            Operation::Concurrently { .. } => Expected::Done,
            Operation::Get { slot, key } => {
                self.read_store(inst, *slot, |_, store| match store.get(key.as_str()) {
                    Some(Stored::Bytes(v)) => Expected::Value(Some(ExpectedValue::of(v))),
                    Some(Stored::Counter(_)) => Expected::SomeValue,
                    None => Expected::Value(None),
                })
            }
            Operation::Exists { slot, key } => self.read_store(inst, *slot, |_, store| {
                Expected::Exists(store.contains_key(key.as_str()))
            }),
            Operation::GetKeys { slot } => self.read_store(inst, *slot, |_, store| {
                Expected::Keys(store.keys().map(|k| k.to_string()).collect())
            }),
            Operation::GetKeysPartial { slot, take } => {
                self.read_store(inst, *slot, |_, store| Expected::SomeKeys {
                    of: store.keys().map(|k| k.to_string()).collect(),
                    count: store.len().min(*take as usize),
                })
            }
            Operation::ListKeys { slot, cursor } => self.list_keys(inst, *slot, cursor.is_some()),
            Operation::Delete { slot, key } => self.with_store(inst, *slot, |_, store| {
                store.remove(key.as_str());
                Expected::Done
            }),
            Operation::DeleteMany { slot, keys } => self.with_store(inst, *slot, |_, store| {
                for key in keys {
                    store.remove(key.as_str());
                }
                Expected::Done
            }),
            Operation::Set { slot, key, value } => {
                self.with_store(inst, *slot, |profile, store| {
                    // LIMIT-BEYOND: a refusal is an `other` error and leaves the store as it was.
                    if breaks_limits(profile, store, key, Some(value)) {
                        return Expected::Error(ErrorKind::Other);
                    }
                    store.insert(key.as_str().into(), Stored::Bytes(value.as_slice().into()));
                    Expected::Done
                })
            }
            Operation::SetMany { slot, entries } => self.set_many(inst, *slot, entries),
            Operation::GetMany { slot, keys } => self.get_many(inst, *slot, keys),
            Operation::Increment { slot, key, delta } => self.increment(inst, *slot, key, *delta),
            Operation::CasNew { slot, key, cas } => self.cas_new(inst, *slot, key, *cas),
            Operation::CasCurrent { cas } => cas_current(inst, *cas),
            Operation::CasSwap { cas, value } => self.cas_swap(inst, *cas, value),
        }
    }

    /// wasi `list-keys` from the start (`cursor` false) or from a cursor no host issued.
    fn list_keys(&mut self, inst: &mut ModelInstance, slot: u32, cursor: bool) -> Expected {
        let draft = inst.interface == Interface::WasiKeyvalueDraft;
        self.read_store(inst, slot, |profile, store| match cursor {
            false => Expected::FirstPage(
                store.keys().map(|k| k.to_string()).collect(),
                profile.page_rule(store.len()),
            ),
            // The draft's cursor is a u64 whose meaning is the host's: any number may be a valid
            // position to some conforming host (an offset, say), so a number a case makes up has no
            // single conforming answer; and text that is not a number cannot be sent at all.
            true if draft => Expected::ScriptError(
                "a cursor a case makes up has no single conforming outcome in wasi:keyvalue@0.2.0-draft (a u64 cursor means what its host makes it mean)"
                    .into(),
            ),
            // Cases pass only cursors no host issued; KEYS-WASI-CURSOR: an unsupported cursor is `other`.
            true => Expected::Error(ErrorKind::Other),
        })
    }

    /// wasi `set-many`.
    fn set_many(
        &mut self,
        inst: &mut ModelInstance,
        slot: u32,
        entries: &[(String, Vec<u8>)],
    ) -> Expected {
        self.with_store(inst, slot, |profile, store| {
            // LIMIT-BEYOND: a batch of one pair is a single write, refused as `set` is. A longer batch that
            // crosses a limit may have written some of its pairs ("as a sequence of sets would", in any
            // order): no single outcome.
            if let [(key, value)] = entries
                && breaks_limits(profile, store, key, Some(value))
            {
                return Expected::Error(ErrorKind::Other);
            }
            let mut after = store.clone();
            for (key, value) in entries {
                if breaks_limits(profile, &after, key, Some(value)) {
                    return Expected::ScriptError(
                        "a batch that crosses a limit has no single conforming outcome".into(),
                    );
                }
                after.insert(key.as_str().into(), Stored::Bytes(value.as_slice().into()));
            }
            *store = after;
            Expected::Done
        })
    }

    /// wasi `get-many`.
    fn get_many(&mut self, inst: &mut ModelInstance, slot: u32, keys: &[String]) -> Expected {
        self.read_store(inst, slot, |_, store| {
            let mut entries = Vec::new();
            for key in keys {
                let value = match store.get(key.as_str()) {
                    Some(Stored::Bytes(v)) => Some(ExpectedValue::of(v)),
                    Some(Stored::Counter(_)) => {
                        return Expected::ScriptError(
                            "get-many of a counter: its bytes are the host's business".into(),
                        );
                    }
                    None => None,
                };
                entries.push((key.clone(), value));
            }
            Expected::Entries(entries)
        })
    }

    /// wasi `increment`.
    fn increment(
        &mut self,
        inst: &mut ModelInstance,
        slot: u32,
        key: &str,
        delta: i64,
    ) -> Expected {
        let draft = inst.interface == Interface::WasiKeyvalueDraft;
        if draft && delta < 0 {
            return Expected::ScriptError(format!(
                "increment by {delta}: wasi:keyvalue@0.2.0-draft increments by a u64, so a delta below zero cannot be sent"
            ));
        }
        self.with_store(inst, slot, |profile, store| {
            let current = match store.get(key) {
                None => {
                    if breaks_limits(profile, store, key, None) {
                        return Expected::Error(ErrorKind::Other);
                    }
                    0
                }
                Some(Stored::Counter(n)) => *n,
                // ATOMIC-INCREMENT-BAD: a value that is not a counter is an error, never a crash.
                Some(Stored::Bytes(_)) => return Expected::Error(ErrorKind::Other),
            };
            match current.checked_add(delta) {
                // Only a counter made negative through another edition gets here.
                Some(next) if draft && next < 0 => Expected::ScriptError(format!(
                    "a counter of {next} has no u64 to answer with in wasi:keyvalue@0.2.0-draft: no single conforming outcome"
                )),
                Some(next) => {
                    store.insert(key.into(), Stored::Counter(next));
                    Expected::Counter(next)
                }
                // A host counting in the draft's u64 accepts a sum past i64::MAX; one keeping the other
                // edition's s64 counters refuses it.
                None if draft => Expected::ScriptError(
                    "a counter past i64::MAX in wasi:keyvalue@0.2.0-draft has no single conforming outcome (a u64 counter holds it, an s64 one refuses it)"
                        .into(),
                ),
                None => Expected::Error(ErrorKind::Other),
            }
        })
    }

    /// wasi: a `cas` for `key` of the bucket in `slot`, kept in cas slot `cas`.
    fn cas_new(&mut self, inst: &mut ModelInstance, slot: u32, key: &str, cas: u32) -> Expected {
        if inst.cas.contains_key(&cas) {
            return Expected::ScriptError(format!("cas slot {cas} is already in use"));
        }
        let Some(Slot::Open(label)) = inst.slots.get(&slot).cloned() else {
            return empty_slot(slot);
        };
        let seen = self
            .stores
            .get(&label)
            .and_then(|store| store.get(key))
            .cloned();
        inst.cas.insert(
            cas,
            Cas {
                label,
                key: key.to_string(),
                seen,
            },
        );
        Expected::Opened
    }

    /// wasi `swap` of the cas in cas slot `cas`, consuming it.
    fn cas_swap(&mut self, inst: &mut ModelInstance, cas: u32, value: &[u8]) -> Expected {
        let Some(cas) = inst.cas.remove(&cas) else {
            return Expected::ScriptError(format!("cas slot {cas} holds no cas"));
        };
        let store = Arc::make_mut(store_of(&mut self.stores, &cas.label));
        // ATOMIC-CAS: the swap happens only if nothing was written since the cas was made.
        let stale = store.get(cas.key.as_str()) != cas.seen.as_ref();
        // LIMIT-BEYOND: a value past a limit is refused with `other`.
        let refused = breaks_limits(&self.profile, store, &cas.key, Some(value));
        match (stale, refused) {
            // A host may check either first: both errors conform, so no case can expect one.
            (true, true) => {
                return Expected::ScriptError(
                        "a swap that is both stale and past a limit has no single conforming outcome (cas-failed or other)"
                            .into(),
                    );
            }
            (true, false) => return Expected::Error(ErrorKind::CasFailed),
            (false, true) => return Expected::Error(ErrorKind::Other),
            (false, false) => {}
        }
        store.insert(cas.key.into(), Stored::Bytes(value.into()));
        Expected::Done
    }

    /// The keys the store with `label` holds, in order (none when there is no such store).
    pub fn keys(&self, label: &str) -> impl Iterator<Item = &str> {
        self.stores
            .get(label)
            .into_iter()
            .flat_map(|s| s.keys().map(|k| &**k))
    }

    /// How many keys the store with `label` holds.
    pub fn key_count(&self, label: &str) -> usize {
        self.stores.get(label).map_or(0, |s| s.len())
    }

    /// Whether the store with `label` holds `key`, and if so whether it holds a counter.
    pub fn holds(&self, label: &str, key: &str) -> Option<bool> {
        self.stores
            .get(label)
            .and_then(|s| s.get(key))
            .map(|stored| matches!(stored, Stored::Counter(_)))
    }

    fn open(&mut self, inst: &mut ModelInstance, slot: u32, label: &str) -> Expected {
        if matches!(inst.slots.get(&slot), Some(Slot::Open(_))) {
            return Expected::ScriptError(format!("slot {slot} is already open"));
        }
        let granted = self
            .grants
            .get(&inst.component)
            .is_some_and(|g| g.iter().any(|l| l == label));
        if !granted {
            return Expected::Error(ErrorKind::AccessDenied);
        }
        let open = inst
            .slots
            .values()
            .filter(|s| matches!(s, Slot::Open(_)))
            .count() as u64;
        let full = self.profile.open_stores.is_some_and(|bound| open >= bound);
        if !self.defined.contains(label) {
            if full {
                // A host may check either first (kvhost checks the table, the model's first draft the label):
                // both errors conform, so no case can expect one.
                return Expected::ScriptError(
                    "an open of an undefined label with the open-store table full has no single conforming outcome (no-such-store or store-table-full)"
                        .into(),
                );
            }
            return Expected::Error(ErrorKind::NoSuchStore);
        }
        if full {
            // wasi:keyvalue (either edition) has no store-table-full; its bound is reported as `other`.
            return Expected::Error(if inst.interface.is_wasi() {
                ErrorKind::Other
            } else {
                ErrorKind::StoreTableFull
            });
        }
        inst.slots.insert(slot, Slot::Open(label.to_string()));
        Expected::Opened
    }

    /// The label of the store open in `slot`, or the outcome of an operation on a slot that holds none.
    fn label_in<'i>(&self, inst: &'i mut ModelInstance, slot: u32) -> Result<&'i str, Expected> {
        match inst.slots.get(&slot) {
            Some(Slot::Open(label)) => Ok(label),
            // HANDLE-V1-INVALID: the host's declared choice.
            Some(Slot::Stale) => Err(match self.profile.v1_invalid_handle {
                InvalidHandle::Error => Expected::Error(ErrorKind::InvalidStore),
                InvalidHandle::Trap => {
                    inst.trapped = true;
                    Expected::Trap
                }
            }),
            None => Err(empty_slot(slot)),
        }
    }

    /// An operation that reads the store open in `slot`.
    fn read_store(
        &self,
        inst: &mut ModelInstance,
        slot: u32,
        f: impl FnOnce(&Profile, &Contents) -> Expected,
    ) -> Expected {
        let interface = inst.interface;
        let label = match self.label_in(inst, slot) {
            Ok(label) => label,
            Err(outcome) => return outcome,
        };
        let never_written = Contents::new();
        let store = self.stores.get(label).map_or(&never_written, |s| &**s);
        as_seen_by(interface, f(&self.profile, store))
    }

    /// An operation that may write to the store open in `slot`.
    fn with_store(
        &mut self,
        inst: &mut ModelInstance,
        slot: u32,
        f: impl FnOnce(&Profile, &mut Contents) -> Expected,
    ) -> Expected {
        let interface = inst.interface;
        let label = match self.label_in(inst, slot) {
            Ok(label) => label,
            Err(outcome) => return outcome,
        };
        // Borrowed, not cloned: the model runs once per operation of every generated sequence (a fill is a
        // thousand of them), several times over while it is generated and checked. The contents are copied
        // here only if a clone of the model still shares them.
        let store = Arc::make_mut(store_of(&mut self.stores, label));
        as_seen_by(interface, f(&self.profile, store))
    }
}

/// An outcome as `interface` reports it.
fn as_seen_by(interface: Interface, outcome: Expected) -> Expected {
    match (outcome, interface) {
        // GET-MISSING: v1 reports a missing key as an error.
        (Expected::Value(None), Interface::V1) => Expected::Error(ErrorKind::NoSuchKey),
        (outcome, _) => outcome,
    }
}

/// The contents of the store with `label`, empty until something is written (the label is copied only then).
fn store_of<'a>(
    stores: &'a mut BTreeMap<String, Arc<Contents>>,
    label: &str,
) -> &'a mut Arc<Contents> {
    if !stores.contains_key(label) {
        stores.insert(label.to_string(), Arc::default());
    }
    stores.get_mut(label).expect("inserted above")
}

/// Whether writing `value` (or a counter, for `None`) under `key` breaks the profile's declared limits.
fn breaks_limits(profile: &Profile, store: &Contents, key: &str, value: Option<&[u8]>) -> bool {
    let limits = profile.limits;
    let too_long = limits.key_bytes.is_some_and(|l| key.len() as u64 > l);
    let too_big = value.is_some_and(|v| limits.value_bytes.is_some_and(|l| v.len() as u64 > l));
    let too_many = limits
        .tuples
        .is_some_and(|l| !store.contains_key(key) && store.len() as u64 >= l);
    too_long || too_big || too_many
}

/// `close` of the store in `slot`: v1 keeps the closed number in the slot, so later operations use a closed handle.
fn close(inst: &mut ModelInstance, slot: u32) -> Expected {
    match inst.slots.get(&slot) {
        Some(Slot::Open(_)) if inst.interface == Interface::V1 => {
            // v1 keeps the closed number in the slot, so later operations use a closed handle.
            inst.slots.insert(slot, Slot::Stale);
            Expected::Done
        }
        Some(Slot::Open(_)) => {
            inst.slots.remove(&slot);
            Expected::Done
        }
        // HANDLE-V1-CLOSE: closing a handle that is not open has no effect and no error.
        Some(Slot::Stale) => Expected::Done,
        None => empty_slot(slot),
    }
}

/// v1: a handle number no host issued, put in `slot`.
fn forge(inst: &mut ModelInstance, slot: u32) -> Expected {
    if matches!(inst.slots.get(&slot), Some(Slot::Open(_))) {
        return Expected::ScriptError(format!("slot {slot} holds an open store"));
    }
    inst.slots.insert(slot, Slot::Stale);
    Expected::Done
}

/// wasi `current` of the cas in cas slot `cas`.
fn cas_current(inst: &ModelInstance, cas: u32) -> Expected {
    match inst.cas.get(&cas) {
        Some(Cas {
            seen: Some(Stored::Bytes(v)),
            ..
        }) => Expected::Value(Some(ExpectedValue::of(v))),
        Some(Cas {
            seen: Some(Stored::Counter(_)),
            ..
        }) => Expected::SomeValue,
        Some(Cas { seen: None, .. }) => Expected::Value(None),
        None => Expected::ScriptError(format!("cas slot {cas} holds no cas")),
    }
}

/// Why `op` is not part of `interface`, if it is not.
fn unavailable(op: &Operation, interface: Interface) -> Option<String> {
    let only = |versions: &[Interface]| {
        (!versions.contains(&interface)).then(|| {
            let names: Vec<&str> = versions.iter().map(|v| v.name()).collect();
            format!(
                "`{op}` exists only in {}, not in {interface}",
                names.join(", ")
            )
        })
    };
    match op {
        Operation::ForgeHandle { .. } => only(&[Interface::V1]),
        Operation::GetKeysPartial { .. } | Operation::Concurrently { .. } => only(&[Interface::V3]),
        Operation::ListKeys { .. }
        | Operation::Increment { .. }
        | Operation::GetMany { .. }
        | Operation::SetMany { .. }
        | Operation::DeleteMany { .. } => {
            only(&[Interface::WasiKeyvalue, Interface::WasiKeyvalueDraft])
        }
        // wasi:keyvalue@0.2.0-draft has no compare-and-swap.
        Operation::CasNew { .. } | Operation::CasCurrent { .. } | Operation::CasSwap { .. } => {
            only(&[Interface::WasiKeyvalue])
        }
        _ => None,
    }
}

fn empty_slot(slot: u32) -> Expected {
    Expected::ScriptError(format!("slot {slot} holds no open store"))
}

/// What the model predicts for a whole case plan: the load, then one outcome per operation per step.
pub fn predict(profile: &Profile, plan: &crate::case::Plan) -> Result<Vec<Vec<Expected>>, Refusal> {
    let mut app = ModelApp::load(profile, &plan.grants, &plan.labels)?;
    Ok(plan
        .steps
        .iter()
        .map(|step| {
            if step.restart {
                app.restart();
            }
            let mut inst = app.instance(&step.component, step.interface);
            step.ops.iter().map(|op| app.apply(&mut inst, op)).collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Limits;

    fn profile(limits: Limits, open: Option<u64>) -> Profile {
        Profile {
            name: "t".into(),
            interfaces: Interface::ALL.to_vec(),
            limits,
            open_stores: open,
            unconfigured_label: UnconfiguredLabel::NoSuchStore,
            v1_invalid_handle: InvalidHandle::Error,
            empty_key: false,
            v1_fresh_handles: false,
            durable: false,
            wasi_paging: None,
            wasi_page_keys: None,
        }
    }

    fn app(p: &Profile, grants: &[&str]) -> ModelApp {
        let grants = BTreeMap::from([(
            "main".to_string(),
            grants.iter().map(|s| s.to_string()).collect(),
        )]);
        ModelApp::load(p, &grants, &["cache".to_string()]).unwrap()
    }

    fn open(slot: u32, label: &str) -> Operation {
        Operation::Open {
            slot,
            label: label.into(),
        }
    }

    fn key(k: &str) -> String {
        k.to_string()
    }

    #[test]
    fn an_ungranted_label_is_denied_even_when_defined() {
        let p = profile(Limits::default(), None);
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main", Interface::V2);
        assert_eq!(
            a.apply(&mut i, &open(0, "cache")),
            Expected::Error(ErrorKind::AccessDenied)
        );
        assert_eq!(a.apply(&mut i, &open(0, "default")), Expected::Opened);
    }

    #[test]
    fn a_refused_set_leaves_the_old_value() {
        let p = profile(
            Limits {
                value_bytes: Some(4),
                ..Limits::default()
            },
            None,
        );
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main", Interface::V2);
        a.apply(&mut i, &open(0, "default"));
        let set = |v: &[u8]| Operation::Set {
            slot: 0,
            key: key("k"),
            value: v.to_vec(),
        };
        assert_eq!(a.apply(&mut i, &set(b"abcd")), Expected::Done);
        assert_eq!(
            a.apply(&mut i, &set(b"abcde")),
            Expected::Error(ErrorKind::Other)
        );
        let got = a.apply(
            &mut i,
            &Operation::Get {
                slot: 0,
                key: key("k"),
            },
        );
        assert!(got.matches(&crate::outcome::Outcome::Value(Some(b"abcd".to_vec()))));
    }

    #[test]
    fn the_open_bound_counts_open_handles_and_closing_makes_room() {
        let p = profile(Limits::default(), Some(2));
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main", Interface::V2);
        assert_eq!(a.apply(&mut i, &open(0, "default")), Expected::Opened);
        assert_eq!(a.apply(&mut i, &open(1, "default")), Expected::Opened);
        assert_eq!(
            a.apply(&mut i, &open(2, "default")),
            Expected::Error(ErrorKind::StoreTableFull)
        );
        assert_eq!(
            a.apply(&mut i, &Operation::Close { slot: 0 }),
            Expected::Done
        );
        assert_eq!(a.apply(&mut i, &open(2, "default")), Expected::Opened);
    }

    #[test]
    fn data_outlives_an_instance_and_crosses_interfaces() {
        let p = profile(Limits::default(), None);
        let mut a = app(&p, &["default"]);
        let mut first = a.instance("main", Interface::V2);
        a.apply(&mut first, &open(0, "default"));
        a.apply(
            &mut first,
            &Operation::Set {
                slot: 0,
                key: key("k"),
                value: vec![1],
            },
        );
        let mut second = a.instance("main", Interface::V1);
        a.apply(&mut second, &open(0, "default"));
        assert_eq!(
            a.apply(
                &mut second,
                &Operation::Exists {
                    slot: 0,
                    key: key("k")
                }
            ),
            Expected::Exists(true)
        );
        assert_eq!(
            a.apply(
                &mut second,
                &Operation::Get {
                    slot: 0,
                    key: key("nope")
                }
            ),
            Expected::Error(ErrorKind::NoSuchKey)
        );
    }

    #[test]
    fn a_closed_v1_handle_is_invalid_or_traps_as_the_profile_declares() {
        let mut p = profile(Limits::default(), None);
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main", Interface::V1);
        a.apply(&mut i, &open(0, "default"));
        assert_eq!(
            a.apply(&mut i, &Operation::Close { slot: 0 }),
            Expected::Done
        );
        let get = Operation::Get {
            slot: 0,
            key: key("k"),
        };
        assert_eq!(
            a.apply(&mut i, &get),
            Expected::Error(ErrorKind::InvalidStore)
        );
        assert_eq!(
            a.apply(&mut i, &Operation::Close { slot: 0 }),
            Expected::Done
        );
        p.v1_invalid_handle = InvalidHandle::Trap;
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main", Interface::V1);
        a.apply(
            &mut i,
            &Operation::ForgeHandle {
                slot: 0,
                handle: 77,
            },
        );
        assert_eq!(a.apply(&mut i, &get), Expected::Trap);
        assert_eq!(a.apply(&mut i, &open(1, "default")), Expected::NotRun);
    }

    #[test]
    fn increments_add_up_and_a_non_counter_is_an_error() {
        let p = profile(Limits::default(), None);
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main", Interface::WasiKeyvalue);
        a.apply(&mut i, &open(0, "default"));
        let inc = |k: &str, d| Operation::Increment {
            slot: 0,
            key: key(k),
            delta: d,
        };
        assert_eq!(a.apply(&mut i, &inc("n", 5)), Expected::Counter(5));
        assert_eq!(a.apply(&mut i, &inc("n", -7)), Expected::Counter(-2));
        a.apply(
            &mut i,
            &Operation::Set {
                slot: 0,
                key: key("t"),
                value: b"text".to_vec(),
            },
        );
        assert_eq!(
            a.apply(&mut i, &inc("t", 1)),
            Expected::Error(ErrorKind::Other)
        );
    }

    #[test]
    fn a_swap_after_an_intervening_write_fails_and_changes_nothing() {
        let p = profile(Limits::default(), None);
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main", Interface::WasiKeyvalue);
        a.apply(&mut i, &open(0, "default"));
        assert_eq!(
            a.apply(
                &mut i,
                &Operation::CasNew {
                    slot: 0,
                    key: key("k"),
                    cas: 0
                }
            ),
            Expected::Opened
        );
        a.apply(
            &mut i,
            &Operation::Set {
                slot: 0,
                key: key("k"),
                value: b"between".to_vec(),
            },
        );
        assert_eq!(
            a.apply(
                &mut i,
                &Operation::CasSwap {
                    cas: 0,
                    value: b"mine".to_vec()
                }
            ),
            Expected::Error(ErrorKind::CasFailed)
        );
        let got = a.apply(
            &mut i,
            &Operation::Get {
                slot: 0,
                key: key("k"),
            },
        );
        assert!(got.matches(&crate::outcome::Outcome::Value(Some(b"between".to_vec()))));
    }

    #[test]
    fn the_draft_edition_counts_in_u64_has_no_cas_and_reports_a_full_table_as_other() {
        let p = profile(Limits::default(), Some(1));
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main", Interface::WasiKeyvalueDraft);
        assert_eq!(a.apply(&mut i, &open(0, "default")), Expected::Opened);
        assert_eq!(
            a.apply(&mut i, &open(1, "default")),
            Expected::Error(ErrorKind::Other)
        );
        let inc = |d| Operation::Increment {
            slot: 0,
            key: key("n"),
            delta: d,
        };
        assert_eq!(a.apply(&mut i, &inc(i64::MAX)), Expected::Counter(i64::MAX));
        // Past i64::MAX a u64 counter holds the sum and an s64 one refuses it: no case can expect either.
        assert!(matches!(a.apply(&mut i, &inc(1)), Expected::ScriptError(_)));
        assert!(matches!(
            a.apply(&mut i, &inc(-1)),
            Expected::ScriptError(_)
        ));
        for op in [
            Operation::CasNew {
                slot: 0,
                key: key("n"),
                cas: 0,
            },
            Operation::ListKeys {
                slot: 0,
                cursor: Some("7".into()),
            },
        ] {
            assert!(
                matches!(a.apply(&mut i, &op), Expected::ScriptError(_)),
                "{op}"
            );
        }
        assert!(matches!(
            a.apply(
                &mut i,
                &Operation::ListKeys {
                    slot: 0,
                    cursor: None
                }
            ),
            Expected::FirstPage(..)
        ));
    }

    #[test]
    fn a_negative_counter_from_draft2_has_no_draft_answer() {
        let p = profile(Limits::default(), None);
        let mut a = app(&p, &["default"]);
        let mut draft2 = a.instance("main", Interface::WasiKeyvalue);
        a.apply(&mut draft2, &open(0, "default"));
        let inc = |d| Operation::Increment {
            slot: 0,
            key: key("n"),
            delta: d,
        };
        assert_eq!(a.apply(&mut draft2, &inc(-5)), Expected::Counter(-5));
        let mut draft = a.instance("main", Interface::WasiKeyvalueDraft);
        a.apply(&mut draft, &open(0, "default"));
        assert!(matches!(
            a.apply(&mut draft, &inc(3)),
            Expected::ScriptError(_)
        ));
        assert_eq!(a.apply(&mut draft, &inc(5)), Expected::Counter(0));
    }

    #[test]
    fn operations_of_another_version_are_script_errors() {
        let p = profile(Limits::default(), None);
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main", Interface::V2);
        assert!(matches!(
            a.apply(&mut i, &Operation::ForgeHandle { slot: 0, handle: 1 }),
            Expected::ScriptError(_)
        ));
    }
}
