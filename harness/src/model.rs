//! The model: the spec as an executable, predicting the outcome of any script under a profile.
//!
//! The model shares no code with the reference host, on purpose: the model is the spec and the host one
//! implementation of it. Were they one piece of code, a bug in it would agree with itself and hide.

use crate::interface::Interface;
use crate::outcome::{ErrorKind, Expected, ExpectedValue, Operation};
use crate::profile::{Profile, UnconfiguredLabel};
use std::collections::{BTreeMap, BTreeSet};

/// The default store's label, which exists without configuration (OPEN-DEFAULT).
pub const DEFAULT_LABEL: &str = "default";

/// An application as the model sees it: its stores' contents, shared by all its instances.
#[derive(Clone, Debug)]
pub struct ModelApp {
    profile: Profile,
    interface: Interface,
    grants: BTreeMap<String, Vec<String>>,
    defined: BTreeSet<String>,
    stores: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// One instance of a component of a [`ModelApp`]: its open handles.
#[derive(Clone, Debug)]
pub struct ModelInstance {
    component: String,
    slots: BTreeMap<u32, String>,
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
        interface: Interface,
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
            interface,
            grants: grants.clone(),
            defined,
            stores: BTreeMap::new(),
        })
    }

    /// A fresh instance of `component`, with nothing open.
    pub fn instance(&self, component: &str) -> ModelInstance {
        ModelInstance {
            component: component.to_string(),
            slots: BTreeMap::new(),
        }
    }

    /// Applies one operation, returning the outcome the spec requires.
    pub fn apply(&mut self, inst: &mut ModelInstance, op: &Operation) -> Expected {
        match op {
            Operation::Open { slot, label } => self.open(inst, *slot, label),
            Operation::Close { slot } => match inst.slots.remove(slot) {
                Some(_) => Expected::Done,
                None => empty_slot(*slot),
            },
            Operation::Get { slot, key } => {
                self.with_store(inst, *slot, |_, store| match store.get(key) {
                    Some(v) => Expected::Value(Some(ExpectedValue {
                        bytes: v.clone(),
                        description: crate::outcome::render_bytes(v),
                    })),
                    None => absent(),
                })
            }
            Operation::Exists { slot, key } => self.with_store(inst, *slot, |_, store| {
                Expected::Exists(store.contains_key(key))
            }),
            Operation::GetKeys { slot } => self.with_store(inst, *slot, |_, store| {
                Expected::Keys(store.keys().cloned().collect())
            }),
            Operation::Delete { slot, key } => self.with_store(inst, *slot, |_, store| {
                store.remove(key);
                Expected::Done
            }),
            Operation::Set { slot, key, value } => {
                self.with_store(inst, *slot, |profile, store| {
                    // LIMIT-BEYOND: a refusal is an `other` error and leaves the store as it was.
                    let limits = profile.limits;
                    let too_long = limits.key_bytes.is_some_and(|l| key.len() as u64 > l);
                    let too_big = limits.value_bytes.is_some_and(|l| value.len() as u64 > l);
                    let too_many = limits
                        .tuples
                        .is_some_and(|l| !store.contains_key(key) && store.len() as u64 >= l);
                    if too_long || too_big || too_many {
                        return Expected::Error(ErrorKind::Other);
                    }
                    store.insert(key.clone(), value.clone());
                    Expected::Done
                })
            }
        }
    }

    fn open(&mut self, inst: &mut ModelInstance, slot: u32, label: &str) -> Expected {
        if inst.slots.contains_key(&slot) {
            return Expected::ScriptError(format!("slot {slot} is already open"));
        }
        let granted = self
            .grants
            .get(&inst.component)
            .is_some_and(|g| g.iter().any(|l| l == label));
        if !granted {
            return Expected::Error(ErrorKind::AccessDenied);
        }
        if !self.defined.contains(label) {
            return Expected::Error(ErrorKind::NoSuchStore);
        }
        if self
            .profile
            .open_stores
            .is_some_and(|bound| inst.slots.len() as u64 >= bound)
        {
            return Expected::Error(ErrorKind::StoreTableFull);
        }
        inst.slots.insert(slot, label.to_string());
        Expected::Opened
    }

    fn with_store(
        &mut self,
        inst: &ModelInstance,
        slot: u32,
        f: impl FnOnce(&Profile, &mut BTreeMap<String, Vec<u8>>) -> Expected,
    ) -> Expected {
        let Some(label) = inst.slots.get(&slot) else {
            return empty_slot(slot);
        };
        let store = self.stores.entry(label.clone()).or_default();
        let outcome = f(&self.profile, store);
        match (outcome, self.interface) {
            (Expected::Value(None), Interface::V1) => Expected::Error(ErrorKind::NoSuchKey),
            (outcome, _) => outcome,
        }
    }
}

fn absent() -> Expected {
    Expected::Value(None)
}

fn empty_slot(slot: u32) -> Expected {
    Expected::ScriptError(format!("slot {slot} holds no open store"))
}

/// What the model predicts for a whole case plan: the load, then one outcome per operation per step.
pub fn predict(
    profile: &Profile,
    interface: Interface,
    plan: &crate::case::Plan,
) -> Result<Vec<Vec<Expected>>, Refusal> {
    let mut app = ModelApp::load(profile, interface, &plan.grants, &plan.labels)?;
    Ok(plan
        .steps
        .iter()
        .map(|step| {
            let mut inst = app.instance(&step.component);
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
            interfaces: vec![Interface::V2],
            limits,
            open_stores: open,
            unconfigured_label: UnconfiguredLabel::NoSuchStore,
        }
    }

    fn app(p: &Profile, grants: &[&str]) -> ModelApp {
        let grants = BTreeMap::from([(
            "main".to_string(),
            grants.iter().map(|s| s.to_string()).collect(),
        )]);
        ModelApp::load(p, Interface::V2, &grants, &["cache".to_string()]).unwrap()
    }

    fn open(slot: u32, label: &str) -> Operation {
        Operation::Open {
            slot,
            label: label.into(),
        }
    }

    #[test]
    fn an_ungranted_label_is_denied_even_when_defined() {
        let p = profile(Limits::default(), None);
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main");
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
        let mut i = a.instance("main");
        a.apply(&mut i, &open(0, "default"));
        let set = |v: &[u8]| Operation::Set {
            slot: 0,
            key: "k".into(),
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
                key: "k".into(),
            },
        );
        assert!(got.matches(&crate::outcome::Outcome::Value(Some(b"abcd".to_vec()))));
    }

    #[test]
    fn the_open_bound_counts_open_handles_and_closing_makes_room() {
        let p = profile(Limits::default(), Some(2));
        let mut a = app(&p, &["default"]);
        let mut i = a.instance("main");
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
    fn data_outlives_an_instance() {
        let p = profile(Limits::default(), None);
        let mut a = app(&p, &["default"]);
        let mut first = a.instance("main");
        a.apply(&mut first, &open(0, "default"));
        a.apply(
            &mut first,
            &Operation::Set {
                slot: 0,
                key: "k".into(),
                value: vec![1],
            },
        );
        let mut second = a.instance("main");
        a.apply(&mut second, &open(0, "default"));
        assert_eq!(
            a.apply(
                &mut second,
                &Operation::Exists {
                    slot: 0,
                    key: "k".into()
                }
            ),
            Expected::Exists(true)
        );
    }
}
