//! `wasi:keyvalue@0.2.0-draft`, the older edition of wasi:keyvalue (the one wasmtime's `wasmtime-wasi-keyvalue`
//! implements): the `store`, `atomics` and `batch` interfaces, implemented against [`KeyValueState`] like every
//! other version, so a bucket opened here reaches the same stores, under the same grants and open bound, as a v2
//! store or a draft2 bucket, and data written through one edition is read through the other.
//!
//! The edition differs from `0.2.0-draft2` ([`crate::wasi_keyvalue`]) in three signatures, each handled here:
//!
//! # Key listing and its `u64` cursor
//!
//! `list-keys` pages through [`Store::list_keys`] exactly as draft2 does (at most
//! [`KeyValueState::wasi_page_size`] keys a page, ascending byte order, [KEYS-WASI-CURSOR]), but this edition's
//! cursor is a `u64`, too small to carry the page's last key as draft2's cursor does. So the instance keeps what
//! each cursor stands for (the store's label and the page's last key) and hands the guest a number it has never
//! issued before. A guest following cursors until `none` still sees every key present throughout exactly once,
//! whatever is written meanwhile. A number this instance did not issue (or has forgotten: it keeps its latest
//! 1024), or one issued for a bucket of another label, fails with `other`. A cursor is valid in the instance that
//! received it, for any bucket of the same label, also after the bucket that listed it is dropped.
//!
//! # `increment` by a `u64`
//!
//! Counters are the decimal text of an `i64` ([`crate::backend::encode_counter`]), shared with draft2's
//! `increment` and readable through every version. This edition adds a `u64` and answers with one, so kvhost
//! refuses with `other`, changing nothing, what those shared counters cannot hold or this edition cannot answer
//! with: a delta above `i64::MAX`, a sum past `i64::MAX`, and a result below zero (only a counter made negative
//! through draft2 can give one). The increment is a compare-and-swap loop over [`Store::get`] and
//! [`Store::compare_and_swap`] rather than [`Store::increment`], so that such a refusal is decided before
//! anything is written, atomically ([ATOMIC-INCREMENT], [ATOMIC-INCREMENT-BAD]).
//!
//! # `get-many` answers `option<tuple<key, value>>`
//!
//! One answer per requested key, in request order, `none` for a missing key ([BATCH-GET-MANY]).
//!
//! There is no compare-and-swap in this edition, and no `store-table-full`: past the open bound `open` fails
//! with `other` ([OPEN-TABLE-FULL]). A backend's [`crate::Error::Trap`] traps, as in every version.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::backend::{
    self, GuestError, Store, add_to_counter, decode_counter, encode_counter, for_guest,
};
use crate::state::{DraftCursor, KeyValueState, MAX_DRAFT_CURSORS};
use crate::wasi_keyvalue::key_page;

// The generated types carry the WIT's own docs, where it has them.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/deps/wasi-keyvalue-0.2.0-draft",
        world: "wasi:keyvalue/imports",
        imports: { default: trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::DraftBucketHandle,
        },
    });
}

/// The WIT types of this edition's functions (`error`, `list-keys`' answer), for a host function replacing one of
/// this binding's (see [`crate::v2`] for how).
pub use bindings::wasi::keyvalue::store::{Error as WitError, KeyResponse};
use bindings::wasi::keyvalue::{atomics, batch, store};

/// The host type behind the guest's `bucket` resource of this edition: a host function taking or returning one
/// takes or returns a `Resource<DraftBucketHandle>`. It is never constructed: the resource's representation is the
/// handle number in [`KeyValueState`], as for every version ([`KeyValueState::draft_bucket`]).
pub struct DraftBucketHandle;

/// Adds `wasi:keyvalue/store`, `atomics` and `batch` at `0.2.0-draft` to `linker`, reaching each instance's
/// [`KeyValueState`] through `get`. It can share a linker with [`crate::wasi_keyvalue::add_to_linker`]: the two
/// editions' names differ in their version, and wasmtime never takes one prerelease for another.
///
/// ```
/// # use wasmtime::component::Linker;
/// struct Host {
///     key_value: kvhost::KeyValueState,
/// }
///
/// let engine = wasmtime::Engine::default();
/// let mut linker = Linker::<Host>::new(&engine);
/// kvhost::wasi_keyvalue_draft::add_to_linker(&mut linker, |host: &mut Host| &mut host.key_value)?;
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
        // This edition has no `store-table-full` either: it is `other`, with the message.
        error.to_guest(None, Self::NoSuchStore, Self::AccessDenied, Self::Other)
    }
}

/// Adds `delta` to the counter under `key` and returns the new value, refusing with [`backend::Error::Other`]
/// (and changing nothing) what `i64` counters cannot hold or a `u64` cannot answer with: see the module docs.
///
/// # Errors
///
/// [`backend::Error::Other`] when the value is not a counter, when the delta or the sum does not fit an `i64`,
/// when the sum is below zero, or when the backend fails or refuses (a limit).
pub fn increment_unsigned(store: &dyn Store, key: &str, delta: u64) -> Result<u64, backend::Error> {
    let delta = i64::try_from(delta).map_err(|_| {
        backend::Error::Other(format!(
            "incrementing the counter under key {key:?} by {delta}: kvhost keeps counters as 64-bit signed \
             integers, shared with wasi:keyvalue@0.2.0-draft2, so a delta above {} cannot be added; the counter \
             is unchanged",
            i64::MAX
        ))
    })?;
    loop {
        let current = store.get(key)?;
        let next = add_to_counter(key, decode_counter(key, current.as_deref())?, delta)?;
        let answer = u64::try_from(next).map_err(|_| {
            backend::Error::Other(format!(
                "the counter under key {key:?} would be {next}, below zero (it was made negative through \
                 wasi:keyvalue@0.2.0-draft2), and wasi:keyvalue@0.2.0-draft answers with a u64; the counter is \
                 unchanged"
            ))
        })?;
        // Written only if the key still holds what was read; otherwise another writer came between, so read
        // again.
        if store.compare_and_swap(key, current.as_deref(), &encode_counter(next))? {
            return Ok(answer);
        }
    }
}

