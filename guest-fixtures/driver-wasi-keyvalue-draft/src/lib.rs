//! The kvconf driver for `wasi:keyvalue@0.2.0-draft`, the older edition of wasi:keyvalue that wasmtime's
//! `wasmtime-wasi-keyvalue` crate implements (store, atomics and batch).
//!
//! The suite cannot call a host's key-value interface directly: only a component can. This component is the
//! suite's hands inside the host. It receives a script (a list of operations on numbered slots), performs each
//! operation against the host's wasi:keyvalue interfaces, and reports what the host answered, exactly and
//! without judging it: deciding whether an answer conforms is the harness's job, so that one driver serves
//! every profile.
//!
//! The script loop, slots, script errors and the calls store-resource versions share are the shared crate's
//! (`kvconf_driver_common`, `StoreCalls`); this crate is the edition's other calls and how the script maps onto it.
//!
//! Two rules keep the report faithful:
//! - Every host answer maps to one outcome with nothing lost: the same error variant, the same `other` text,
//!   the keys and batch entries in the order the host gave them, nothing reordered or filled in.
//! - Each outcome is passed to `observer.observe` before the next operation starts, so that if the host traps
//!   part-way through a script the harness still knows what happened before the trap.
//!
//! # How the script vocabulary maps onto this edition
//!
//! The script vocabulary (`kvconf:driver/types`) is shared by every driver and speaks the `0.2.0-draft2`
//! edition's types; this edition differs in four places, mapped here and nowhere else:
//! - `list-keys` takes and returns a `u64` cursor. A script's cursor is decimal text: one made of ASCII digits
//!   that fits a `u64` is passed as that number, anything else is a `script-error` and the host is not called.
//!   A page's cursor comes back as its decimal text, so a cursor the host gave is handed back unchanged.
//! - `increment` adds a `u64` and returns a `u64`. A script's delta below zero has no `u64` and is a
//!   `script-error` (the host is not called). A new value above `i64::MAX` has no `counter(s64)` outcome; it is
//!   reported as a `script-error` naming the value the host gave, so that the answer is still shown and no case
//!   can pass on it (no case expects such a value: the model gives it no single conforming outcome).
//! - `get-many` answers `option<tuple<key, value>>` per requested key, `none` for a missing one, so a missing
//!   key's entry carries no key. The edition's text pairs the answer with the request by position ("it returns
//!   a `none` value for that pair in the list"), so a `none` at position `i` is reported as the `i`-th requested
//!   key with no value; a `none` beyond the request's length (the host answered more entries than it was asked
//!   for) is reported with the empty key, so the comparison with the request still fails.
//! - There is no compare-and-swap: `cas-new`, `cas-current` and `cas-swap` are `script-error`s.

kvconf_driver_common::bindings!(
    "kvconf:driver/driver-wasi-keyvalue-draft",
    "kvconf:driver/http-driver-wasi-keyvalue-draft"
);

/// The HTTP face: `POST` a script, read one outcome per line (wit/http-driver.wit).
#[cfg(feature = "http")]
#[path = "../../http/p2.rs"]
mod http;

use bindings::wasi::keyvalue0_2_0_draft::atomics;
use bindings::wasi::keyvalue0_2_0_draft::batch;
use bindings::wasi::keyvalue0_2_0_draft::store::{self, Bucket, Error};
use kvconf_driver_common::{
    KeyPage, Operation, Outcome, Slots, StoreCalls, all_pages, failed, not_in, script_error,
};

/// This edition's calls that every store-resource version makes alike (a bucket is its store).
const CALLS: StoreCalls<Bucket, Error> =
    StoreCalls::new(Bucket::get, Bucket::set, Bucket::delete, Bucket::exists)
        .with_batch(batch::set_many, batch::delete_many);

