//! The kvconf driver for `spin:key-value/key-value@3.0.0`.
//!
//! The suite cannot call a host's key-value interface directly: only a component can. This component is the
//! suite's hands inside the host. It receives a script (a list of operations on numbered slots), performs each
//! operation against the host's v3 interface, and reports what the host answered, exactly and without judging
//! it: deciding whether an answer conforms is the harness's job, so that one driver serves every profile.
//!
//! The slots and the script errors are the drivers' shared crate's (`kvconf_driver_common`); the loop is this
//! crate's own, because it awaits the host and runs concurrent groups.
//!
//! Two rules keep the report faithful:
//! - Every host answer maps to one outcome with nothing lost: the same error variant, the same `other` text,
//!   the keys in the order the stream delivered them (the harness compares them as a set).
//! - Each outcome is passed to `observer.observe` before the next operation starts, so that if the host traps
//!   part-way through a script the harness still knows what happened before the trap. A concurrent group is
//!   one step: its outcomes are observed, in script order, once all of its operations have finished.
//!
//! Every v3 function is async, and so is this driver's `run`: the host sees each call as a subtask, which is
//! what lets `concurrently` keep several of them in flight at once.

kvconf_driver_common::bindings!("kvconf:driver/driver-v3", "kvconf:driver/http-driver-v3");

/// The HTTP face: `POST` a script, read one outcome per line (wit/http-driver.wit).
#[cfg(feature = "http")]
#[path = "../../http/p3.rs"]
mod http;

use futures::future::join_all;
use wit_bindgen::{StreamReader, StreamResult};

use bindings::spin::key_value::key_value::{Error, Store};
use kvconf_driver_common::{
    Operation, Outcome, Slots, done_or_failed, failed, not_in, script_error,
};

/// How many keys one read of the key stream asks for at most: enough that a long listing needs few reads,
/// few enough that a short one allocates little.
const KEYS_PER_READ: usize = 256;

/// Runs a script, passing each outcome to `observe` before the next operation starts, and returns them all.
async fn run(script: Vec<Operation>, observe: &mut impl AsyncFnMut(u32, &Outcome)) -> Vec<Outcome> {
    let mut slots = Slots::new("store");
    let mut report = Report::new(script.len(), observe);
    let mut script = script.into_iter();
    while let Some(operation) = script.next() {
        match operation {
            Operation::Concurrently(count) => {
                let group: Vec<Operation> = script.by_ref().take(count as usize).collect();
                if group.len() < count as usize {
                    // Running fewer operations than the script asked for together would test something
                    // else than the case means to, so none of them is run.
                    let header = report.index();
                    report.record(script_error(format!(
                        "concurrently {count}, but only {} operation(s) follow; none of them was run",
                        group.len()
                    )))
                    .await;
                    for _ in group {
                        report.record(script_error(format!(
                            "not run: part of the incomplete concurrent group of operation {header}"
                        ))).await;
                    }
                    continue;
                }
                // The group's own outcome is observed before the group starts, like any operation's
                // before the next one; its members' outcomes follow once all of them have finished.
                report.record(Outcome::Done).await;
                let outcomes =
                    join_all(group.into_iter().map(|op| perform_shared(&slots, op))).await;
                for outcome in outcomes {
                    report.record(outcome).await;
                }
            }
            operation => {
                let outcome = perform(&mut slots, operation).await;
                report.record(outcome).await;
            }
        }
    }
    // The remaining handles are dropped here, which closes them: a script needs no trailing `close`.
    report.outcomes
}

/// The component's export: one `run` per script, no state kept between calls.
#[cfg(not(feature = "http"))]
struct Driver;

#[cfg(not(feature = "http"))]
impl bindings::Guest for Driver {
    async fn run(script: Vec<Operation>) -> Vec<Outcome> {
        run(script, &mut async |index, outcome: &Outcome| {
            bindings::kvconf::driver::observer::observe(index, outcome)
        })
        .await
    }
}

#[cfg(not(feature = "http"))]
bindings::export!(Driver with_types_in bindings);

/// The outcomes so far, each observed as it is recorded.
struct Report<'o, O> {
    outcomes: Vec<Outcome>,
    observe: &'o mut O,
}

impl<'o, O: AsyncFnMut(u32, &Outcome)> Report<'o, O> {
    fn new(capacity: usize, observe: &'o mut O) -> Self {
        Self {
            outcomes: Vec::with_capacity(capacity),
            observe,
        }
    }

    /// The script index of the next outcome.
    fn index(&self) -> u32 {
        // A script is a list passed through the canonical ABI, so its length fits a u32.
        u32::try_from(self.outcomes.len()).unwrap_or(u32::MAX)
    }

    /// Observes `outcome` at the next index and keeps it.
    async fn record(&mut self, outcome: Outcome) {
        let index = self.index();
        (self.observe)(index, &outcome).await;
        self.outcomes.push(outcome);
    }
}

