//! The kvconf driver for `fermyon:spin/key-value@2.0.0`.
//!
//! The suite cannot call a host's key-value interface directly: only a component can. This component is the
//! suite's hands inside the host. It receives a script (a list of operations on numbered slots), performs each
//! operation against the host's v2 interface, and reports what the host answered, exactly and without judging
//! it: deciding whether an answer conforms is the harness's job, so that one driver serves every profile.
//!
//! Two rules keep the report faithful:
//! - Every host answer maps to one outcome with nothing lost: the same error variant, the same `other` text,
//!   the keys in the order the host listed them (the harness compares them as a set).
//! - Each outcome is passed to `observer.observe` before the next operation starts, so that if the host traps
//!   part-way through a script the harness still knows what happened before the trap.

/// The generated bindings, kept private: nothing here is an API for anyone else.
#[cfg(not(feature = "http"))]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "kvconf:driver/driver-v2",
        // Every interface this world imports comes from the project's own wit/ directory; no other crate
        // already provides bindings for them.
        generate_all,
    });
}

/// The HTTP driver's bindings: the same key-value import and script types, the types with serde's derives for
/// the JSON protocol; the HTTP export comes from the `wasi` crate (see `http`).
#[cfg(feature = "http")]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "kvconf:driver/http-driver-v2",
        generate_all,
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

/// The HTTP face: `POST` a script, read one outcome per line (wit/http-driver.wit).
#[cfg(feature = "http")]
#[path = "../../http/p2.rs"]
mod http;

use std::collections::BTreeMap;

// `spin2_0_0`, not `spin`: wit/ also holds the unversioned v1 package `fermyon:spin`, so wit-bindgen adds the
// version to tell the two modules apart.
use bindings::fermyon::spin2_0_0::key_value::{Error, Store};
// The script types: imported with the driver export in-process, exported by the HTTP driver (wit/http-driver.wit).
#[cfg(feature = "http")]
use bindings::exports::kvconf::driver::types::{KvError, Operation, Outcome};
#[cfg(not(feature = "http"))]
use bindings::kvconf::driver::types::{KvError, Operation, Outcome};

/// Runs a script, passing each outcome to `observe` before the next operation starts, and returns them all.
fn run(script: Vec<Operation>, observe: &mut dyn FnMut(u32, &Outcome)) -> Vec<Outcome> {
    let mut slots = Slots::default();
    let mut outcomes = Vec::with_capacity(script.len());
    for (index, operation) in (0u32..).zip(script) {
        let outcome = slots.perform(operation);
        observe(index, &outcome);
        outcomes.push(outcome);
    }
    // The remaining handles are dropped here, which closes them: a script needs no trailing `close`.
    outcomes
}

/// The component's export: one `run` per script, no state kept between calls.
#[cfg(not(feature = "http"))]
struct Driver;

#[cfg(not(feature = "http"))]
impl bindings::Guest for Driver {
    fn run(script: Vec<Operation>) -> Vec<Outcome> {
        run(script, &mut |index, outcome| {
            bindings::kvconf::driver::observer::observe(index, outcome)
        })
    }
}

#[cfg(not(feature = "http"))]
bindings::export!(Driver with_types_in bindings);

/// The store handles a script has open, by slot number.
///
/// A `BTreeMap` rather than a `HashMap`: a hash map's random seed would make the component import
/// `wasi:random` for nothing, and the slot numbers a script uses are few and small.
#[derive(Default)]
struct Slots(BTreeMap<u32, Store>);

impl Slots {
    /// Performs one operation and says what the host answered.
    ///
    /// A script that names an empty slot, opens into an occupied one, or asks for an operation v2 lacks gets a
    /// `script-error` and the host is not called: that is a fault of the script, and reporting it as a host
    /// result would blame the host.
    fn perform(&mut self, operation: Operation) -> Outcome {
        match operation {
            Operation::Open(op) => {
                if self.0.contains_key(&op.slot) {
                    return script_error(format!(
                        "open into slot {} which already holds a store; close it first",
                        op.slot
                    ));
                }
                match Store::open(&op.label) {
                    Ok(store) => {
                        self.0.insert(op.slot, store);
                        Outcome::Opened
                    }
                    Err(error) => failed(error),
                }
            }
            Operation::Get(op) => self.with(op.slot, "get", |store| {
                store.get(&op.key).map_or_else(failed, Outcome::Value)
            }),
            Operation::Set(op) => self.with(op.slot, "set", |store| {
                done_or_failed(store.set(&op.key, &op.value))
            }),
            Operation::Delete(op) => self.with(op.slot, "delete", |store| {
                done_or_failed(store.delete(&op.key))
            }),
            Operation::Exists(op) => self.with(op.slot, "exists", |store| {
                store.exists(&op.key).map_or_else(failed, Outcome::Exists)
            }),
            Operation::GetKeys(slot) => self.with(slot, "get-keys", |store| {
                store.get_keys().map_or_else(failed, Outcome::Keys)
            }),
            // v2 has no `close`: dropping the resource is how a guest closes a store.
            Operation::Close(slot) => match self.0.remove(&slot) {
                Some(store) => {
                    drop(store);
                    Outcome::Done
                }
                None => empty_slot(slot, "close"),
            },
            Operation::ForgeHandle(_) => not_in_v2("forge-handle"),
            Operation::GetKeysPartial(_) => not_in_v2("get-keys-partial"),
            Operation::Concurrently(_) => not_in_v2("concurrently"),
            Operation::ListKeys(_) => not_in_v2("list-keys"),
            Operation::Increment(_) => not_in_v2("increment"),
            Operation::CasNew(_) => not_in_v2("cas-new"),
            Operation::CasCurrent(_) => not_in_v2("cas-current"),
            Operation::CasSwap(_) => not_in_v2("cas-swap"),
            Operation::GetMany(_) => not_in_v2("get-many"),
            Operation::SetMany(_) => not_in_v2("set-many"),
            Operation::DeleteMany(_) => not_in_v2("delete-many"),
        }
    }

    /// Calls `call` with the store in `slot`, or reports the empty slot without calling the host.
    fn with(&self, slot: u32, operation: &str, call: impl FnOnce(&Store) -> Outcome) -> Outcome {
        match self.0.get(&slot) {
            Some(store) => call(store),
            None => empty_slot(slot, operation),
        }
    }
}

/// `done` for an operation with no result, or the host's error.
fn done_or_failed(result: Result<(), Error>) -> Outcome {
    result.map_or_else(failed, |()| Outcome::Done)
}

/// The host's error as the suite's error type: the same variant, and the same text for `other`.
fn failed(error: Error) -> Outcome {
    Outcome::Failed(match error {
        Error::StoreTableFull => KvError::StoreTableFull,
        Error::NoSuchStore => KvError::NoSuchStore,
        Error::AccessDenied => KvError::AccessDenied,
        Error::Other(text) => KvError::Other(text),
    })
}

/// The script named a slot that holds no store.
fn empty_slot(slot: u32, operation: &str) -> Outcome {
    script_error(format!(
        "{operation} on slot {slot}, which holds no store; open one there first"
    ))
}

/// The script asked for an operation the v2 interface does not have (the protocol is shared by every
/// version); nothing is sent to the host.
fn not_in_v2(operation: &str) -> Outcome {
    script_error(format!(
        "{operation} is not an operation of fermyon:spin/key-value@2.0.0; the v2 driver does not perform it"
    ))
}

/// An operation the driver refused to attempt.
fn script_error(message: String) -> Outcome {
    Outcome::ScriptError(message)
}