/// Runs a script, passing each outcome to `observe` before the next operation starts, and returns them all.
fn run(script: Vec<Operation>, observe: &mut dyn FnMut(u32, &Outcome)) -> Vec<Outcome> {
    let mut buckets = Slots::new("bucket");
    // The remaining buckets are dropped with `buckets`: a script needs no trailing `close`.
    kvconf_driver_common::run(
        script,
        |operation| perform(&mut buckets, operation),
        observe,
    )
}

#[cfg(not(feature = "http"))]
kvconf_driver_common::export_driver!(bindings, run);

/// Performs one operation and says what the host answered.
///
/// A script that names an empty slot, opens into an occupied one, passes a value this edition cannot express (a
/// cursor that is not a `u64`, a negative delta), or asks for an operation this edition lacks gets a
/// `script-error` and the host is not called: that is a fault of the script, and reporting it as a host result
/// would blame the host.
fn perform(buckets: &mut Slots<Bucket>, operation: Operation) -> Outcome {
    match operation {
        Operation::Open(op) => buckets.open(op.slot, || store::open(&op.label)),
        Operation::GetKeys(slot) => buckets.with(slot, "get-keys", |bucket| {
            all_pages(|cursor: Option<&u64>| {
                let page = bucket.list_keys(cursor.copied());
                page.map(|page| (page.keys, page.cursor))
            })
        }),
        Operation::ListKeys(op) => {
            let cursor = match op.cursor.as_deref().map(parse_cursor) {
                None => None,
                Some(Some(cursor)) => Some(cursor),
                Some(None) => {
                    return script_error(format!(
                        "list-keys with the cursor {:?}: a cursor of wasi:keyvalue@0.2.0-draft is a u64, \
                         written as decimal digits",
                        op.cursor.unwrap_or_default()
                    ));
                }
            };
            buckets.with(op.slot, "list-keys", |bucket| {
                bucket.list_keys(cursor).map_or_else(failed, |page| {
                    Outcome::Page(KeyPage {
                        keys: page.keys,
                        cursor: page.cursor.map(|c| c.to_string()),
                    })
                })
            })
        }
        Operation::Increment(op) => {
            let Ok(delta) = u64::try_from(op.delta) else {
                return script_error(format!(
                    "increment by {}: wasi:keyvalue@0.2.0-draft increments by a u64, so a delta below zero \
                     cannot be sent",
                    op.delta
                ));
            };
            buckets.with(op.slot, "increment", |bucket| {
                match atomics::increment(bucket, &op.key, delta) {
                    Ok(value) => match i64::try_from(value) {
                        Ok(value) => Outcome::Counter(value),
                        Err(_) => script_error(format!(
                            "the host answered increment with the counter {value}, beyond the s64 of the \
                             driver's counter outcome"
                        )),
                    },
                    Err(error) => failed(error),
                }
            })
        }
        Operation::GetMany(op) => buckets.with(op.slot, "get-many", |bucket| {
            batch::get_many(bucket, &op.keys)
                .map_or_else(failed, |answers| entries(&op.keys, answers))
        }),
        other => buckets
            .perform(&CALLS, other)
            .unwrap_or_else(|other| not_in(&other, "wasi:keyvalue@0.2.0-draft", "draft")),
    }
}

/// A script's cursor as this edition's `u64`: one or more ASCII digits whose number fits; `None` otherwise.
fn parse_cursor(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `get-many`'s answers as entries: an answer with a pair as the host gave it, a `none` (which carries no key in
/// this edition) as the key requested at its position with no value, or the empty key past the request's end.
fn entries(requested: &[String], answers: Vec<Option<(String, Vec<u8>)>>) -> Outcome {
    Outcome::Entries(
        answers
            .into_iter()
            .enumerate()
            .map(|(i, answer)| match answer {
                Some((key, value)) => (key, Some(value)),
                None => (requested.get(i).cloned().unwrap_or_default(), None),
            })
            .collect(),
    )
}

kvconf_driver_common::host_error!(Error { NoSuchStore, AccessDenied, Other(text) });
