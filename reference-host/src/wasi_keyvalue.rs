//! `wasi:keyvalue@0.2.0-draft2` (the edition Spin links): the `store`, `atomics` and `batch` interfaces,
//! implemented against [`KeyValueState`].
//!
//! A `bucket` is a handle number in the instance's [`KeyValueState`], exactly like a v2 `store`, so buckets share
//! the grants and the open bound with every other version. wasi has no `store-table-full`: past the bound `open`
//! fails with `other` ([OPEN-TABLE-FULL]). A backend's [`crate::Error::Trap`] traps, wherever it happens (in a
//! swap too, which otherwise answers a backend's failure with `store-error`).
//!
//! # Key listing and its cursor
//!
//! `list-keys` pages through [`Store::list_keys`], at most [`KeyValueState::wasi_page_size`] keys a page (100
//! unless [`crate::HostConfig::wasi_page_size`] says otherwise) in ascending byte order ([KEYS-WASI-CURSOR]: kvhost
//! pages). A page that is not the last carries a cursor naming its last key; the last page carries `none`, so a
//! guest following cursors until `none` sees every key present throughout exactly once. The cursor is
//! `kvhost1:` followed by the lowercase hexadecimal of the UTF-8 bytes of that last key: it needs no state in the
//! host (a cursor stays valid however long the guest keeps it, and after the bucket is dropped), and hex keeps it
//! printable whatever the key holds. Guests must treat it as opaque. A cursor that does not decode in exactly that
//! form is not one kvhost issued, and `list-keys` fails with `other`.
//!
//! # Compare-and-swap
//!
//! `cas.new` reads the key and records its value (or absence) in the instance's state; `current` returns that
//! record; `swap` writes with [`Store::compare_and_swap`] against it ([ATOMIC-CAS]). When the value changed in
//! between, `swap` changes nothing and fails with `cas-failed`, handing the `cas` back refreshed to the value now
//! stored, as the upstream interface text asks ("Implementors MUST return a CAS handle that has been updated to
//! the latest version"), so a guest retries with the same handle.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::backend::{self, GuestError, Store, for_guest};
use crate::state::KeyValueState;

// The generated types carry the WIT's own docs, where it has them.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/deps/wasi-keyvalue-0.2.0-draft2",
        world: "wasi:keyvalue/imports",
        imports: { default: trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::BucketHandle,
            "wasi:keyvalue/atomics.cas": super::CasHandle,
        },
    });
}

/// What a `cas` stands for: its store, key and the value it recorded ([`KeyValueState::wasi_cas`]).
pub use crate::state::PendingSwap;
use bindings::wasi::keyvalue::{atomics, batch, store};
/// The WIT types of this edition's functions (`error`, `list-keys`' answer, `swap`'s error), for a host function
/// replacing one of this binding's (see [`crate::v2`] for how).
pub use bindings::wasi::keyvalue::{
    atomics::CasError, store::Error as WitError, store::KeyResponse,
};

/// The host type behind the guest's `bucket` resource: a host function taking or returning a bucket takes or
/// returns a `Resource<BucketHandle>`. It is never constructed: the resource's representation is the handle number
/// in [`KeyValueState`] ([`KeyValueState::wasi_bucket`]).
pub struct BucketHandle;

/// The host type behind the guest's `cas` resource. It is never constructed: the resource's representation is
/// the number of a recorded swap in [`KeyValueState`] ([`KeyValueState::wasi_cas`]).
pub struct CasHandle;

/// Adds `wasi:keyvalue/store`, `atomics` and `batch` at `0.2.0-draft2` to `linker`, reaching each instance's
/// [`KeyValueState`] through `get`.
///
/// ```
/// # use wasmtime::component::Linker;
/// struct Host {
///     key_value: kvhost::KeyValueState,
/// }
///
/// let engine = wasmtime::Engine::default();
/// let mut linker = Linker::<Host>::new(&engine);
/// kvhost::wasi_keyvalue::add_to_linker(&mut linker, |host: &mut Host| &mut host.key_value)?;
/// # Ok::<(), wasmtime::Error>(())
/// ```
///
/// # Errors
///
/// When the linker already defines one of the interfaces.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut KeyValueState,
) -> wasmtime::Result<()> {
    bindings::Imports::add_to_linker::<T, HasSelf<KeyValueState>>(linker, get)
}

