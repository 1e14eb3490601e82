//! What every kvconf driver shares: the script types, the loop that runs a script, the slots that hold a
//! script's stores, and the `script-error`s a driver answers without calling the host.
//!
//! A driver (`guest-fixtures/driver-<name>`) is then its interface's calls: it maps each operation its version has
//! to the interface's functions and the interface's error type to [`KvError`] ([`HostError`], usually through
//! [`host_error!`]), and answers [`not_in`] for the others. A version whose store is a resource hands the calls
//! every such version makes alike to [`Slots::perform`] ([`StoreCalls`]) and performs only the rest itself. The
//! types come from the `script` world of `wit/driver.wit`; a driver's own bindings take them from here
//! (wit-bindgen's `with` for `kvconf:driver/types`), so that every driver lowers and lifts the one definition.
//!
//! Two rules keep a driver's report faithful, and the helpers here keep them:
//! - Every host answer maps to one outcome with nothing lost: the same error variant, the same text, the keys in
//!   the order the host gave them (the harness compares listings as sets).
//! - Each outcome is passed to the observer before the next operation starts ([`run`]), so that if the host traps
//!   part-way through a script the harness still knows what happened before the trap.

use std::collections::BTreeMap;

/// The generated script types, with serde's derives for the HTTP drivers' JSON protocol (wit/http-driver.wit).
/// Their docs are the WIT's, which does not document every field and case.
#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "kvconf:driver/script",
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

/// The `kvconf:driver/types` interface: what a driver's bindings name in their `with`.
pub use bindings::kvconf::driver::types;
pub use types::{KeyPage, KvError, Operation, Outcome};

/// How many pages a paged listing ([`all_pages`]) reads before it gives up on a host that keeps returning
/// cursors. Far more than any case needs (the largest listing the suite makes has a few thousand keys), and few
/// enough to end in seconds.
pub const MAX_PAGES: u32 = 100_000;

/// An interface's error type, as the suite's error type: the same variant, and the same text where it has one.
pub trait HostError {
    /// The [`KvError`] this error is.
    fn into_kv_error(self) -> KvError;
}

/// Implements [`HostError`] for an interface's error type (`$error`) whose cases are [`KvError`]'s of the same
/// names, listed as they are declared: each becomes the suite's case of its name, and a case with text
/// (`Other(text)`) keeps it. The generated `match` is exhaustive, so an interface whose error gains a case does not
/// build until the case is listed, and a listed case [`KvError`] lacks does not build either.
#[macro_export]
macro_rules! host_error {
    ($error:ty { $($case:ident $(($text:ident))?),+ $(,)? }) => {
        impl $crate::HostError for $error {
            fn into_kv_error(self) -> $crate::KvError {
                match self {
                    $(Self::$case $(($text))? => $crate::KvError::$case $(($text))?,)+
                }
            }
        }
    };
}

/// The host's error as an outcome.
pub fn failed<E: HostError>(error: E) -> Outcome {
    Outcome::Failed(error.into_kv_error())
}

/// `done` for an operation with no result, or the host's error.
pub fn done_or_failed<E: HostError>(result: Result<(), E>) -> Outcome {
    result.map_or_else(failed, |()| Outcome::Done)
}

/// Runs a script with `perform`, passing each outcome to `observe` before the next operation starts, and returns
/// them all.
pub fn run(
    script: Vec<Operation>,
    mut perform: impl FnMut(Operation) -> Outcome,
    observe: &mut dyn FnMut(u32, &Outcome),
) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(script.len());
    for (index, operation) in (0u32..).zip(script) {
        let outcome = perform(operation);
        observe(index, &outcome);
        outcomes.push(outcome);
    }
    outcomes
}

/// The handles a script holds, by slot number: what `open` put there, until `close` (or the script's end)
/// drops it.
///
/// A `BTreeMap` rather than a `HashMap`: a hash map's random seed would make the component import `wasi:random`
/// for nothing, and the slot numbers a script uses are few and small.
pub struct Slots<H> {
    held: BTreeMap<u32, H>,
    /// What the interface calls an open store ("store", "bucket"), for the script errors.
    noun: &'static str,
}

