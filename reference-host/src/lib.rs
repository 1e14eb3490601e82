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
//!   [`wasi_keyvalue_draft`]; [`add_to_linker_all`] links all five. Each also makes public what a host function
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
    v1::add_to_linker(linker, get)?;
    v2::add_to_linker(linker, get)?;
    v3::add_to_linker(linker, get)?;
    wasi_keyvalue::add_to_linker(linker, get)?;
    wasi_keyvalue_draft::add_to_linker(linker, get)
}
