//! kvhost: the kvconf reference host, a wasmtime host for the Spin key-value interface.
//!
//! It implements `fermyon:spin/key-value@2.0.0` the way the suite's statement catalogue says a conforming host
//! must (statement IDs such as [OPEN-GRANT] in these docs are those of the kvconf specification), over two
//! backends: SQLite in Spin's file format, and memory. It is a library first, so the suite can load applications
//! in-process, and the `kvhost` binary second.
//!
//! The shape follows Spin's `crates/factor-key-value`:
//! - [`backend`]: two small object-safe traits, [`StoreManager`] (label -> store) and [`Store`] (one store), and
//!   the guest-visible [`Error`].
//! - [`memory`] and [`sqlite`]: the backends; [`limits`]: a [`Store`] wrapper enforcing size and capacity limits.
//! - [`config`]: the runtime config (`[key_value_store.<label>]` tables, Spin's format).
//! - [`app`]: [`Application`], the stores of one loaded application, and [`KeyValueState`], one instance's grants
//!   and open handles: the dispatcher every interface version is implemented against.
//! - [`add_to_linker`]: the v2 interface on a wasmtime `Linker`.
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
pub mod sqlite;
mod state;
mod v2;

pub use app::{Application, DefaultBackend, HostConfig, KeyValueState, LoadError, UndefinedLabels};
pub use backend::{Entry, Error, Store, StoreManager};
pub use config::RuntimeConfig;
pub use limits::Limits;
pub use v2::add_to_linker;