impl<H> Slots<H> {
    /// No slot holds anything yet; `noun` is what the interface calls what a slot holds.
    pub const fn new(noun: &'static str) -> Self {
        Self {
            held: BTreeMap::new(),
            noun,
        }
    }

    /// A `script-error` if `slot` holds a handle: `open` does not replace one the script could lose track of.
    pub fn vacant(&self, slot: u32) -> Result<(), Outcome> {
        if self.held.contains_key(&slot) {
            return Err(script_error(format!(
                "open into slot {slot} which already holds a {}; close it first",
                self.noun
            )));
        }
        Ok(())
    }

    /// `open`: into an empty slot only (else a `script-error`, and `open` is not called), the handle `open`
    /// gives kept in `slot`.
    pub fn open<E: HostError>(
        &mut self,
        slot: u32,
        open: impl FnOnce() -> Result<H, E>,
    ) -> Outcome {
        if let Err(refusal) = self.vacant(slot) {
            return refusal;
        }
        match open() {
            Ok(handle) => self.insert(slot, handle),
            Err(error) => failed(error),
        }
    }

    /// Keeps a handle the host has just given in `slot` (which [`Slots::vacant`] found empty).
    pub fn insert(&mut self, slot: u32, handle: H) -> Outcome {
        self.held.insert(slot, handle);
        Outcome::Opened
    }

    /// The handle in `slot`, or the `script-error` for an empty slot.
    pub fn get(&self, slot: u32, operation: &str) -> Result<&H, Outcome> {
        self.held
            .get(&slot)
            .ok_or_else(|| empty_slot(slot, operation, self.noun))
    }

    /// Calls `call` with the handle in `slot`, or reports the empty slot without calling the host.
    pub fn with(&self, slot: u32, operation: &str, call: impl FnOnce(&H) -> Outcome) -> Outcome {
        self.get(slot, operation)
            .map_or_else(|refusal| refusal, call)
    }

    /// `close` for a version without a `close` function: dropping the resource is how a guest closes it.
    pub fn close(&mut self, slot: u32) -> Outcome {
        match self.held.remove(&slot) {
            Some(handle) => {
                drop(handle);
                Outcome::Done
            }
            None => empty_slot(slot, "close", self.noun),
        }
    }
}

/// A call on an open store (`H`) with a key, answering `T` or the interface's error.
type KeyCall<H, T, E> = fn(&H, &str) -> Result<T, E>;

/// wasi:keyvalue's `set-many` on an open store (`H`).
type SetMany<H, E> = fn(&H, &[(String, Vec<u8>)]) -> Result<(), E>;

/// The calls of a version whose store is a resource (`H`) with `get`, `set`, `delete` and `exists` methods,
/// closed by dropping it: v2 and both wasi:keyvalue editions, whose generated methods have these very signatures.
/// Given as those methods ([`StoreCalls::new`]), and for the wasi:keyvalue editions their `set-many` and
/// `delete-many` ([`StoreCalls::with_batch`]), so that [`Slots::perform`] performs these operations the one way
/// for each such driver.
pub struct StoreCalls<H, E> {
    get: KeyCall<H, Option<Vec<u8>>, E>,
    set: fn(&H, &str, &[u8]) -> Result<(), E>,
    delete: KeyCall<H, (), E>,
    exists: KeyCall<H, bool, E>,
    batch: Option<BatchCalls<H, E>>,
}

/// wasi:keyvalue's `set-many` and `delete-many`, the same in both editions.
struct BatchCalls<H, E> {
    set_many: SetMany<H, E>,
    delete_many: fn(&H, &[String]) -> Result<(), E>,
}

impl<H, E: HostError> StoreCalls<H, E> {
    /// The interface's `get`, `set`, `delete` and `exists`, in that order (their types tell them apart).
    pub const fn new(
        get: KeyCall<H, Option<Vec<u8>>, E>,
        set: fn(&H, &str, &[u8]) -> Result<(), E>,
        delete: KeyCall<H, (), E>,
        exists: KeyCall<H, bool, E>,
    ) -> Self {
        Self {
            get,
            set,
            delete,
            exists,
            batch: None,
        }
    }

