//! `fermyon:spin/key-value` (v1, unversioned): the interface of Spin 1.x components, implemented against
//! [`KeyValueState`].
//!
//! The guest's `store` is the handle number itself. A number this instance does not have open (never opened, or
//! closed) is [HANDLE-V1-INVALID], which allows two answers: by default kvhost returns `invalid-store`, what the
//! v1 interface text promises; configured with [`V1InvalidHandle::Trap`] it traps, as Spin does since its 2.0
//! redesign. `close` of such a number does nothing either way ([HANDLE-V1-CLOSE]). By default handle numbers are
//! never reused ([HANDLE-REUSE], as in Spin), so a closed number stays invalid for the life of the instance;
//! configured with [`KeyValueState::with_handle_reuse`], a later `open` may give it again.
//!
//! A backend's failure is the matching v1 error (`io` for [`crate::Error::Other`], v1 having no `other`); its
//! [`crate::Error::Trap`] traps.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::backend::{self, GuestError, Store};
use crate::state::KeyValueState;

// The generated types carry the WIT's own docs, where it has them.
#[allow(missing_docs)]
mod bindings {
    // As for v2: the package defines an interface but no world, so a one-line world imports it.
    wasmtime::component::bindgen!({
        inline: "package kvhost:bindings; world v1 { import fermyon:spin/key-value; }",
        path: "wit/deps/fermyon-spin-v1",
        world: "kvhost:bindings/v1",
        imports: { default: trappable },
        trappable_error_type: {
            "fermyon:spin/key-value.error" => super::V1Error,
        },
    });
}

// Defined with the state that holds it (so that state does not import this module); named here, where it is used.
pub use crate::state::V1InvalidHandle;

/// A v1 failure: the guest-visible error, or a trap.
pub struct V1Error(Result<WitError, wasmtime::Error>);

impl V1Error {
    /// The guest-visible error, or the trap: what a v1 host function answers with.
    ///
    /// # Errors
    ///
    /// The trap.
    pub fn into_wit(self) -> wasmtime::Result<WitError> {
        self.0
    }
}

impl From<WitError> for V1Error {
    fn from(error: WitError) -> Self {
        V1Error(Ok(error))
    }
}

impl From<backend::Error> for V1Error {
    fn from(error: backend::Error) -> Self {
        V1Error(WitError::from_backend(error))
    }
}

use bindings::fermyon::spin::key_value as wit;
/// v1's WIT `error`, which every v1 function but `close` answers with: for a host function replacing one of this
/// binding's (see [`crate::v2`]'s example), with [`KeyValueState::v1_store`].
pub use bindings::fermyon::spin::key_value::Error as WitError;

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

impl GuestError for WitError {
    fn from_backend(error: backend::Error) -> wasmtime::Result<Self> {
        // v1 has no `other`; its catch-all is `io`, limit refusals included.
        error.to_guest(
            Some(Self::StoreTableFull),
            Self::NoSuchStore,
            Self::AccessDenied,
            Self::Io,
        )
    }
}

impl KeyValueState {
    /// The store behind a v1 handle (v1's `store` is the handle number); for a handle this instance does not have
    /// open, `invalid-store` or a trap, as configured ([HANDLE-V1-INVALID]). What every v1 function of kvhost's
    /// finds its store with, public for a host function replacing one of them.
    ///
    /// # Errors
    ///
    /// `invalid-store` or the trap, for a handle that is not open ([`V1Error::into_wit`] tells which).
    pub fn v1_store(&self, handle: u32) -> Result<Arc<dyn Store>, V1Error> {
        match (self.store(handle), self.v1_invalid_handle()) {
            (Some(store), _) => Ok(Arc::clone(store)),
            (None, V1InvalidHandle::Error) => Err(WitError::InvalidStore.into()),
            (None, V1InvalidHandle::Trap) => Err(V1Error(Err(wasmtime::format_err!(
                "key-value store handle {handle} is not open in this instance"
            )))),
        }
    }
}

impl wit::Host for KeyValueState {
    fn convert_error(&mut self, error: V1Error) -> wasmtime::Result<WitError> {
        error.0
    }

    fn open(&mut self, name: String) -> Result<u32, V1Error> {
        Ok(KeyValueState::open(self, &name)?)
    }

    /// [GET-MISSING]: v1 has no `option`, so a missing key is the `no-such-key` error.
    fn get(&mut self, store: u32, key: String) -> Result<Vec<u8>, V1Error> {
        self.v1_store(store)?
            .get(&key)?
            .ok_or_else(|| WitError::NoSuchKey.into())
    }

    fn set(&mut self, store: u32, key: String, value: Vec<u8>) -> Result<(), V1Error> {
        Ok(self.v1_store(store)?.set(&key, &value)?)
    }

    fn delete(&mut self, store: u32, key: String) -> Result<(), V1Error> {
        Ok(self.v1_store(store)?.delete(&key)?)
    }

    fn exists(&mut self, store: u32, key: String) -> Result<bool, V1Error> {
        Ok(self.v1_store(store)?.exists(&key)?)
    }

    fn get_keys(&mut self, store: u32) -> Result<Vec<String>, V1Error> {
        Ok(self.v1_store(store)?.get_keys()?)
    }

    /// [HANDLE-V1-CLOSE]: closing a handle that is not open does nothing, whatever the configured answer to
    /// using one.
    fn close(&mut self, store: u32) -> wasmtime::Result<()> {
        KeyValueState::close(self, store);
        Ok(())
    }
}
