//! The kvconf driver for `fermyon:spin/key-value` (v1).
//!
//! The suite cannot call a host's key-value interface directly: only a component can. This component is the
//! suite's hands inside the host. It receives a script (a list of operations on numbered slots), performs each
//! operation against the host's v1 interface, and reports what the host answered, exactly and without judging
//! it: deciding whether an answer conforms is the harness's job, so that one driver serves every profile.
//!
//! The script loop and the script errors are the drivers' shared crate's (`kvconf_driver_common`); the slots are
//! this crate's own, because v1's handle numbers outlive `close` (below).
//!
//! Two rules keep the report faithful:
//! - Every host answer maps to one outcome with nothing lost: the same error variant, the same `io` text, the
//!   keys in the order the host listed them (the harness compares them as a set).
//! - Each outcome is passed to `observer.observe` before the next operation starts, so that if the host traps
//!   part-way through a script the harness still knows what happened before the trap.
//!
//! v1 handles are plain numbers, so unlike the resource-based versions a guest can use a handle after closing
//! it, or one the host never gave out. The suite checks what a host does then (HANDLE-V1-INVALID,
//! HANDLE-V1-CLOSE), so this driver deliberately lets a script do both: `close` leaves the closed number in its
//! slot, and `forge-handle` puts any number there.

kvconf_driver_common::bindings!("kvconf:driver/driver-v1", "kvconf:driver/http-driver-v1");

/// The HTTP face: `POST` a script, read one outcome per line (wit/http-driver.wit).
#[cfg(feature = "http")]
#[path = "../../http/p2.rs"]
mod http;

use std::collections::BTreeMap;

use bindings::fermyon::spin::key_value::{self as kv, Error};
use kvconf_driver_common::{
    Operation, Outcome, done_or_failed, empty_slot, failed, not_in, script_error,
};

/// Runs a script, passing each outcome to `observe` before the next operation starts, and returns them all.
fn run(script: Vec<Operation>, observe: &mut dyn FnMut(u32, &Outcome)) -> Vec<Outcome> {
    let mut slots = Slots::default();
    let outcomes = kvconf_driver_common::run(script, |operation| slots.perform(operation), observe);
    slots.close_opened();
    outcomes
}

#[cfg(not(feature = "http"))]
kvconf_driver_common::export_driver!(bindings, run);

/// A handle number held in a slot, and how it got there.
#[derive(Clone, Copy)]
struct Handle {
    number: kv::Store,
    state: HandleState,
}

/// Where a slot's handle number came from, which decides what the script may do with the slot next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HandleState {
    /// `open` returned it and it has not been closed.
    Opened,
    /// The script put it there with `forge-handle` (outcome `done`, since no host was asked); the host may
    /// never have given it out.
    Forged,
    /// `close` was called on it; operations on the slot still send it to the host.
    Closed,
}

/// The handles a script has put into slots, by slot number.
///
/// A `BTreeMap` rather than a `HashMap`: a hash map's random seed would make the component import
/// `wasi:random` for nothing, and the slot numbers a script uses are few and small.
#[derive(Default)]
struct Slots(BTreeMap<u32, Handle>);

impl Slots {
    /// Performs one operation and says what the host answered.
    ///
    /// A script that names an empty slot, opens (or forges) into a slot holding a store it opened and has not
    /// closed, or asks for an operation v1 lacks gets a `script-error` and the host is not called: that is a
    /// fault of the script, and reporting it as a host result would blame the host. A slot holding a closed or
    /// forged number keeps sending that number to the host until the script replaces it.
    fn perform(&mut self, operation: Operation) -> Outcome {
        match operation {
            Operation::Open(op) => {
                if let Some(refusal) = self.refuse_to_replace(op.slot, "open") {
                    return refusal;
                }
                match kv::open(&op.label) {
                    Ok(number) => {
                        self.put(op.slot, number, HandleState::Opened);
                        Outcome::Opened
                    }
                    Err(error) => failed(error),
                }
            }
            Operation::ForgeHandle(op) => {
                if let Some(refusal) = self.refuse_to_replace(op.slot, "forge-handle") {
                    return refusal;
                }
                self.put(op.slot, op.handle, HandleState::Forged);
                Outcome::Done
            }
            Operation::Get(op) => self.with(op.slot, "get", |store| {
                kv::get(store, &op.key).map_or_else(failed, |value| Outcome::Value(Some(value)))
            }),
            Operation::Set(op) => self.with(op.slot, "set", |store| {
                done_or_failed(kv::set(store, &op.key, &op.value))
            }),
            Operation::Delete(op) => self.with(op.slot, "delete", |store| {
                done_or_failed(kv::delete(store, &op.key))
            }),
            Operation::Exists(op) => self.with(op.slot, "exists", |store| {
                kv::exists(store, &op.key).map_or_else(failed, Outcome::Exists)
            }),
            Operation::GetKeys(slot) => self.with(slot, "get-keys", |store| {
                kv::get_keys(store).map_or_else(failed, Outcome::Keys)
            }),
            // Whatever the slot holds (open, forged or already closed) is closed again: closing a handle that
            // is not open must be a no-op on the host, and the suite checks that it is.
            Operation::Close(slot) => match self.0.get_mut(&slot) {
                Some(handle) => {
                    kv::close(handle.number);
                    handle.state = HandleState::Closed;
                    Outcome::Done
                }
                None => empty_slot(slot, "close", "store"),
            },
            other => not_in(&other, "fermyon:spin/key-value (v1)", "v1"),
        }
    }

    /// A `script-error` if `slot` holds a handle this driver opened and has not closed. A closed or forged
    /// number may be replaced: neither is a store the script could lose track of.
    fn refuse_to_replace(&self, slot: u32, operation: &str) -> Option<Outcome> {
        let handle = self.0.get(&slot)?;
        (handle.state == HandleState::Opened).then(|| {
            script_error(format!(
                "{operation} into slot {slot} which already holds an open store (handle {}); close it first",
                handle.number
            ))
        })
    }

    fn put(&mut self, slot: u32, number: kv::Store, state: HandleState) {
        self.0.insert(slot, Handle { number, state });
    }

    /// Calls `call` with the handle number in `slot` (whatever its state), or reports the empty slot without
    /// calling the host.
    fn with(&self, slot: u32, operation: &str, call: impl FnOnce(kv::Store) -> Outcome) -> Outcome {
        match self.0.get(&slot) {
            Some(handle) => call(handle.number),
            None => empty_slot(slot, operation, "store"),
        }
    }

    /// Closes the handles the script opened and left open, as dropping the store resources does in v2, so a
    /// script needs no trailing `close`. Forged numbers were never given out to this driver and closed ones
    /// need nothing, so neither is sent.
    fn close_opened(self) {
        for handle in self.0.into_values() {
            if handle.state == HandleState::Opened {
                kv::close(handle.number);
            }
        }
    }
}

kvconf_driver_common::host_error!(Error {
    StoreTableFull, NoSuchStore, AccessDenied, InvalidStore, NoSuchKey, Io(text)
});
