//! The kvconf driver for `wasi:keyvalue@0.2.0-draft2` (store, atomics and batch).
//!
//! The suite cannot call a host's key-value interface directly: only a component can. This component is the
//! suite's hands inside the host. It receives a script (a list of operations on numbered slots), performs each
//! operation against the host's wasi:keyvalue interfaces, and reports what the host answered, exactly and
//! without judging it: deciding whether an answer conforms is the harness's job, so that one driver serves
//! every profile.
//!
//! Two rules keep the report faithful:
//! - Every host answer maps to one outcome with nothing lost: the same error variant, the same `other` text,
//!   the keys and batch entries in the order the host gave them, nothing reordered or filled in.
//! - Each outcome is passed to `observer.observe` before the next operation starts, so that if the host traps
//!   part-way through a script the harness still knows what happened before the trap.
//!
//! Besides the bucket slots there is a second, separate numbering of cas slots: a `cas` handle outlives the
//! operation that made it (`cas-new`), until `cas-swap` consumes it.

/// The generated bindings, kept private: nothing here is an API for anyone else.
#[cfg(not(feature = "http"))]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "kvconf:driver/driver-wasi-keyvalue",
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
        world: "kvconf:driver/http-driver-wasi-keyvalue",
        generate_all,
        additional_derives: [serde::Serialize, serde::Deserialize],
        // The JSON protocol needs the derives on kvconf's script types only; this one holds a resource.
        additional_derives_ignore: ["cas-error"],
    });
}

/// The HTTP face: `POST` a script, read one outcome per line (wit/http-driver.wit).
#[cfg(feature = "http")]
#[path = "../../http/p2.rs"]
mod http;

use std::collections::BTreeMap;

// `keyvalue0_2_0_draft2`, not `keyvalue`: wit/ also holds the older `wasi:keyvalue@0.2.0-draft` (for the draft
// driver), and wit-bindgen names a package's module after its version when two versions of it are side by side.
use bindings::wasi::keyvalue0_2_0_draft2::atomics::{self, Cas, CasError};
use bindings::wasi::keyvalue0_2_0_draft2::batch;
use bindings::wasi::keyvalue0_2_0_draft2::store::{self, Bucket, Error};
// The script types: imported with the driver export in-process, exported by the HTTP driver (wit/http-driver.wit).
#[cfg(feature = "http")]
use bindings::exports::kvconf::driver::types::{KeyPage, KvError, Operation, Outcome};
#[cfg(not(feature = "http"))]
use bindings::kvconf::driver::types::{KeyPage, KvError, Operation, Outcome};

/// How many pages `get-keys` reads before it gives up on a host that keeps returning cursors. Far more than
/// any case needs (the largest listing the suite makes has a few thousand keys), and few enough to end in
/// seconds.
const MAX_PAGES: u32 = 100_000;

