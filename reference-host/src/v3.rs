//! `spin:key-value/key-value@3.0.0` (v3, Spin 4.0 and later): the v2 resource with every function `async`, and
//! the key listing as a `stream<string>` plus a `future<result<_, error>>`, implemented against
//! [`KeyValueState`] with wasmtime's component-model-async support.
//!
//! A v3 `store` is a handle number in the instance's [`KeyValueState`], like a v2 `store` or a wasi `bucket`, so
//! all versions share one table, one set of grants and one open bound.
//!
//! # Linking
//!
//! The functions are async host functions, so the engine needs `Config::wasm_component_model_async(true)` and
//! the guest must be called with wasmtime's async entry points (`call_async`, `run_concurrent`). Every backend
//! kvhost has answers from local memory or a local file, so each host function calls the synchronous
//! [`Store`] inline rather than moving it to a blocking thread pool: the answer is ready on the first poll, and
//! kvhost needs no async runtime of its own.
//!
//! # The key stream ([KEYS-V3-STREAM])
//!
//! `get-keys` returns at once: nothing is read from the backend until the guest reads the stream. Each read is
//! served by one [`Store::list_keys`] call for as many keys as the reader has room for, at most
//! [`V3_PAGE_SIZE`], starting after the last key delivered ([`KeyListing`]); so the keys are streamed page by
//! page, never collected first, and each key present for the whole listing is delivered exactly once (in byte
//! order, though guests must not rely on it).
//!
//! - A page shorter than asked for is the last: the stream ends and the future resolves `ok`.
//! - A backend failure ends the stream at once (after the keys already delivered) and the future resolves to the
//!   error; a backend's [`crate::Error::Trap`] traps the guest's read instead, as it traps any v3 function.
//! - A guest that drops the stream part-way ends the listing: no further page is read, and the future (if the
//!   guest still holds it) resolves `ok`, since nothing failed; the guest stopped reading. No lock or transaction
//!   spans two reads (each page is one self-contained backend call), so an abandoned listing holds nothing.
//!
//! The future resolves only once the stream has ended or been dropped, so a guest must read the stream before
//! awaiting the future, as the interface intends.

use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Accessor, Destination, FutureReader, HasSelf, Linker, Resource, StreamProducer, StreamReader,
    StreamResult, VecBuffer,
};

use crate::backend::{self, GuestError, Store, for_guest};
use crate::state::KeyValueState;

// The generated types carry the WIT's own docs, where it has them.
#[allow(missing_docs)]
mod bindings {
    // As for v2: the package defines an interface but no world, so a one-line world imports it. Every import is
    // async (the WIT says so), has the store (to create streams and futures), and may trap (a host fault).
    wasmtime::component::bindgen!({
        inline: "package kvhost:bindings; world v3 { import spin:key-value/key-value@3.0.0; }",
        path: "wit/deps/spin-key-value-v3",
        world: "kvhost:bindings/v3",
        imports: { default: async | store | trappable },
        with: {
            "spin:key-value/key-value.store": super::StoreHandle,
        },
    });
}

use bindings::spin::key_value::key_value as wit;
/// v3's WIT `error`, which every v3 function answers with (`get-keys` through its future).
pub use bindings::spin::key_value::key_value::Error as WitError;

/// The most keys one read of the v3 key stream takes from the backend, however much room the reader has.
pub const V3_PAGE_SIZE: NonZeroUsize = NonZeroUsize::new(64).unwrap();

/// The host type behind the guest's v3 `store` resource: a host function taking or returning a v3 store takes or
/// returns a `Resource<StoreHandle>` (see [`crate::v2`] for replacing one function). It is never constructed: the
/// resource's representation is the handle number in [`KeyValueState`] ([`KeyValueState::v3_store`]).
pub struct StoreHandle;

/// Adds `spin:key-value/key-value@3.0.0` to `linker`, reaching each instance's [`KeyValueState`] through `get`.
/// The engine must have `Config::wasm_component_model_async(true)`.
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
/// kvhost::v3::add_to_linker(&mut linker, |host: &mut Host| &mut host.key_value)?;
/// # Ok::<(), wasmtime::Error>(())
/// ```
///
/// # Errors
///
/// When the linker already defines the interface.
pub fn add_to_linker<T: Send + 'static>(
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

/// The paging behind one v3 key stream, apart from wasmtime: which key the next page starts after, and how the
/// listing ended.
///
/// Each [`KeyListing::next_page`] is one [`Store::list_keys`] call; nothing is kept between pages but the last key
/// delivered.
pub struct KeyListing {
    store: Arc<dyn Store>,
    after: Option<String>,
    page_size: NonZeroUsize,
    outcome: Option<Result<(), backend::Error>>,
}

impl KeyListing {
    /// A listing of `store` from its first key, reading at most `page_size` keys a page.
    pub fn new(store: Arc<dyn Store>, page_size: NonZeroUsize) -> Self {
        Self {
            store,
            after: None,
            page_size,
            outcome: None,
        }
    }

