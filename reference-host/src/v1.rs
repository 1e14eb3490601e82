//! `fermyon:spin/key-value` (v1, unversioned): the interface of Spin 1.x components, implemented against
//! [`KeyValueState`].
//!
//! The guest's `store` is the handle number itself. A number this instance does not have open (never opened, or
//! closed) is a guest error here, not a trap: [HANDLE-V1-INVALID] allows either, and kvhost declares
//! `invalid-store`, which is what the v1 interface text promises (Spin traps since its 2.0 redesign). `close` of
//! such a number does nothing ([HANDLE-V1-CLOSE]). Handle numbers are never reused, so a closed number stays
//! invalid for the life of the instance.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::backend::{self, Store};
use crate::state::KeyValueState;

mod bindings {
    // As for v2: the package defines an interface but no world, so a one-line world imports it.
    wasmtime::component::bindgen!({
        inline: "package kvhost:bindings; world v1 { import fermyon:spin/key-value; }",
        path: "../wit/deps/fermyon-spin-v1",
        world: "kvhost:bindings/v1",
    });
}

use bindings::fermyon::spin::key_value::{self as wit, Error as WitError};

/// Adds `fermyon:spin/key-value` (v1) to `linker`, reaching each instance's [`KeyValueState`] through `get`.
///
/// ```
/// # use wasmtime::component::Linker;
/// struct Host {
///     key_value: kvhost::KeyValueState,
/// }
///
/// let engine = wasmtime::Engine::default();
/// let mut linker = Linker::<Host>::new(&engine);
/// kvhost::v1::add_to_linker(&mut linker, |host: &mut Host| &mut host.key_value)?;
/// # Ok::<(), wasmtime::Error>(())
/// ```
///
/// # Errors
///
/// When the linker already defines the interface.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut KeyValueState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<KeyValueState>>(linker, get)
}

impl From<backend::Error> for WitError {
    fn from(error: backend::Error) -> Self {
        match error {
            backend::Error::StoreTableFull => Self::StoreTableFull,
            backend::Error::NoSuchStore => Self::NoSuchStore,
            backend::Error::AccessDenied => Self::AccessDenied,
            // v1 has no `other`; its catch-all is `io`, limit refusals included.
            backend::Error::Other(message) => Self::Io(message),
        }
    }
}

impl KeyValueState {
    /// The store behind a v1 handle, or `invalid-store` when this instance does not have it open.
    fn v1_store(&self, handle: u32) -> Result<Arc<dyn Store>, WitError> {
        self.store(handle).cloned().ok_or(WitError::InvalidStore)
    }
}

impl wit::Host for KeyValueState {
    fn open(&mut self, name: String) -> Result<u32, WitError> {
        Ok(KeyValueState::open(self, &name)?)
    }

    /// [GET-MISSING]: v1 has no `option`, so a missing key is the `no-such-key` error.
    fn get(&mut self, store: u32, key: String) -> Result<Vec<u8>, WitError> {
        self.v1_store(store)?.get(&key)?.ok_or(WitError::NoSuchKey)
    }

    fn set(&mut self, store: u32, key: String, value: Vec<u8>) -> Result<(), WitError> {
        Ok(self.v1_store(store)?.set(&key, &value)?)
    }

    fn delete(&mut self, store: u32, key: String) -> Result<(), WitError> {
        Ok(self.v1_store(store)?.delete(&key)?)
    }

    fn exists(&mut self, store: u32, key: String) -> Result<bool, WitError> {
        Ok(self.v1_store(store)?.exists(&key)?)
    }

    fn get_keys(&mut self, store: u32) -> Result<Vec<String>, WitError> {
        Ok(self.v1_store(store)?.get_keys()?)
    }

    /// [HANDLE-V1-CLOSE]: closing a handle that is not open does nothing.
    fn close(&mut self, store: u32) {
        KeyValueState::close(self, store);
    }
}