/// Performs one operation outside a concurrent group and says what the host answered.
///
/// A script that names an empty slot, opens into an occupied one, or asks for an operation v3 lacks gets a
/// `script-error` and the host is not called: that is a fault of the script, and reporting it as a host result
/// would blame the host.
async fn perform(slots: &mut Slots<Store>, operation: Operation) -> Outcome {
    match operation {
        Operation::Open(op) => {
            if let Err(refusal) = slots.vacant(op.slot) {
                return refusal;
            }
            match Store::open(op.label).await {
                Ok(store) => slots.insert(op.slot, store),
                Err(error) => failed(error),
            }
        }
        // v3 has no `close`: dropping the resource is how a guest closes a store.
        Operation::Close(slot) => slots.close(slot),
        operation => perform_shared(slots, operation).await,
    }
}

/// Performs one operation that leaves the slots as they are, so that several can share them at once.
///
/// `open` and `close` change the slots, and a concurrent group nested in another has no meaning, so inside a
/// group all three are script errors: `perform` handles the first two outside groups, and `run` the last.
async fn perform_shared(slots: &Slots<Store>, operation: Operation) -> Outcome {
    let store = |slot, operation| slots.get(slot, operation);
    match operation {
        Operation::Get(op) => match store(op.slot, "get") {
            Ok(store) => store.get(op.key).await.map_or_else(failed, Outcome::Value),
            Err(refusal) => refusal,
        },
        Operation::Set(op) => match store(op.slot, "set") {
            Ok(store) => done_or_failed(store.set(op.key, op.value).await),
            Err(refusal) => refusal,
        },
        Operation::Delete(op) => match store(op.slot, "delete") {
            Ok(store) => done_or_failed(store.delete(op.key).await),
            Err(refusal) => refusal,
        },
        Operation::Exists(op) => match store(op.slot, "exists") {
            Ok(store) => store
                .exists(op.key)
                .await
                .map_or_else(failed, Outcome::Exists),
            Err(refusal) => refusal,
        },
        Operation::GetKeys(slot) => match store(slot, "get-keys") {
            Ok(store) => all_keys(store).await,
            Err(refusal) => refusal,
        },
        Operation::GetKeysPartial(op) => match store(op.slot, "get-keys-partial") {
            Ok(store) => some_keys(store, op.take).await,
            Err(refusal) => refusal,
        },
        Operation::Open(_) | Operation::Close(_) | Operation::Concurrently(_) => {
            script_error(format!(
                "{} inside a concurrently group; the v3 driver runs it only outside groups",
                operation.name()
            ))
        }
        other => not_in(&other, "spin:key-value/key-value@3.0.0", "v3"),
    }
}

/// `get-keys`: every key on the stream until the host ends it, then what the future says about the listing.
/// The keys count only if the future says `ok`: a listing that ended with an error may be incomplete.
async fn all_keys(store: &Store) -> Outcome {
    let (mut stream, future) = store.get_keys().await;
    let mut keys = Vec::new();
    while read_some(&mut stream, &mut keys, KEYS_PER_READ).await {}
    drop(stream);
    match future.await {
        Ok(()) => Outcome::Keys(keys),
        Err(error) => failed(error),
    }
}

/// `get-keys-partial`: at most `take` keys from the stream, then both the stream and the future are dropped
/// unread, which is how a guest abandons a listing part-way. The future's answer is never known, so the keys
/// read are reported as they are.
async fn some_keys(store: &Store, take: u32) -> Outcome {
    let (mut stream, future) = store.get_keys().await;
    let take = take as usize;
    let mut keys = Vec::new();
    while let Some(wanted) = take.checked_sub(keys.len()).filter(|&wanted| wanted > 0) {
        if !read_some(&mut stream, &mut keys, wanted).await {
            break;
        }
    }
    drop(stream);
    drop(future);
    Outcome::Keys(keys)
}

/// Reads at most `at_most` keys from `stream` onto the end of `keys`; false once the host has ended the
/// stream (no keys were read then).
async fn read_some(
    stream: &mut StreamReader<String>,
    keys: &mut Vec<String>,
    at_most: usize,
) -> bool {
    // A read fills the spare capacity of the buffer it is given, and `with_capacity` gives exactly the
    // capacity asked for, so this never reads more than `at_most`.
    let buffer = Vec::with_capacity(at_most.min(KEYS_PER_READ));
    let (result, read) = stream.read(buffer).await;
    keys.extend(read);
    match result {
        StreamResult::Complete(_) => true,
        // `Cancelled` only follows a cancellation this driver never makes; ending there is the safe answer.
        StreamResult::Dropped | StreamResult::Cancelled => false,
    }
}

kvconf_driver_common::host_error!(Error { StoreTableFull, NoSuchStore, AccessDenied, Other(text) });