/// Runs a script, passing each outcome to `observe` before the next operation starts, and returns them all.
fn run(script: Vec<Operation>, observe: &mut dyn FnMut(u32, &Outcome)) -> Vec<Outcome> {
    let mut slots = Slots::default();
    let mut outcomes = Vec::with_capacity(script.len());
    for (index, operation) in (0u32..).zip(script) {
        let outcome = slots.perform(operation);
        observe(index, &outcome);
        outcomes.push(outcome);
    }
    // The remaining handles are dropped here, cas handles first (see `Slots`): a script needs no
    // trailing `close`.
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

/// The handles a script holds: buckets by slot number, and cas handles by cas slot number.
///
/// `BTreeMap`s rather than `HashMap`s: a hash map's random seed would make the component import
/// `wasi:random` for nothing, and the slot numbers a script uses are few and small.
///
/// The cas handles are declared first so that they are dropped before the buckets they were made from: a host
/// may keep a cas as a child of its bucket and refuse to drop a bucket that still has children.
#[derive(Default)]
struct Slots {
    cas: BTreeMap<u32, Cas>,
    buckets: BTreeMap<u32, Bucket>,
}

impl Slots {
    /// Performs one operation and says what the host answered.
    ///
    /// A script that names an empty slot, opens into an occupied one, makes a cas into an occupied cas slot,
    /// or asks for an operation wasi:keyvalue lacks gets a `script-error` and the host is not called: that is
    /// a fault of the script, and reporting it as a host result would blame the host.
    fn perform(&mut self, operation: Operation) -> Outcome {
        match operation {
            Operation::Open(op) => {
                if self.buckets.contains_key(&op.slot) {
                    return script_error(format!(
                        "open into slot {} which already holds a bucket; close it first",
                        op.slot
                    ));
                }
                match store::open(&op.label) {
                    Ok(bucket) => {
                        self.buckets.insert(op.slot, bucket);
                        Outcome::Opened
                    }
                    Err(error) => failed(error),
                }
            }
            Operation::Get(op) => self.with(op.slot, "get", |bucket| {
                bucket.get(&op.key).map_or_else(failed, Outcome::Value)
            }),
            Operation::Set(op) => self.with(op.slot, "set", |bucket| {
                done_or_failed(bucket.set(&op.key, &op.value))
            }),
            Operation::Delete(op) => self.with(op.slot, "delete", |bucket| {
                done_or_failed(bucket.delete(&op.key))
            }),
            Operation::Exists(op) => self.with(op.slot, "exists", |bucket| {
                bucket.exists(&op.key).map_or_else(failed, Outcome::Exists)
            }),
            Operation::GetKeys(slot) => self.with(slot, "get-keys", list_all_keys),
            Operation::ListKeys(op) => self.with(op.slot, "list-keys", |bucket| {
                bucket
                    .list_keys(op.cursor.as_deref())
                    .map_or_else(failed, |page| {
                        Outcome::Page(KeyPage {
                            keys: page.keys,
                            cursor: page.cursor,
                        })
                    })
            }),
            Operation::Increment(op) => self.with(op.slot, "increment", |bucket| {
                atomics::increment(bucket, &op.key, op.delta).map_or_else(failed, Outcome::Counter)
            }),
            Operation::CasNew(op) => {
                if self.cas.contains_key(&op.cas) {
                    return script_error(format!(
                        "cas-new into cas slot {} which already holds a cas; swap it first",
                        op.cas
                    ));
                }
                let Some(bucket) = self.buckets.get(&op.slot) else {
                    return empty_slot(op.slot, "cas-new");
                };
                match Cas::new(bucket, &op.key) {
                    Ok(cas) => {
                        self.cas.insert(op.cas, cas);
                        Outcome::Opened
                    }
                    Err(error) => failed(error),
                }
            }
            Operation::CasCurrent(slot) => match self.cas.get(&slot) {
                Some(cas) => cas.current().map_or_else(failed, Outcome::Value),
                None => empty_cas_slot(slot, "cas-current"),
            },
            // `swap` takes the cas by value, so the cas slot is empty afterwards whatever the answer. A
            // `cas-failed` hands the cas back for another try; the suite never retries, so it is dropped.
            Operation::CasSwap(op) => match self.cas.remove(&op.cas) {
                Some(cas) => match atomics::swap(cas, &op.value) {
                    Ok(()) => Outcome::Done,
                    Err(CasError::CasFailed(returned)) => {
                        drop(returned);
                        Outcome::Failed(KvError::CasFailed)
                    }
                    Err(CasError::StoreError(error)) => failed(error),
                },
                None => empty_cas_slot(op.cas, "cas-swap"),
            },
            Operation::GetMany(op) => self.with(op.slot, "get-many", |bucket| {
                batch::get_many(bucket, &op.keys).map_or_else(failed, Outcome::Entries)
            }),
            Operation::SetMany(op) => self.with(op.slot, "set-many", |bucket| {
                done_or_failed(batch::set_many(bucket, &op.entries))
            }),
            Operation::DeleteMany(op) => self.with(op.slot, "delete-many", |bucket| {
                done_or_failed(batch::delete_many(bucket, &op.keys))
            }),
            // wasi:keyvalue has no `close`: dropping the resource is how a guest closes a bucket.
            Operation::Close(slot) => match self.buckets.remove(&slot) {
                Some(bucket) => {
                    drop(bucket);
                    Outcome::Done
                }
                None => empty_slot(slot, "close"),
            },
            Operation::ForgeHandle(_) => not_in_wasi("forge-handle"),
            Operation::GetKeysPartial(_) => not_in_wasi("get-keys-partial"),
            Operation::Concurrently(_) => not_in_wasi("concurrently"),
        }
    }

    /// Calls `call` with the bucket in `slot`, or reports the empty slot without calling the host.
    fn with(&self, slot: u32, operation: &str, call: impl FnOnce(&Bucket) -> Outcome) -> Outcome {
        match self.buckets.get(&slot) {
            Some(bucket) => call(bucket),
            None => empty_slot(slot, operation),
        }
    }
}

/// Every key of `bucket`: `list-keys` from the first page, following each cursor the host returns until it
/// returns none, the pages' keys concatenated in the order the host gave them.
fn list_all_keys(bucket: &Bucket) -> Outcome {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        match bucket.list_keys(cursor.as_deref()) {
            Ok(page) => {
                keys.extend(page.keys);
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => return Outcome::Keys(keys),
                }
            }
            Err(error) => return failed(error),
        }
    }
    script_error(format!(
        "get-keys gave up after {MAX_PAGES} pages: the host kept returning a cursor ({} keys so far)",
        keys.len()
    ))
}

/// `done` for an operation with no result, or the host's error.
fn done_or_failed(result: Result<(), Error>) -> Outcome {
    result.map_or_else(failed, |()| Outcome::Done)
}

/// The host's error as the suite's error type: the same variant, and the same text for `other`.
fn failed(error: Error) -> Outcome {
    Outcome::Failed(match error {
        Error::NoSuchStore => KvError::NoSuchStore,
        Error::AccessDenied => KvError::AccessDenied,
        Error::Other(text) => KvError::Other(text),
    })
}

/// The script named a slot that holds no bucket.
fn empty_slot(slot: u32, operation: &str) -> Outcome {
    script_error(format!(
        "{operation} on slot {slot}, which holds no bucket; open one there first"
    ))
}

/// The script named a cas slot that holds no cas.
fn empty_cas_slot(slot: u32, operation: &str) -> Outcome {
    script_error(format!(
        "{operation} on cas slot {slot}, which holds no cas; make one there with cas-new first"
    ))
}

/// The script asked for an operation wasi:keyvalue does not have (the protocol is shared by every interface
/// version); nothing is sent to the host.
fn not_in_wasi(operation: &str) -> Outcome {
    script_error(format!(
        "{operation} is not an operation of wasi:keyvalue@0.2.0-draft2; the wasi driver does not perform it"
    ))
}

/// An operation the driver refused to attempt.
fn script_error(message: String) -> Outcome {
    Outcome::ScriptError(message)
}
