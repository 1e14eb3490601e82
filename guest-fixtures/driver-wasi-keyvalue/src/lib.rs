//! The kvconf driver for `wasi:keyvalue@0.2.0-draft2` (store, atomics and batch).
//!
//! The suite cannot call a host's key-value interface directly: only a component can. This component is the
//! suite's hands inside the host. It receives a script (a list of operations on numbered slots), performs each
//! operation against the host's wasi:keyvalue interfaces, and reports what the host answered, exactly and
//! without judging it: deciding whether an answer conforms is the harness's job, so that one driver serves
//! every profile.
//!
//! The script loop, the bucket slots, the script errors and the calls store-resource versions share are the shared
//! crate's (`kvconf_driver_common`, `StoreCalls`); this crate is the other wasi:keyvalue calls and the cas slots.
//!
//! Two rules keep the report faithful:
//! - Every host answer maps to one outcome with nothing lost: the same error variant, the same `other` text,
//!   the keys and batch entries in the order the host gave them, nothing reordered or filled in.
//! - Each outcome is passed to `observer.observe` before the next operation starts, so that if the host traps
//!   part-way through a script the harness still knows what happened before the trap.
//!
//! Besides the bucket slots there is a second, separate numbering of cas slots: a `cas` handle outlives the
//! operation that made it (`cas-new`), until `cas-swap` consumes it.

kvconf_driver_common::bindings!(
    "kvconf:driver/driver-wasi-keyvalue",
    "kvconf:driver/http-driver-wasi-keyvalue"
);

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
use kvconf_driver_common::{
    KeyPage, KvError, Operation, Outcome, Slots, StoreCalls, all_pages, failed, not_in,
    script_error,
};

/// wasi:keyvalue's calls that every store-resource version makes alike (a bucket is its store).
const CALLS: StoreCalls<Bucket, Error> =
    StoreCalls::new(Bucket::get, Bucket::set, Bucket::delete, Bucket::exists)
        .with_batch(batch::set_many, batch::delete_many);

/// Runs a script, passing each outcome to `observe` before the next operation starts, and returns them all.
fn run(script: Vec<Operation>, observe: &mut dyn FnMut(u32, &Outcome)) -> Vec<Outcome> {
    let mut slots = Handles::default();
    // The remaining handles are dropped with `slots`, cas handles first (see `Handles`): a script needs no
    // trailing `close`.
    kvconf_driver_common::run(script, |operation| slots.perform(operation), observe)
}

#[cfg(not(feature = "http"))]
kvconf_driver_common::export_driver!(bindings, run);

/// The handles a script holds: buckets by slot number, and cas handles by cas slot number.
///
/// A `BTreeMap` rather than a `HashMap` for the cas slots: a hash map's random seed would make the component
/// import `wasi:random` for nothing, and the slot numbers a script uses are few and small.
///
/// The cas handles are declared first so that they are dropped before the buckets they were made from: a host
/// may keep a cas as a child of its bucket and refuse to drop a bucket that still has children.
struct Handles {
    cas: BTreeMap<u32, Cas>,
    buckets: Slots<Bucket>,
}

impl Default for Handles {
    fn default() -> Self {
        Self {
            cas: BTreeMap::new(),
            buckets: Slots::new("bucket"),
        }
    }
}

impl Handles {
    /// Performs one operation and says what the host answered.
    ///
    /// A script that names an empty slot, opens into an occupied one, makes a cas into an occupied cas slot,
    /// or asks for an operation wasi:keyvalue lacks gets a `script-error` and the host is not called: that is
    /// a fault of the script, and reporting it as a host result would blame the host.
    fn perform(&mut self, operation: Operation) -> Outcome {
        let buckets = &mut self.buckets;
        match operation {
            Operation::Open(op) => buckets.open(op.slot, || store::open(&op.label)),
            Operation::GetKeys(slot) => buckets.with(slot, "get-keys", |bucket| {
                all_pages(|cursor: Option<&String>| {
                    let page = bucket.list_keys(cursor.map(String::as_str));
                    page.map(|page| (page.keys, page.cursor))
                })
            }),
            Operation::ListKeys(op) => buckets.with(op.slot, "list-keys", |bucket| {
                bucket
                    .list_keys(op.cursor.as_deref())
                    .map_or_else(failed, |page| {
                        Outcome::Page(KeyPage {
                            keys: page.keys,
                            cursor: page.cursor,
                        })
                    })
            }),
            Operation::Increment(op) => buckets.with(op.slot, "increment", |bucket| {
                atomics::increment(bucket, &op.key, op.delta).map_or_else(failed, Outcome::Counter)
            }),
            Operation::CasNew(op) => {
                if self.cas.contains_key(&op.cas) {
                    return script_error(format!(
                        "cas-new into cas slot {} which already holds a cas; swap it first",
                        op.cas
                    ));
                }
                let bucket = match buckets.get(op.slot, "cas-new") {
                    Ok(bucket) => bucket,
                    Err(refusal) => return refusal,
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
            Operation::GetMany(op) => buckets.with(op.slot, "get-many", |bucket| {
                batch::get_many(bucket, &op.keys).map_or_else(failed, Outcome::Entries)
            }),
            other => buckets
                .perform(&CALLS, other)
                .unwrap_or_else(|other| not_in(&other, "wasi:keyvalue@0.2.0-draft2", "wasi")),
        }
    }
}

/// The script named a cas slot that holds no cas.
fn empty_cas_slot(slot: u32, operation: &str) -> Outcome {
    script_error(format!(
        "{operation} on cas slot {slot}, which holds no cas; make one there with cas-new first"
    ))
}

kvconf_driver_common::host_error!(Error { NoSuchStore, AccessDenied, Other(text) });
