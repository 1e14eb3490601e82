//! kvhost: the kvconf reference host, a wasmtime host for the Spin key-value interface.
//!
//! It implements every version of the interface, `fermyon:spin/key-value` (v1), `fermyon:spin/key-value@2.0.0`
//! (v2), `spin:key-value/key-value@3.0.0` (v3), `wasi:keyvalue@0.2.0-draft2` and the older
//! `wasi:keyvalue@0.2.0-draft`, the way the suite's statement
//! catalogue says a conforming host must (statement IDs such as [OPEN-GRANT] in these docs are those of the
//! kvconf specification), over two backends: SQLite in Spin's file format, and memory. As in Spin, one
//! [`KeyValueState`] per instance serves all versions: the same grants, handle numbers and open bound, and data
//! written through one version is read through the others. It is a library first, so the suite can load
//! applications in-process, and the `kvhost` binary second.
//!
//! The shape follows Spin's `crates/factor-key-value`:
//! - [`backend`]: two small object-safe traits, [`StoreManager`] (label -> store) and [`Store`] (one store), the
//!   guest-visible [`Error`], and [`StoreWrapper`], for a store that wraps another and changes only what it
//!   overrides.
//! - [`memory`] and [`sqlite`]: the backends; [`limits`]: a [`Store`] wrapper enforcing size and capacity limits.
//! - [`config`]: the runtime config (`[key_value_store.<label>]` tables, Spin's format).
//! - [`app`]: [`Application`], the stores of one loaded application, and [`KeyValueState`], one instance's grants
//!   and open handles: the dispatcher every interface version is implemented against.
//! - One module per interface version, each with its `add_to_linker`: [`v1`], [`v2`] (its [`add_to_linker`] also
//!   at the crate root), [`v3`] (async: it needs an engine with component-model-async), [`wasi_keyvalue`] and
//!   [`wasi_keyvalue_draft`]; [`add_version_to_linker`] links one by its WIT name ([`VERSIONS`]), and
//!   [`add_to_linker_all`] all five. Each also makes public what a host function
//!   replacing one of its functions needs (see [`v2`]'s example): the host types of its resources, its WIT
//!   types (`WitError`, ...), and a method of [`KeyValueState`] finding the store behind a handle.
//! - [`serve`]: `kvhost serve`, which runs a Spin HTTP application (`spin.toml`) with these stores, as `spin up`
//!   does, for validating the reference host out of process and for running real Spin key-value apps; its
//!   library API ([`serve::Server`], [`serve::run`]) can serve a [`StoreManager`] of the caller's.
//!
//! # Example
//!
//! Load an application whose component "app" may use "default", then give an instance its state and link the
//! interface:
//!
//! ```
//! use std::collections::BTreeMap;
//! use kvhost::{Application, HostConfig, KeyValueState};
//!
//! struct Host {
//!     key_value: KeyValueState,
//! }
//!
//! let grants = BTreeMap::from([("app".to_owned(), vec!["default".to_owned()])]);
//! // In memory; `HostConfig::sqlite(".spin")` would use `.spin/sqlite_key_value.db` as Spin does.
//! let app = Application::load(HostConfig::memory(), grants)?;
//!
//! let engine = wasmtime::Engine::default();
//! let mut linker = wasmtime::component::Linker::<Host>::new(&engine);
//! kvhost::add_to_linker(&mut linker, |host: &mut Host| &mut host.key_value)?;
//!
//! let mut host = Host { key_value: app.instance_state("app")? };
//! // ... instantiate a component with `linker` in a `wasmtime::Store` holding `host` ...
//! // The same operations a guest reaches, called from the host:
//! let handle = host.key_value.open("default")?;
//! host.key_value.store(handle).unwrap().set("greeting", b"hello")?;
//! assert_eq!(app.store("default")?.get("greeting")?, Some(b"hello".to_vec()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod app;
pub mod backend;
pub mod config;
pub mod limits;
pub mod memory;
pub mod serve;
pub mod sqlite;
mod state;
pub mod v1;
pub mod v2;
pub mod v3;
pub mod wasi_keyvalue;
pub mod wasi_keyvalue_draft;

