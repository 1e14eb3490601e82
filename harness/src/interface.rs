//! The key-value interface versions kvconf knows, and what it holds about each as data: one [`InterfaceSpec`] per
//! version in [`SPECS`] (its names, its WIT, its driver components). What a version *does* differently lives where
//! the behaviour is: how its outcomes map in the model ([`crate::model`]), which operations the generator draws
//! ([`crate::fuzz`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::{self, Write as _};

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

    /// What kvconf holds about this version.
    pub fn spec(self) -> &'static InterfaceSpec {
        &SPECS[self as usize]
    }

    /// The short name used in trial names, case files and reports (`v2`, `wasi-keyvalue`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The WIT name of the interface the host must provide.
    pub fn wit_name(self) -> &'static str {
        self.spec().wit_name
    }

    /// Whether this is an edition of wasi:keyvalue (either), whose error variant has no `store-table-full`.
    pub fn is_wasi(self) -> bool {
        self.spec().shape == WitShape::Wasi
    }

    /// The SHA-256 (hex) of this version's WIT: of a manifest with one line `<sha256 of the file>  <file>` per file
    /// of its package directory, sorted by name, as `cd wit/deps/<dir> && sha256sum * | sha256sum` prints it.
    pub fn wit_sha256(self) -> String {
        let mut files: Vec<WitFile> = self.spec().wit_files.to_vec();
        files.sort_by_key(|(name, _)| *name);
        let mut manifest = String::new();
        for (name, text) in files {
            let _ = writeln!(
                manifest,
                "{}  {name}",
                hex(&Sha256::digest(text.as_bytes()))
            );
        }
        hex(&Sha256::digest(manifest.as_bytes()))
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A prebuilt driver component, committed under `guest-fixtures/prebuilt/` (inside the crate: `prebuilt/`).
#[derive(Clone, Copy, Debug)]
pub struct Fixture {
    /// The interface version it drives.
    pub interface: Interface,
    /// Its file name without `.wasm`.
    pub name: &'static str,
    /// The component.
    pub bytes: &'static [u8],
}

/// One WIT file of a version's package: its name in the package's directory and its text.
pub type WitFile = (&'static str, &'static str);

/// What kvconf holds about one interface version as data.
#[derive(Debug)]
pub struct InterfaceSpec {
    /// The version.
    pub interface: Interface,
    /// The short name used in trial names, case files, reports and on the command line.
    pub name: &'static str,
    /// The WIT name of the interface the host must provide.
    pub wit_name: &'static str,
    /// The directory under `wit/deps/` that holds its package.
    pub wit_dir: &'static str,
    /// The files of its package there, byte for byte (`include_str!`): the canonical WIT `kvconf check` compares
    /// with ([`crate::check::canonical`]).
    pub wit_files: &'static [WitFile],
    /// The driver component run in-process ([`crate::driver`]).
    pub driver: Fixture,
    /// The same driver as a Spin HTTP component, for the out-of-process route ([`crate::adapter`]).
    pub http_driver: Fixture,
    /// How its WIT is laid out, which says how kvconf's operations and errors are named in it.
    pub shape: WitShape,
    /// Whether its functions are synchronous or async (the component model's concurrency).
    pub calls: Calls,
}

/// Whether a version's functions are synchronous or async, which says how its driver is run ([`crate::driver`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calls {
    /// Every function returns when it is done (v1, v2, both wasi editions): the driver runs in an engine
    /// without the component model's concurrency, whose host calls skip its task bookkeeping.
    Sync,
    /// Functions are `async` or return streams and futures (v3): the driver runs with the component model's
    /// concurrency, through `run_concurrent`.
    Async,
}

/// How a version's WIT is laid out: which functions kvconf's operations call and what its error cases are named,
/// as the coverage check ([`crate::coverage`]) names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WitShape {
    /// Spin's first interface (v1): freestanding functions of `key-value` over handle numbers, `close` among
    /// them, and `io` for the other errors (`key-value#get`, `key-value#error.io`).
    SpinHandles,
    /// Spin's later interfaces (v2, v3): a `store` resource of `key-value`, closed by dropping it
    /// (`key-value#store.get`, `key-value#error.other`).
    SpinStore,
    /// wasi:keyvalue (either edition): `store`'s `bucket` resource, closed by dropping it, `atomics` and `batch`
    /// (`store#bucket.get`, `atomics#increment`, `store#error.other`, `atomics#cas-error.cas-failed`).
    Wasi,
}

macro_rules! spec {
    (
        $interface:ident, $name:literal, $wit_name:literal, $shape:ident, $calls:ident,
        $dir:literal: [$($file:literal),+ $(,)?]
    ) => {
        InterfaceSpec {
            interface: Interface::$interface,
            name: $name,
            wit_name: $wit_name,
            wit_dir: $dir,
            wit_files: &[$(($file, include_str!(concat!("../wit/deps/", $dir, "/", $file)))),+],
            driver: Fixture {
                interface: Interface::$interface,
                name: concat!("driver-", $name),
                bytes: include_bytes!(concat!("../prebuilt/driver-", $name, ".wasm")),
            },
            http_driver: Fixture {
                interface: Interface::$interface,
                name: concat!("http-driver-", $name),
                bytes: include_bytes!(concat!("../prebuilt/http-driver-", $name, ".wasm")),
            },
            shape: WitShape::$shape,
            calls: Calls::$calls,
        }
    };
}

/// Every version's [`InterfaceSpec`], in [`Interface::ALL`]'s order. A new version is one entry here (and its
/// variant of [`Interface`]).
pub const SPECS: [InterfaceSpec; 5] = [
    spec!(V1, "v1", "fermyon:spin/key-value", SpinHandles, Sync, "fermyon-spin-v1": ["key-value.wit"]),
    spec!(V2, "v2", "fermyon:spin/key-value@2.0.0", SpinStore, Sync, "fermyon-spin-v2": ["key-value.wit"]),
    spec!(V3, "v3", "spin:key-value/key-value@3.0.0", SpinStore, Async, "spin-key-value-v3": ["key-value.wit"]),
    spec!(
        WasiKeyvalue, "wasi-keyvalue", "wasi:keyvalue@0.2.0-draft2", Wasi, Sync,
        "wasi-keyvalue-0.2.0-draft2": ["atomics.wit", "batch.wit", "store.wit", "world.wit"]
    ),
    spec!(
        WasiKeyvalueDraft, "wasi-keyvalue-draft", "wasi:keyvalue@0.2.0-draft", Wasi, Sync,
        "wasi-keyvalue-0.2.0-draft": ["atomic.wit", "batch.wit", "store.wit", "watch.wit", "world.wit"]
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_has_its_own_spec_in_order() {
        for (i, interface) in Interface::ALL.into_iter().enumerate() {
            let spec = interface.spec();
            assert_eq!(spec.interface, interface);
            assert_eq!(SPECS[i].interface, interface);
            assert_eq!(spec.driver.interface, interface);
            assert_eq!(spec.http_driver.interface, interface);
            assert_eq!(Interface::from_name(spec.name), Some(interface));
            // The reference host links each version by the WIT name this table gives.
            assert!(kvhost::VERSIONS.contains(&spec.wit_name), "{interface}");
        }
    }
}
