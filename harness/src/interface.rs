//! The key-value interface versions kvconf knows, and which of them it can run today.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One version of the Spin key-value interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interface {
    /// `fermyon:spin` key-value (unversioned): u32 handles, `close`, `invalid-store`.
    V1,
    /// `fermyon:spin/key-value@2.0.0`: a `store` resource.
    V2,
    /// `spin:key-value/key-value@3.0.0`: the v2 resource with every function async.
    V3,
    /// `wasi:keyvalue@0.2.0-draft2`: store, atomics and batch.
    WasiKeyvalue,
    /// `wasi:keyvalue@0.2.0-draft`, the older edition wasmtime's `wasmtime-wasi-keyvalue` implements: store,
    /// atomics and batch with a `u64` cursor, `increment` by a `u64`, and no compare-and-swap.
    WasiKeyvalueDraft,
}

impl Interface {
    /// Every version the statement catalogue speaks of.
    pub const ALL: [Interface; 5] = [
        Interface::V1,
        Interface::V2,
        Interface::V3,
        Interface::WasiKeyvalue,
        Interface::WasiKeyvalueDraft,
    ];

    /// The versions this build of kvconf has a driver fixture for, and so can check.
    pub const RUNNABLE: [Interface; 5] = Interface::ALL;

    /// The short name used in trial names, case files and reports (`v2`, `wasi-keyvalue`).
    pub fn name(self) -> &'static str {
        match self {
            Interface::V1 => "v1",
            Interface::V2 => "v2",
            Interface::V3 => "v3",
            Interface::WasiKeyvalue => "wasi-keyvalue",
            Interface::WasiKeyvalueDraft => "wasi-keyvalue-draft",
        }
    }

    /// The WIT name of the interface the host must provide.
    pub fn wit_name(self) -> &'static str {
        match self {
            Interface::V1 => "fermyon:spin/key-value",
            Interface::V2 => "fermyon:spin/key-value@2.0.0",
            Interface::V3 => "spin:key-value/key-value@3.0.0",
            Interface::WasiKeyvalue => "wasi:keyvalue@0.2.0-draft2",
            Interface::WasiKeyvalueDraft => "wasi:keyvalue@0.2.0-draft",
        }
    }

    /// Whether this is an edition of wasi:keyvalue (either), whose error variant has no `store-table-full`.
    pub fn is_wasi(self) -> bool {
        matches!(self, Interface::WasiKeyvalue | Interface::WasiKeyvalueDraft)
    }

    /// Parses a short name as [`Interface::name`] gives it.
    pub fn from_name(name: &str) -> Option<Interface> {
        Interface::ALL.into_iter().find(|i| i.name() == name)
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
