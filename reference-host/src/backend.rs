//! The two traits every backend implements, and the error they report.
//!
//! This is the seam between the interface versions and the storage: the dispatcher ([`crate::app::KeyValueState`])
//! implements each interface version against [`StoreManager`] and [`Store`] alone, so a new backend is a new
//! implementation of these two traits and a new interface version is a new dispatcher module, never both at once.
//! The shape follows Spin's `crates/factor-key-value` (`StoreManager` resolves a label, `Store` serves one
//! labelled store); unlike Spin's, the traits are synchronous, which is all the v2 interface needs.

use std::sync::Arc;

/// Errors a backend or the dispatcher reports; they map 1:1 onto the WIT `error` variant of
/// `fermyon:spin/key-value@2.0.0`.
///
/// These are the errors a guest sees. A fault of the host itself (a handle the host lost track of, a bug) is a
/// trap (`wasmtime::Error`) and never one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The instance has as many stores open as the host allows ([OPEN-TABLE-FULL]).
    #[error(
        "too many stores are open in this instance; drop (close) a store handle before opening another, \
         or raise the host's max_open_stores"
    )]
    StoreTableFull,
    /// No store is defined for the label.
    #[error(
        "no store is defined for this label; define it under [key_value_store.<label>] in the runtime config"
    )]
    NoSuchStore,
    /// The component was not granted the label ([OPEN-GRANT]).
    #[error(
        "this component was not granted access to the store; add its label to the component's key_value_stores"
    )]
    AccessDenied,
    /// Any other failure, described by the host: a backend failure (with the backend's own message) or a refusal
    /// past one of the host's limits.
    #[error("{0}")]
    Other(String),
}

/// Resolves a store label to the store that serves it, like Spin's `StoreManager`.
///
/// A manager may serve every label it is asked for (each backend does: the label selects the data within it) or
/// only some (the application's delegating manager serves exactly the labels the runtime config defines).
/// Implementations must be object safe and shareable between instances.
pub trait StoreManager: Send + Sync {
    /// The store for `label`. Calling this twice for one label gives two views onto the same data.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchStore`] when this manager serves no store for `label`; [`Error::Other`] when the backend
    /// fails to open it.
    fn get(&self, label: &str) -> Result<Arc<dyn Store>, Error>;

    /// Whether this manager serves a store for `label`.
    fn is_defined(&self, label: &str) -> bool;
}

/// One labelled store, like Spin's `Store`: the operations the interface versions share.
///
/// Keys are exact strings (no case folding, no Unicode normalisation); values are exact bytes, and the empty value
/// is a value. Every operation is atomic with respect to the others on the same store.
pub trait Store: Send + Sync {
    /// The value stored under `key`, or `None` if there is none.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;

    /// Stores `value` under `key`, replacing any value there entirely.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails or refuses (a limit); the store is then unchanged.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error>;

    /// Removes `key` and its value; removing an absent key succeeds.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails.
    fn delete(&self, key: &str) -> Result<(), Error>;

    /// Whether a value is stored under `key`.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails.
    fn exists(&self, key: &str) -> Result<bool, Error>;

    /// Every key in the store, once each, in no particular order.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails.
    fn get_keys(&self) -> Result<Vec<String>, Error>;
}