impl GuestError for WitError {
    fn from_backend(error: backend::Error) -> wasmtime::Result<Self> {
        // wasi has no `store-table-full`: it is `other`, with the message.
        error.to_guest(None, Self::NoSuchStore, Self::AccessDenied, Self::Other)
    }
}

/// The prefix of every cursor kvhost issues; the version digit lets a later format be told apart.
const CURSOR_PREFIX: &str = "kvhost1:";

/// The cursor of a page whose last key is `last_key`.
pub fn encode_cursor(last_key: &str) -> String {
    let mut cursor = String::with_capacity(CURSOR_PREFIX.len() + 2 * last_key.len());
    cursor.push_str(CURSOR_PREFIX);
    for byte in last_key.bytes() {
        cursor.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        cursor.push(char::from(HEX_DIGITS[usize::from(byte & 0xf)]));
    }
    cursor
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The last key of the page a cursor from [`encode_cursor`] was issued for, or `None` when `cursor` is not exactly
/// such a cursor (another prefix, an odd number or an uppercase or non-hex digit, bytes that are not UTF-8).
pub fn decode_cursor(cursor: &str) -> Option<String> {
    let digits = cursor.strip_prefix(CURSOR_PREFIX)?.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    let digit = |d: u8| HEX_DIGITS.iter().position(|&h| h == d);
    let bytes = digits
        .chunks_exact(2)
        .map(|pair| u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

impl KeyValueState {
    /// The store behind a bucket: what every function of this edition finds its store with, public for a host
    /// function replacing one of them.
    ///
    /// # Errors
    ///
    /// A trap, for a resource this state never issued or has closed (a fault of the host).
    pub fn wasi_bucket(&self, bucket: &Resource<BucketHandle>) -> wasmtime::Result<Arc<dyn Store>> {
        let (store, _) = self.open_resource(bucket.rep(), "bucket")?;
        Ok(Arc::clone(store))
    }

    /// The recorded swap behind a `cas` (a `swap` writes against its `current`, and refreshes it on `cas-failed`),
    /// public for a host function replacing `swap` or `current`.
    ///
    /// # Errors
    ///
    /// A trap, for a `cas` this state does not hold (a fault of the host).
    pub fn wasi_cas(&mut self, cas: &Resource<CasHandle>) -> wasmtime::Result<&mut PendingSwap> {
        self.pending_swap(cas.rep()).ok_or_else(|| {
            wasmtime::format_err!(
                "compare-and-swap handle {} is not held by this instance (a bug in the host)",
                cas.rep()
            )
        })
    }

    /// One page of keys after `cursor`, and the cursor of the next page when there is one.
    fn list_page(
        store: &dyn Store,
        cursor: Option<&str>,
        page_size: usize,
    ) -> Result<KeyResponse, backend::Error> {
        let after = match cursor {
            None => None,
            Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
                backend::Error::Other(format!(
                    "the cursor {cursor:?} was not issued by this host; pass `none` for the first page, then \
                     each page's cursor unchanged"
                ))
            })?),
        };
        let (keys, more) = key_page(store, after.as_deref(), page_size)?;
        let cursor = more
            .then(|| keys.last().map(|last| encode_cursor(last)))
            .flatten();
        Ok(KeyResponse { keys, cursor })
    }
}

/// One page of wasi `list-keys` (either edition): at most `page_size` keys after `after`, and whether more follow.
///
/// It asks for one key more than a page, so the host knows whether this page is the last without a further call
/// (and never hands out a cursor that leads to an empty page).
pub(crate) fn key_page(
    store: &dyn Store,
    after: Option<&str>,
    page_size: usize,
) -> Result<(Vec<String>, bool), backend::Error> {
    let mut keys = store.list_keys(after, page_size.saturating_add(1))?;
    let more = keys.len() > page_size;
    keys.truncate(page_size);
    Ok((keys, more))
}