pub use app::{
    Application, DEFAULT_WASI_PAGE_SIZE, DefaultBackend, HostConfig, KeyValueState, LoadError,
    UndefinedLabels,
};
pub use backend::{Entry, Error, Store, StoreManager, StoreWrapper};
pub use config::RuntimeConfig;
pub use limits::Limits;
pub use serve::{ServeOptions, StoreManagerFactory};
pub use v2::add_to_linker;

use wasmtime::component::Linker;

/// The WIT name of every interface version kvhost implements, as kvconf names them: what
/// [`add_version_to_linker`] takes, and what [`add_to_linker_all`] links, in this order.
pub const VERSIONS: [&str; 5] = [
    "fermyon:spin/key-value",
    "fermyon:spin/key-value@2.0.0",
    "spin:key-value/key-value@3.0.0",
    "wasi:keyvalue@0.2.0-draft2",
    "wasi:keyvalue@0.2.0-draft",
];

/// Adds kvhost's binding of the interface version named `wit_name` (one of [`VERSIONS`]) to `linker`, reaching
/// each instance's [`KeyValueState`] through `get`: what a host that links one version at a time (kvconf's
/// reference host) calls, instead of naming each version's module.
///
/// # Errors
///
/// When kvhost has no version of that name, or the linker already defines one of its interfaces.
pub fn add_version_to_linker<T: Send + 'static>(
    wit_name: &str,
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut KeyValueState,
) -> wasmtime::Result<()> {
    match wit_name {
        "fermyon:spin/key-value" => v1::add_to_linker(linker, get),
        "fermyon:spin/key-value@2.0.0" => v2::add_to_linker(linker, get),
        "spin:key-value/key-value@3.0.0" => v3::add_to_linker(linker, get),
        "wasi:keyvalue@0.2.0-draft2" => wasi_keyvalue::add_to_linker(linker, get),
        "wasi:keyvalue@0.2.0-draft" => wasi_keyvalue_draft::add_to_linker(linker, get),
        other => Err(wasmtime::Error::msg(format!(
            "kvhost implements no key-value interface named {other:?}; it implements {}",
            VERSIONS.join(", ")
        ))),
    }
}

/// Adds every interface version to `linker`: v1, v2, v3 and both editions of wasi:keyvalue (store, atomics and
/// batch at `0.2.0-draft2` and at `0.2.0-draft`), all reaching
/// each instance's one [`KeyValueState`] through `get`. Because v3 is async, the engine must have
/// `Config::wasm_component_model_async(true)` and guests must be called with wasmtime's async entry points when
/// they use v3.
///
/// ```
/// # use wasmtime::component::Linker;
/// struct Host {
///     key_value: kvhost::KeyValueState,
/// }
///
/// let mut config = wasmtime::Config::new();
/// config.wasm_component_model_async(true);
/// let engine = wasmtime::Engine::new(&config)?;
/// let mut linker = Linker::<Host>::new(&engine);
/// kvhost::add_to_linker_all(&mut linker, |host: &mut Host| &mut host.key_value)?;
/// # Ok::<(), wasmtime::Error>(())
/// ```
///
/// # Errors
///
/// When the linker already defines one of the interfaces.
pub fn add_to_linker_all<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut KeyValueState,
) -> wasmtime::Result<()> {
    for wit_name in VERSIONS {
        add_version_to_linker(wit_name, linker, get)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_links_by_its_wit_name_and_an_unknown_name_is_refused() {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model_async(true);
        let engine = wasmtime::Engine::new(&config).unwrap();
        for wit_name in VERSIONS {
            let mut linker = Linker::<KeyValueState>::new(&engine);
            add_version_to_linker(wit_name, &mut linker, |state| state).unwrap();
            // Linked once: a second time is the linker's duplicate-definition error.
            assert!(add_version_to_linker(wit_name, &mut linker, |state| state).is_err());
        }
        let mut linker = Linker::<KeyValueState>::new(&engine);
        let error =
            add_version_to_linker("fermyon:spin/key-value@9.9.9", &mut linker, |state| state)
                .unwrap_err()
                .to_string();
        assert!(
            error.contains("\"fermyon:spin/key-value@9.9.9\""),
            "{error}"
        );
        assert!(error.contains("wasi:keyvalue@0.2.0-draft2"), "{error}");
    }
}