impl KeyValueState {
    /// The store behind a bucket of this edition, and the label it was opened with: what every function of this
    /// edition finds its store with, public for a host function replacing one of them.
    ///
    /// # Errors
    ///
    /// A trap, for a resource this state never issued or has closed (a fault of the host).
    pub fn draft_bucket(
        &self,
        bucket: &Resource<DraftBucketHandle>,
    ) -> wasmtime::Result<(Arc<dyn Store>, String)> {
        let (store, label) = self.open_resource(bucket.rep(), "bucket")?;
        Ok((Arc::clone(store), label.to_owned()))
    }

    /// One page of keys of the store with `label` after `cursor`, and the cursor of the next page when there is
    /// one.
    fn draft_page(
        &mut self,
        store: &dyn Store,
        label: String,
        cursor: Option<u64>,
    ) -> Result<KeyResponse, backend::Error> {
        let after = match cursor {
            None => None,
            Some(id) => match self.draft_cursor(id) {
                Some(known) if known.label == label => Some(known.last_key.clone()),
                Some(known) => {
                    return Err(backend::Error::Other(format!(
                        "the cursor {id} continues a listing of the store {:?}, not of this bucket's store \
                         {label:?}; pass `none` for this store's first page",
                        known.label
                    )));
                }
                None => {
                    return Err(backend::Error::Other(format!(
                        "the cursor {id} was not issued by this instance (or is older than the latest \
                         {MAX_DRAFT_CURSORS} it keeps); pass `none` for the first page, then each page's cursor \
                         unchanged"
                    )));
                }
            },
        };
        let (keys, more) = key_page(store, after.as_deref(), self.wasi_page_size().get())?;
        let cursor = match keys.last().filter(|_| more) {
            Some(last) => Some(self.issue_draft_cursor(DraftCursor {
                label,
                last_key: last.clone(),
            })?),
            None => None,
        };
        Ok(KeyResponse { keys, cursor })
    }
}

impl store::Host for KeyValueState {
    fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<DraftBucketHandle>, WitError>> {
        for_guest(KeyValueState::open(self, &identifier).map(Resource::new_own))
    }
}

impl store::HostBucket for KeyValueState {
    fn get(
        &mut self,
        bucket: Resource<DraftBucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, WitError>> {
        let (store, _) = self.draft_bucket(&bucket)?;
        for_guest(store.get(&key))
    }

    fn set(
        &mut self,
        bucket: Resource<DraftBucketHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        let (store, _) = self.draft_bucket(&bucket)?;
        for_guest(store.set(&key, &value))
    }

    fn delete(
        &mut self,
        bucket: Resource<DraftBucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), WitError>> {
        let (store, _) = self.draft_bucket(&bucket)?;
        for_guest(store.delete(&key))
    }

    fn exists(
        &mut self,
        bucket: Resource<DraftBucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        let (store, _) = self.draft_bucket(&bucket)?;
        for_guest(store.exists(&key))
    }

    /// [KEYS-WASI-CURSOR]: see the module docs for the paging and the `u64` cursor.
    fn list_keys(
        &mut self,
        bucket: Resource<DraftBucketHandle>,
        cursor: Option<u64>,
    ) -> wasmtime::Result<Result<KeyResponse, WitError>> {
        let (store, label) = self.draft_bucket(&bucket)?;
        for_guest(self.draft_page(store.as_ref(), label, cursor))
    }

    /// [HANDLE-DROP]: closes this bucket only.
    fn drop(&mut self, bucket: Resource<DraftBucketHandle>) -> wasmtime::Result<()> {
        self.drop_resource(bucket.rep(), "bucket")
    }
}

impl atomics::Host for KeyValueState {
    /// [ATOMIC-INCREMENT], [ATOMIC-INCREMENT-BAD]: see [`increment_unsigned`].
    fn increment(
        &mut self,
        bucket: Resource<DraftBucketHandle>,
        key: String,
        delta: u64,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        let (store, _) = self.draft_bucket(&bucket)?;
        for_guest(increment_unsigned(store.as_ref(), &key, delta))
    }
}

impl batch::Host for KeyValueState {
    /// [BATCH-GET-MANY]: one answer per requested key, in request order, `none` for a missing one.
    fn get_many(
        &mut self,
        bucket: Resource<DraftBucketHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Option<(String, Vec<u8>)>>, WitError>> {
        let (store, _) = self.draft_bucket(&bucket)?;
        for_guest(store.get_many(&keys).map(|entries| {
            entries
                .into_iter()
                .map(|(key, value)| value.map(|value| (key, value)))
                .collect()
        }))
    }

    /// [BATCH-SET-DELETE-MANY]
    fn set_many(
        &mut self,
        bucket: Resource<DraftBucketHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        let (store, _) = self.draft_bucket(&bucket)?;
        for_guest(store.set_many(&key_values))
    }

    /// [BATCH-SET-DELETE-MANY]
    fn delete_many(
        &mut self,
        bucket: Resource<DraftBucketHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        let (store, _) = self.draft_bucket(&bucket)?;
        for_guest(store.delete_many(&keys))
    }
}
