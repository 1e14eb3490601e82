//! kvhost's tests: one test binary, one module per area (ripgrep's layout), each test named as the sentence it
//! checks. Statement IDs in brackets are those of the kvconf specification.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Held by the tests that measure time (deadlines, latencies) or load the machine (hundreds of requests at once),
/// so that none of them runs beside another and skews it; the other tests run in parallel as usual.
pub(crate) fn alone() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    ALONE.lock().unwrap_or_else(PoisonError::into_inner)
}

mod app;
mod backends;
mod cli;
mod config;
mod drivers;
mod durability;
mod guest;
mod hostile;
mod limits;
mod load;
mod proxy;
mod rng;
mod scripts;
mod serve;
mod store_ops;
mod v1;
mod v3;
mod wasi;