    /// The next keys, at most `room` of them (and at most the page size), each after every key delivered before.
    ///
    /// A page shorter than asked for ends the listing with `ok`; a backend failure ends it with the error and no
    /// keys; once ended, every page is empty. `room` 0 reads nothing and never ends the listing.
    pub fn next_page(&mut self, room: usize) -> Vec<String> {
        let limit = room.min(self.page_size.get());
        if self.outcome.is_some() || limit == 0 {
            return Vec::new();
        }
        match self.store.list_keys(self.after.as_deref(), limit) {
            Ok(keys) => {
                if keys.len() < limit {
                    self.outcome = Some(Ok(()));
                } else if let Some(last) = keys.last() {
                    self.after = Some(last.clone());
                }
                keys
            }
            Err(error) => {
                self.outcome = Some(Err(error));
                Vec::new()
            }
        }
    }

    /// How the listing ended: `None` while it may have more keys, then `ok` or the backend's error.
    pub fn outcome(&self) -> Option<&Result<(), backend::Error>> {
        self.outcome.as_ref()
    }

    /// The most keys one page holds.
    pub fn page_size(&self) -> NonZeroUsize {
        self.page_size
    }
}

/// The write end of a v3 key stream: a [`KeyListing`] read as the guest reads, and the sender that resolves the
/// listing's future.
struct KeyStream {
    listing: KeyListing,
    outcome: Option<oneshot::Sender<Result<(), WitError>>>,
}

impl KeyStream {
    /// The stream's producer and the producer of its future.
    fn new(listing: KeyListing) -> (Self, oneshot::Receiver<Result<(), WitError>>) {
        let (sender, receiver) = oneshot::channel();
        let stream = Self {
            listing,
            outcome: Some(sender),
        };
        (stream, receiver)
    }

    /// Resolves the future with `outcome`, once.
    fn resolve(&mut self, outcome: Result<(), WitError>) {
        if let Some(sender) = self.outcome.take() {
            // A guest that dropped the future is not interested in the outcome.
            let _ = sender.send(outcome);
        }
    }
}

impl<D> StreamProducer<D> for KeyStream {
    type Item = String;
    type Buffer = VecBuffer<String>;

    /// Never pending: each read is answered at once from the backend, so `finish` (a request to cancel a pending
    /// read) never finds anything to cancel.
    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut destination: Destination<'a, Self::Item, Self::Buffer>,
        _finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let this = self.get_mut();
        // A guest reader says how much room it has; a host reader does not, and gets a full page.
        let room = destination
            .remaining(&mut store)
            .unwrap_or(this.listing.page_size().get());
        if room == 0 {
            // A zero-length read asks whether the stream is ready: it always is.
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        destination.set_buffer(this.listing.next_page(room).into());
        Poll::Ready(match this.listing.outcome() {
            None => Ok(StreamResult::Completed),
            // A backend's trap traps here, in the guest's read, rather than resolving the future.
            Some(outcome) => for_guest(outcome.clone()).map(|outcome| {
                this.resolve(outcome);
                StreamResult::Dropped
            }),
        })
    }
}

impl Drop for KeyStream {
    /// The guest dropped the stream before its end (or the instance went away): the listing stops there, and
    /// its future resolves `ok`, since nothing failed.
    fn drop(&mut self) {
        self.resolve(Ok(()));
    }
}

impl KeyValueState {
    /// The store behind a v3 resource: what every v3 function of kvhost's finds its store with, public for a host
    /// function replacing one of them (reached through the accessor of an async host function:
    /// `accessor.with(|mut access| access.get().v3_store(&handle))`).
    ///
    /// # Errors
    ///
    /// A trap, for a resource this state never issued or has closed (a fault of the host).
    pub fn v3_store(&self, handle: &Resource<StoreHandle>) -> wasmtime::Result<Arc<dyn Store>> {
        let (store, _) = self.open_resource(handle.rep(), "store")?;
        Ok(Arc::clone(store))
    }
}

impl wit::Host for KeyValueState {}

impl wit::HostStore for KeyValueState {}

/// The backend store behind `handle`, looked up in the instance's state.
fn store_of<T>(
    accessor: &Accessor<T, HasSelf<KeyValueState>>,
    handle: &Resource<StoreHandle>,
) -> wasmtime::Result<Arc<dyn Store>> {
    accessor.with(|mut access| access.get().v3_store(handle))
}

impl<T> wit::HostStoreWithStore<T> for HasSelf<KeyValueState> {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, WitError>> {
        for_guest(accessor.with(|mut access| access.get().open(&label).map(Resource::new_own)))
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, WitError>> {
        for_guest(store_of(accessor, &store)?.get(&key))
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        for_guest(store_of(accessor, &store)?.set(&key, &value))
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), WitError>> {
        for_guest(store_of(accessor, &store)?.delete(&key))
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        for_guest(store_of(accessor, &store)?.exists(&key))
    }

    /// [KEYS-V3-STREAM]: see the module docs.
    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), WitError>>)> {
        accessor.with(|mut access| {
            let store = access.get().v3_store(&store)?;
            let (stream, outcome) = KeyStream::new(KeyListing::new(store, V3_PAGE_SIZE));
            let stream = StreamReader::new(&mut access, stream)?;
            let future = FutureReader::new(&mut access, outcome)?;
            Ok((stream, future))
        })
    }

    /// [HANDLE-DROP]: closes this handle only.
    async fn drop(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<()> {
        accessor.with(|mut access| access.get().drop_resource(store.rep(), "store"))
    }
}