impl store::Host for KeyValueState {
    fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<BucketHandle>, WitError>> {
        for_guest(KeyValueState::open(self, &identifier).map(Resource::new_own))
    }
}

impl store::HostBucket for KeyValueState {
    fn get(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, WitError>> {
        for_guest(self.wasi_bucket(&bucket)?.get(&key))
    }

    fn set(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        for_guest(self.wasi_bucket(&bucket)?.set(&key, &value))
    }

    fn delete(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), WitError>> {
        for_guest(self.wasi_bucket(&bucket)?.delete(&key))
    }

    fn exists(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        for_guest(self.wasi_bucket(&bucket)?.exists(&key))
    }

    /// [KEYS-WASI-CURSOR]: see the module docs for the paging and the cursor.
    fn list_keys(
        &mut self,
        bucket: Resource<BucketHandle>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<KeyResponse, WitError>> {
        let store = self.wasi_bucket(&bucket)?;
        for_guest(Self::list_page(
            store.as_ref(),
            cursor.as_deref(),
            self.wasi_page_size().get(),
        ))
    }

    /// [HANDLE-DROP]: closes this bucket only.
    fn drop(&mut self, bucket: Resource<BucketHandle>) -> wasmtime::Result<()> {
        self.drop_resource(bucket.rep(), "bucket")
    }
}

impl atomics::Host for KeyValueState {
    /// [ATOMIC-INCREMENT], [ATOMIC-INCREMENT-BAD]: the backend's atomic increment; a value that is not a counter,
    /// or an overflow, is `other`.
    fn increment(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, WitError>> {
        for_guest(self.wasi_bucket(&bucket)?.increment(&key, delta))
    }

    /// [ATOMIC-CAS]: writes only if the key still holds the recorded value. The `cas` is consumed on success and
    /// on a store error; on `cas-failed` it comes back, refreshed to the value stored now.
    fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let id = cas.rep();
        let pending = self.wasi_cas(&cas)?;
        let store = Arc::clone(&pending.store);
        let key = pending.key.clone();
        let outcome = store
            .compare_and_swap(&key, pending.current.as_deref(), &value)
            .and_then(|written| {
                if written {
                    Ok(None)
                } else {
                    store.get(&key).map(Some)
                }
            });
        match outcome {
            Ok(None) => {
                self.end_swap(id);
                Ok(Ok(()))
            }
            Ok(Some(now)) => {
                self.wasi_cas(&cas)?.current = now;
                Ok(Err(atomics::CasError::CasFailed(Resource::new_own(id))))
            }
            Err(error) => {
                self.end_swap(id);
                Ok(Err(atomics::CasError::StoreError(WitError::from_backend(
                    error,
                )?)))
            }
        }
    }
}

impl atomics::HostCas for KeyValueState {
    fn new(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, WitError>> {
        let store = self.wasi_bucket(&bucket)?;
        let current = match store.get(&key) {
            Ok(current) => current,
            Err(error) => return for_guest(Err(error)),
        };
        for_guest(
            self.begin_swap(PendingSwap {
                store,
                key,
                current,
            })
            .map(Resource::new_own),
        )
    }

    fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, WitError>> {
        Ok(Ok(self.wasi_cas(&cas)?.current.clone()))
    }

    fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        match self.end_swap(cas.rep()) {
            Some(_) => Ok(()),
            None => Err(wasmtime::format_err!(
                "compare-and-swap handle {} was dropped but is not held by this instance (a bug in the host)",
                cas.rep()
            )),
        }
    }
}

impl batch::Host for KeyValueState {
    /// [BATCH-GET-MANY]: one entry per requested key, in request order, `none` for a missing one.
    fn get_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, WitError>> {
        for_guest(self.wasi_bucket(&bucket)?.get_many(&keys))
    }

    /// [BATCH-SET-DELETE-MANY]
    fn set_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        for_guest(self.wasi_bucket(&bucket)?.set_many(&key_values))
    }

    /// [BATCH-SET-DELETE-MANY]
    fn delete_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        for_guest(self.wasi_bucket(&bucket)?.delete_many(&keys))
    }
}
