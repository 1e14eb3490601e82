//! `fermyon:spin/key-value@2.0.0`: the v2 interface, implemented against [`KeyValueState`].
//!
//! The guest's `store` resource is a handle number in the instance's [`KeyValueState`]; dropping the resource
//! closes that handle. Guest-visible failures are the WIT `error` variant (the inner `Result`); a handle the state
//! does not know is a host fault and traps (the outer `wasmtime::Result`), as does a backend's
//! [`crate::Error::Trap`], and the two are never mixed.
//!
//! # Replacing one function
//!
//! A host that differs from kvhost in one function (a fault to check the suite catches, an embedding's own
//! behaviour) links this binding and then shadows that function with its own. What the function needs is public:
//! the resource's host type [`StoreHandle`], the WIT error [`WitError`], [`KeyValueState::v2_store`] to find the
//! store behind a handle, and [`for_guest`] to answer as kvhost does. Here `exists` says every key exists:
//!
//! ```
//! use kvhost::KeyValueState;
//! use kvhost::backend::for_guest;
//! use kvhost::v2::{StoreHandle, WitError};
//! use wasmtime::component::{Linker, Resource};
//!
//! struct Host {
//!     key_value: KeyValueState,
//! }
//!
//! fn key_value(host: &mut Host) -> &mut KeyValueState {
//!     &mut host.key_value
//! }
//!
//! let engine = wasmtime::Engine::default();
//! let mut linker = Linker::<Host>::new(&engine);
//! kvhost::v2::add_to_linker(&mut linker, key_value)?;
//! linker.allow_shadowing(true);
//! linker.instance("fermyon:spin/key-value@2.0.0")?.func_wrap(
//!     "[method]store.exists",
//!     |mut store, (handle, key): (Resource<StoreHandle>, String)| {
//!         let backend = key_value(store.data_mut()).v2_store(&handle)?;
//!         let exists: Result<bool, WitError> = for_guest(backend.exists(&key).map(|_| true))?;
//!         Ok((exists,))
//!     },
//! )?;
//! # Ok::<(), wasmtime::Error>(())
//! ```
//!
//! The other versions make the same public: [`crate::v1::WitError`] and [`KeyValueState::v1_store`] (v1's handle
//! is a number), [`crate::v3::StoreHandle`] and [`KeyValueState::v3_store`], [`crate::wasi_keyvalue::BucketHandle`]
//! and [`KeyValueState::wasi_bucket`] (and the `cas`'s), [`crate::wasi_keyvalue_draft::DraftBucketHandle`] and
//! [`KeyValueState::draft_bucket`].

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::backend::{self, GuestError, for_guest};
use crate::state::KeyValueState;

// The generated types carry the WIT's own docs, where it has them.
#[allow(missing_docs)]
mod bindings {
    // The WIT package defines an interface but no world, so a one-line world importing it is given inline; the
    // interface itself is read from the project's WIT directory unchanged.
    wasmtime::component::bindgen!({
        inline: "package kvhost:bindings; world v2 { import fermyon:spin/key-value@2.0.0; }",
        path: "wit/deps/fermyon-spin-v2",
        world: "kvhost:bindings/v2",
        imports: { default: trappable },
        with: {
            "fermyon:spin/key-value.store": super::StoreHandle,
        },
    });
}

use bindings::fermyon::spin::key_value as wit;
/// v2's WIT `error`, which every v2 function but `drop` answers with.
pub use bindings::fermyon::spin::key_value::Error as WitError;

/// The host type behind the guest's v2 `store` resource: a host function taking or returning a v2 store takes or
/// returns a `Resource<StoreHandle>`. It is never constructed: the resource's representation is the handle number
/// in [`KeyValueState`], which holds the store itself ([`KeyValueState::v2_store`]).
pub struct StoreHandle;

/// Adds `fermyon:spin/key-value@2.0.0` to `linker`, reaching each instance's [`KeyValueState`] through `get`.
/// This is the only wiring a host writes:
///
/// ```
/// # use wasmtime::component::Linker;
/// struct Host {
///     key_value: kvhost::KeyValueState,
/// }
///
/// let engine = wasmtime::Engine::default();
/// let mut linker = Linker::<Host>::new(&engine);
/// kvhost::add_to_linker(&mut linker, |host: &mut Host| &mut host.key_value)?;
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
        error.to_guest(
            Some(Self::StoreTableFull),
            Self::NoSuchStore,
            Self::AccessDenied,
            Self::Other,
        )
    }
}

impl KeyValueState {
    /// The store behind a v2 resource: what every v2 function of kvhost's finds its store with, public for a host
    /// function replacing one of them.
    ///
    /// # Errors
    ///
    /// A trap, for a resource this state never issued or has closed (a fault of the host, not of the guest: the
    /// guest cannot name a resource it does not hold).
    pub fn v2_store(
        &self,
        handle: &Resource<StoreHandle>,
    ) -> wasmtime::Result<Arc<dyn backend::Store>> {
        let (store, _) = self.open_resource(handle.rep(), "store")?;
        Ok(Arc::clone(store))
    }
}

impl wit::Host for KeyValueState {}

impl wit::HostStore for KeyValueState {
    fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<StoreHandle>, WitError>> {
        for_guest(KeyValueState::open(self, &label).map(Resource::new_own))
    }

    fn get(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, WitError>> {
        for_guest(self.v2_store(&store)?.get(&key))
    }

    fn set(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        for_guest(self.v2_store(&store)?.set(&key, &value))
    }

    fn delete(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), WitError>> {
        for_guest(self.v2_store(&store)?.delete(&key))
    }

    fn exists(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        for_guest(self.v2_store(&store)?.exists(&key))
    }

    fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, WitError>> {
        for_guest(self.v2_store(&store)?.get_keys())
    }

    /// [HANDLE-DROP]: closes this handle only.
    fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.drop_resource(store.rep(), "store")
    }
}
