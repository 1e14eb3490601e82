//! The kvconf driver for `fermyon:spin/key-value@2.0.0`.
//!
//! The suite cannot call a host's key-value interface directly: only a component can. This component is the
//! suite's hands inside the host. It receives a script (a list of operations on numbered slots), performs each
//! operation against the host's v2 interface, and reports what the host answered, exactly and without judging
//! it: deciding whether an answer conforms is the harness's job, so that one driver serves every profile. The
//! script loop, the slots, the script errors and the calls every store-resource version makes alike are the
//! drivers' shared crate's (`kvconf_driver_common`); this crate is v2's other calls.

kvconf_driver_common::bindings!("kvconf:driver/driver-v2", "kvconf:driver/http-driver-v2");

/// The HTTP face: `POST` a script, read one outcome per line (wit/http-driver.wit).
#[cfg(feature = "http")]
#[path = "../../http/p2.rs"]
mod http;

// `spin2_0_0`, not `spin`: wit/ also holds the unversioned v1 package `fermyon:spin`, so wit-bindgen adds the
// version to tell the two modules apart.
use bindings::fermyon::spin2_0_0::key_value::{Error, Store};
use kvconf_driver_common::{Operation, Outcome, Slots, StoreCalls, failed, not_in};

/// v2's calls that every store-resource version makes alike.
const CALLS: StoreCalls<Store, Error> =
    StoreCalls::new(Store::get, Store::set, Store::delete, Store::exists);

/// Runs a script, passing each outcome to `observe` before the next operation starts, and returns them all.
fn run(script: Vec<Operation>, observe: &mut dyn FnMut(u32, &Outcome)) -> Vec<Outcome> {
    let mut slots = Slots::new("store");
    // The remaining handles are dropped with `slots`, which closes them: a script needs no trailing `close`.
    kvconf_driver_common::run(script, |operation| perform(&mut slots, operation), observe)
}

#[cfg(not(feature = "http"))]
kvconf_driver_common::export_driver!(bindings, run);

/// Performs one operation and says what the host answered.
///
/// A script that names an empty slot, opens into an occupied one, or asks for an operation v2 lacks gets a
/// `script-error` and the host is not called: that is a fault of the script, and reporting it as a host result
/// would blame the host. v2 has no `close`: dropping the resource is how a guest closes a store.
fn perform(slots: &mut Slots<Store>, operation: Operation) -> Outcome {
    match operation {
        Operation::Open(op) => slots.open(op.slot, || Store::open(&op.label)),
        Operation::GetKeys(slot) => slots.with(slot, "get-keys", |store| {
            store.get_keys().map_or_else(failed, Outcome::Keys)
        }),
        other => slots
            .perform(&CALLS, other)
            .unwrap_or_else(|other| not_in(&other, "fermyon:spin/key-value@2.0.0", "v2")),
    }
}

kvconf_driver_common::host_error!(Error { StoreTableFull, NoSuchStore, AccessDenied, Other(text) });