    /// The same calls and the interface's `set-many` and `delete-many`.
    pub const fn with_batch(
        self,
        set_many: SetMany<H, E>,
        delete_many: fn(&H, &[String]) -> Result<(), E>,
    ) -> Self {
        Self {
            batch: Some(BatchCalls {
                set_many,
                delete_many,
            }),
            ..self
        }
    }
}

impl<H> Slots<H> {
    /// Performs `get`, `set`, `delete`, `exists` and `close` with `calls` (`close` drops the store), and
    /// `set-many` and `delete-many` where `calls` has them; any other operation is given back, for the driver's
    /// own calls or [`not_in`].
    pub fn perform<E: HostError>(
        &mut self,
        calls: &StoreCalls<H, E>,
        operation: Operation,
    ) -> Result<Outcome, Operation> {
        Ok(match operation {
            Operation::Get(op) => self.with(op.slot, "get", |store| {
                (calls.get)(store, &op.key).map_or_else(failed, Outcome::Value)
            }),
            Operation::Set(op) => self.with(op.slot, "set", |store| {
                done_or_failed((calls.set)(store, &op.key, &op.value))
            }),
            Operation::Delete(op) => self.with(op.slot, "delete", |store| {
                done_or_failed((calls.delete)(store, &op.key))
            }),
            Operation::Exists(op) => self.with(op.slot, "exists", |store| {
                (calls.exists)(store, &op.key).map_or_else(failed, Outcome::Exists)
            }),
            Operation::Close(slot) => self.close(slot),
            Operation::SetMany(op) if let Some(batch) = &calls.batch => {
                self.with(op.slot, "set-many", |store| {
                    done_or_failed((batch.set_many)(store, &op.entries))
                })
            }
            Operation::DeleteMany(op) if let Some(batch) = &calls.batch => {
                self.with(op.slot, "delete-many", |store| {
                    done_or_failed((batch.delete_many)(store, &op.keys))
                })
            }
            other => return Err(other),
        })
    }
}

/// Every key of a paged listing: `page` from no cursor, following each cursor the host returns until it returns
/// none, the pages' keys concatenated in the order the host gave them; a `script-error` after [`MAX_PAGES`].
pub fn all_pages<C, E: HostError>(
    mut page: impl FnMut(Option<&C>) -> Result<(Vec<String>, Option<C>), E>,
) -> Outcome {
    let mut keys = Vec::new();
    let mut cursor: Option<C> = None;
    for _ in 0..MAX_PAGES {
        match page(cursor.as_ref()) {
            Ok((page_keys, next)) => {
                keys.extend(page_keys);
                match next {
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

impl Operation {
    /// The operation's name in the script protocol (`wit/driver.wit`).
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Open(_) => "open",
            Operation::Get(_) => "get",
            Operation::Set(_) => "set",
            Operation::Delete(_) => "delete",
            Operation::Exists(_) => "exists",
            Operation::GetKeys(_) => "get-keys",
            Operation::Close(_) => "close",
            Operation::ForgeHandle(_) => "forge-handle",
            Operation::GetKeysPartial(_) => "get-keys-partial",
            Operation::Concurrently(_) => "concurrently",
            Operation::ListKeys(_) => "list-keys",
            Operation::Increment(_) => "increment",
            Operation::CasNew(_) => "cas-new",
            Operation::CasCurrent(_) => "cas-current",
            Operation::CasSwap(_) => "cas-swap",
            Operation::GetMany(_) => "get-many",
            Operation::SetMany(_) => "set-many",
            Operation::DeleteMany(_) => "delete-many",
        }
    }
}

/// The script asked for an operation the driver's interface (`interface`, the `driver` driver) does not have:
/// the protocol is shared by every version, and nothing is sent to the host.
pub fn not_in(operation: &Operation, interface: &str, driver: &str) -> Outcome {
    script_error(format!(
        "{} is not an operation of {interface}; the {driver} driver does not perform it",
        operation.name()
    ))
}

/// The script named a slot that holds no `noun`.
pub fn empty_slot(slot: u32, operation: &str, noun: &str) -> Outcome {
    script_error(format!(
        "{operation} on slot {slot}, which holds no {noun}; open one there first"
    ))
}

/// An operation the driver refused to attempt: a fault of the script, never a result of the host.
pub fn script_error(message: String) -> Outcome {
    Outcome::ScriptError(message)
}

/// Exports a synchronous driver's `run` from its bindings (`$bindings`, generated for its `driver-<name>` world
/// with `with` naming [`types`]): each script is run by `$run`, each outcome observed through the world's
/// `observer` import as it happens.
#[macro_export]
macro_rules! export_driver {
    ($bindings:ident, $run:path) => {
        /// The component's export: one `run` per script, no state kept between calls.
        struct Driver;

        impl $bindings::Guest for Driver {
            fn run(script: Vec<$crate::Operation>) -> Vec<$crate::Outcome> {
                $run(script, &mut |index, outcome| {
                    $bindings::kvconf::driver::observer::observe(index, outcome)
                })
            }
        }

        $bindings::export!(Driver with_types_in $bindings);
    };
}

/// A driver's bindings, `mod bindings` in the crate that invokes it: for its in-process world (`$world`, the
/// script types taken from [`types`] through wit-bindgen's `with`) or, with the crate's `http` feature, for its
/// HTTP world (`$http_world`: the key-value import, and for v3 the `wasi:http` 0.3 export that `http/p3.rs`
/// implements; the other versions' HTTP export comes from the `wasi` crate). The worlds' other interfaces come
/// from the project's own `wit/` directory, for which no other crate provides bindings.
#[macro_export]
macro_rules! bindings {
    ($world:literal, $http_world:literal) => {
        /// The generated bindings, kept private: nothing here is an API for anyone else.
        #[cfg(not(feature = "http"))]
        mod bindings {
            wit_bindgen::generate!({
                path: "../../wit",
                world: $world,
                with: { "kvconf:driver/types@0.1.0": kvconf_driver_common::types },
                generate_all,
            });
        }

        /// The generated bindings of the HTTP form, kept private.
        #[cfg(feature = "http")]
        mod bindings {
            wit_bindgen::generate!({
                path: "../../wit",
                world: $http_world,
                generate_all,
            });
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// An interface error for the tests: every case keeps its text.
    struct TestError(&'static str);

    impl HostError for TestError {
        fn into_kv_error(self) -> KvError {
            KvError::Other(self.0.into())
        }
    }

    fn get(slot: u32) -> Operation {
        Operation::Get(types::KeyOp {
            slot,
            key: "k".into(),
        })
    }

    #[test]
    fn each_outcome_is_observed_before_the_next_operation_starts() {
        let log = RefCell::new(Vec::new());
        let outcomes = run(
            vec![get(0), Operation::Close(1), get(2)],
            |operation| {
                log.borrow_mut()
                    .push(format!("perform {}", operation.name()));
                Outcome::Exists(true)
            },
            &mut |index, outcome| {
                log.borrow_mut()
                    .push(format!("observe {index} {outcome:?}"));
            },
        );
        assert_eq!(outcomes.len(), 3);
        assert_eq!(
            log.into_inner(),
            [
                "perform get",
                "observe 0 Outcome::Exists(true)",
                "perform close",
                "observe 1 Outcome::Exists(true)",
                "perform get",
                "observe 2 Outcome::Exists(true)",
            ]
        );
    }

    #[test]
    fn slots_refuse_what_the_script_gets_wrong_without_calling_the_host() {
        let mut slots = Slots::new("bucket");
        let opened = slots.open(0, || Ok::<_, TestError>("first"));
        assert!(matches!(opened, Outcome::Opened));
        let called = RefCell::new(false);
        let again = slots.open(0, || {
            *called.borrow_mut() = true;
            Ok::<_, TestError>("second")
        });
        assert!(
            !called.into_inner(),
            "open into an occupied slot must not call the host"
        );
        assert!(
            matches!(&again, Outcome::ScriptError(m) if m == "open into slot 0 which already holds a bucket; close it first"),
            "{again:?}"
        );
        assert!(
            matches!(slots.with(0, "get", |h| Outcome::Value(Some(h.as_bytes().to_vec()))), Outcome::Value(Some(v)) if v == b"first")
        );
        let empty = slots.with(3, "get", |_| Outcome::Done);
        assert!(
            matches!(&empty, Outcome::ScriptError(m) if m == "get on slot 3, which holds no bucket; open one there first"),
            "{empty:?}"
        );
        assert!(matches!(slots.close(0), Outcome::Done));
        assert!(matches!(slots.close(0), Outcome::ScriptError(_)));
        let refused = slots.open(1, || Err::<&str, _>(TestError("denied")));
        assert!(
            matches!(&refused, Outcome::Failed(KvError::Other(m)) if m == "denied"),
            "{refused:?}"
        );
        assert!(
            slots.vacant(1).is_ok(),
            "a refused open leaves the slot empty"
        );
    }

    #[test]
    fn a_paged_listing_follows_every_cursor_and_gives_up_on_a_host_that_never_stops() {
        let pages = [vec!["a", "b"], vec!["c"], vec![]];
        let listed = all_pages(|cursor: Option<&usize>| {
            let page = cursor.copied().unwrap_or(0);
            let keys = pages[page].iter().map(|k| k.to_string()).collect();
            Ok::<_, TestError>((keys, (page + 1 < pages.len()).then_some(page + 1)))
        });
        assert!(
            matches!(&listed, Outcome::Keys(keys) if keys == &["a", "b", "c"]),
            "{listed:?}"
        );
        let failed =
            all_pages(|_: Option<&u32>| Err::<(Vec<String>, Option<u32>), _>(TestError("io")));
        assert!(
            matches!(&failed, Outcome::Failed(KvError::Other(m)) if m == "io"),
            "{failed:?}"
        );
        let endless =
            all_pages(|_: Option<&u32>| Ok::<_, TestError>((vec!["k".to_string()], Some(0))));
        assert!(
            matches!(&endless, Outcome::ScriptError(m) if m.starts_with("get-keys gave up after 100000 pages") && m.contains("(100000 keys so far)")),
            "{endless:?}"
        );
    }

    /// An interface error with a case of each kind `host_error!` maps: without text, with text.
    enum SpinLikeError {
        NoSuchStore,
        AccessDenied,
        Io(String),
    }

    crate::host_error!(SpinLikeError { NoSuchStore, AccessDenied, Io(text) });

    #[test]
    fn host_error_maps_each_case_to_the_case_of_its_name_with_its_text() {
        assert!(matches!(
            SpinLikeError::NoSuchStore.into_kv_error(),
            KvError::NoSuchStore
        ));
        assert!(matches!(
            SpinLikeError::AccessDenied.into_kv_error(),
            KvError::AccessDenied
        ));
        assert!(matches!(
            SpinLikeError::Io("disk".into()).into_kv_error(),
            KvError::Io(text) if text == "disk"
        ));
    }

    /// A store for `StoreCalls`: one key, `k`, whose value `set` replaces and `delete` removes; the key `bad`
    /// fails every call. The log says which calls reached it.
    #[derive(Default)]
    struct TestStore {
        value: RefCell<Option<Vec<u8>>>,
        log: RefCell<Vec<String>>,
    }

    impl TestStore {
        fn call(&self, name: &str, key: &str) -> Result<(), TestError> {
            self.log.borrow_mut().push(format!("{name} {key}"));
            if key == "bad" {
                return Err(TestError("refused"));
            }
            Ok(())
        }
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, TestError> {
            self.call("get", key).map(|()| self.value.borrow().clone())
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), TestError> {
            self.call("set", key)
                .map(|()| *self.value.borrow_mut() = Some(value.to_vec()))
        }
        fn delete(&self, key: &str) -> Result<(), TestError> {
            self.call("delete", key)
                .map(|()| *self.value.borrow_mut() = None)
        }
        fn exists(&self, key: &str) -> Result<bool, TestError> {
            self.call("exists", key)
                .map(|()| self.value.borrow().is_some())
        }
        fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), TestError> {
            self.log
                .borrow_mut()
                .push(format!("set-many {}", entries.len()));
            Ok(())
        }
        fn delete_many(&self, keys: &[String]) -> Result<(), TestError> {
            self.log
                .borrow_mut()
                .push(format!("delete-many {}", keys.len()));
            Ok(())
        }
    }

    fn key_op(name: &str, slot: u32, key: &str) -> Operation {
        let op = types::KeyOp {
            slot,
            key: key.into(),
        };
        match name {
            "get" => Operation::Get(op),
            "delete" => Operation::Delete(op),
            _ => Operation::Exists(op),
        }
    }

    #[test]
    fn slots_perform_the_shared_calls_and_give_back_the_rest() {
        const CALLS: StoreCalls<TestStore, TestError> = StoreCalls::new(
            TestStore::get,
            TestStore::set,
            TestStore::delete,
            TestStore::exists,
        );
        let mut slots = Slots::new("store");
        assert!(matches!(
            slots.insert(0, TestStore::default()),
            Outcome::Opened
        ));
        let set = Operation::Set(types::SetOp {
            slot: 0,
            key: "k".into(),
            value: b"v".to_vec(),
        });
        assert!(matches!(slots.perform(&CALLS, set), Ok(Outcome::Done)));
        assert!(matches!(
            slots.perform(&CALLS, key_op("get", 0, "k")),
            Ok(Outcome::Value(Some(v))) if v == b"v"
        ));
        assert!(matches!(
            slots.perform(&CALLS, key_op("exists", 0, "k")),
            Ok(Outcome::Exists(true))
        ));
        assert!(matches!(
            slots.perform(&CALLS, key_op("delete", 0, "k")),
            Ok(Outcome::Done)
        ));
        assert!(matches!(
            slots.perform(&CALLS, key_op("exists", 0, "bad")),
            Ok(Outcome::Failed(KvError::Other(m))) if m == "refused"
        ));
        assert!(matches!(
            slots.perform(&CALLS, key_op("get", 1, "k")),
            Ok(Outcome::ScriptError(m)) if m == "get on slot 1, which holds no store; open one there first"
        ));
        let batch = Operation::DeleteMany(types::KeysOp {
            slot: 0,
            keys: vec!["k".into()],
        });
        let given_back = slots.perform(&CALLS, batch);
        assert!(
            matches!(&given_back, Err(Operation::DeleteMany(_))),
            "without batch calls, delete-many is the driver's: {given_back:?}"
        );
        let log = slots.get(0, "test").map(|store| store.log.borrow().clone());
        assert_eq!(
            log.ok(),
            Some(
                ["set k", "get k", "exists k", "delete k", "exists bad"]
                    .map(String::from)
                    .to_vec()
            ),
            "an empty slot reaches no store"
        );
        let with_batch = CALLS.with_batch(TestStore::set_many, TestStore::delete_many);
        let set_many = Operation::SetMany(types::SetManyOp {
            slot: 0,
            entries: vec![("k".into(), b"v".to_vec())],
        });
        assert!(matches!(
            slots.perform(&with_batch, set_many),
            Ok(Outcome::Done)
        ));
        let delete_many = Operation::DeleteMany(types::KeysOp {
            slot: 0,
            keys: vec!["k".into(), "j".into()],
        });
        assert!(matches!(
            slots.perform(&with_batch, delete_many),
            Ok(Outcome::Done)
        ));
        let log = slots.get(0, "test").map(|store| store.log.borrow().clone());
        assert_eq!(
            log.ok().as_deref().and_then(|log| log.get(5..)),
            Some(["set-many 1", "delete-many 2"].map(String::from).as_slice()),
            "with batch calls, set-many and delete-many reach the store"
        );
        assert!(matches!(
            slots.perform(&with_batch, Operation::Close(0)),
            Ok(Outcome::Done)
        ));
        assert!(slots.vacant(0).is_ok(), "close empties the slot");
    }

    #[test]
    fn an_operation_a_version_lacks_is_a_script_error_naming_both() {
        let outcome = not_in(
            &Operation::Concurrently(2),
            "fermyon:spin/key-value@2.0.0",
            "v2",
        );
        assert!(
            matches!(&outcome, Outcome::ScriptError(m) if m == "concurrently is not an operation of fermyon:spin/key-value@2.0.0; the v2 driver does not perform it"),
            "{outcome:?}"
        );
    }
}
