//! Size and capacity limits, enforced by a [`Store`] wrapper in front of any backend ([`LimitedStore`]), or in
//! front of every store of a [`StoreManager`] ([`LimitedStores`]).
//!
//! SIP 010 names minimums every host must support (256-byte keys, 1 MB values, 1024 tuples per store:
//! [LIMIT-KEY], [LIMIT-VALUE], [LIMIT-CAPACITY]); past its own limits a host may accept or refuse
//! ([LIMIT-BEYOND]). kvhost refuses exactly past the limits it is configured with, so the suite can check a
//! refusing host as well as an accepting one. A refusal is an `other` error, decided before anything is written,
//! so the store is left exactly as it was: never a trap, never truncation.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use crate::backend::{
    Error, Store, StoreManager, StoreWrapper, add_to_counter, decode_counter, encode_counter,
};

/// The largest key, value and number of keys a store accepts; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// The longest key, in bytes of UTF-8.
    pub max_key_bytes: Option<usize>,
    /// The longest value, in bytes.
    pub max_value_bytes: Option<usize>,
    /// The most keys one store holds at once.
    pub max_tuples: Option<usize>,
}

impl Limits {
    /// No limits: every `set` reaches the backend.
    pub const fn none() -> Self {
        Self {
            max_key_bytes: None,
            max_value_bytes: None,
            max_tuples: None,
        }
    }

    /// Exactly SIP 010's minimums: 256-byte keys, 1,048,576-byte values ("1 MB", read as 1 MiB) and 1024 keys per
    /// store. A host with these limits accepts everything SIP 010 requires and refuses the first byte or key past
    /// it.
    pub const fn sip010() -> Self {
        Self {
            max_key_bytes: Some(256),
            max_value_bytes: Some(1_048_576),
            max_tuples: Some(1024),
        }
    }

    /// Whether no limit is set, so wrapping a store in a [`LimitedStore`] would change nothing.
    pub const fn is_none(&self) -> bool {
        self.max_key_bytes.is_none() && self.max_value_bytes.is_none() && self.max_tuples.is_none()
    }
}

/// A [`Store`] that refuses a write past its [`Limits`] and passes everything else to the store it wraps.
///
/// Every write is checked: `set`, `increment` (a counter of a new key is a new tuple), `compare_and_swap` (its new
/// value; a swap from absent adds a tuple) and `set_many` (checked whole before anything is written, so a batch
/// with one pair past a limit writes nothing, not the pairs before it). Reads, deletes and listings pass straight
/// through, so a backend's own batched or paged implementations are used.
///
/// Share one `LimitedStore` per labelled store between all its handles (an [`crate::app::Application`] does), or
/// let [`LimitedStores`] wrap a manager's stores: the tuple limit is checked and the write done under one lock, so
/// two instances adding keys at once cannot both pass the check and overshoot the limit.
pub struct LimitedStore {
    inner: Arc<dyn Store>,
    limits: Limits,
    // Held from the tuple-count check to the end of the write it allows; shared by every LimitedStore of one label
    // that a LimitedStores made.
    adding: Arc<Mutex<()>>,
}

impl LimitedStore {
    /// Wraps `inner` in `limits`.
    pub fn new(inner: Arc<dyn Store>, limits: Limits) -> Self {
        Self::sharing(inner, limits, Arc::default())
    }

    /// Wraps `inner` in `limits`, checking the tuple limit under `adding`, a lock shared with the other views of
    /// the same store.
    fn sharing(inner: Arc<dyn Store>, limits: Limits, adding: Arc<Mutex<()>>) -> Self {
        Self {
            inner,
            limits,
            adding,
        }
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn check_sizes(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        if let Some(max) = self.limits.max_key_bytes
            && key.len() > max
        {
            return Err(Error::Other(format!(
                "key of {} bytes exceeds this host's limit of {max} bytes",
                key.len()
            )));
        }
        if let Some(max) = self.limits.max_value_bytes
            && value.len() > max
        {
            return Err(Error::Other(format!(
                "value of {} bytes exceeds this host's limit of {max} bytes",
                value.len()
            )));
        }
        Ok(())
    }

    /// With a tuple limit, holds the adding lock, checks that `new_keys` more keys fit, and runs `write`; without
    /// one, just runs `write`. `new_keys` is called under the lock, so its answer cannot go stale before the write.
    fn adding<R>(
        &self,
        new_keys: impl FnOnce() -> Result<usize, Error>,
        write: impl FnOnce() -> Result<R, Error>,
    ) -> Result<R, Error> {
        let Some(max_tuples) = self.limits.max_tuples else {
            return write();
        };
        // The guard protects no data of its own, so a poisoned lock is as good as a clean one.
        let _adding = self.adding.lock().unwrap_or_else(PoisonError::into_inner);
        let added = new_keys()?;
        if added > 0 {
            let tuples = self.inner.key_count()?;
            if tuples + added > max_tuples {
                let what = if added == 1 {
                    "a new key".to_owned()
                } else {
                    format!("{added} new keys")
                };
                return Err(Error::Other(format!(
                    "{what} would make {} keys in this store, exceeding this host's limit of {max_tuples} keys \
                     per store; delete a key first",
                    tuples + added
                )));
            }
        }
        write()
    }

    /// 1 if `key` is absent, else 0.
    fn is_new(&self, key: &str) -> Result<usize, Error> {
        Ok(usize::from(!self.inner.exists(key)?))
    }

    /// An increment under a value limit shorter than some counters: read, check the new counter's length, and
    /// write it only if the value is still the one read, retrying otherwise. It is as atomic as the backend's
    /// `compare_and_swap`, and never stores a counter past the limit.
    fn increment_checked(&self, key: &str, delta: i64) -> Result<i64, Error> {
        loop {
            let current = self.inner.get(key)?;
            let new = add_to_counter(key, decode_counter(key, current.as_deref())?, delta)?;
            let encoded = encode_counter(new);
            self.check_sizes(key, &encoded)?;
            if self
                .inner
                .compare_and_swap(key, current.as_deref(), &encoded)?
            {
                return Ok(new);
            }
        }
    }
}

/// The longest counter [`encode_counter`] writes: `i64::MIN`, 20 bytes.
const LONGEST_COUNTER: usize = 20;

impl std::fmt::Debug for LimitedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitedStore")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Only the writes are overridden; every read, delete and listing is the wrapped store's own.
impl StoreWrapper for LimitedStore {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    /// [LIMIT-BEYOND]: refuses a key or value longer than the limit, and a new key when the store already holds
    /// the most keys allowed, with an `other` error naming the limit; checked before writing, so a refused `set`
    /// leaves the old value in place. Replacing the value of a key already present never counts as a new tuple.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.check_sizes(key, value)?;
        self.adding(|| self.is_new(key), || self.inner.set(key, value))
    }

    /// The key is checked like a `set`'s, and incrementing a missing key adds a tuple. A counter is at most 20
    /// bytes, so the value limit matters only when it is shorter than that; then the increment is done by
    /// compare-and-swap so that the new counter's length can be checked before it is written.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        self.check_sizes(key, b"")?;
        let short_values = self
            .limits
            .max_value_bytes
            .is_some_and(|max| max < LONGEST_COUNTER);
        self.adding(
            || self.is_new(key),
            || {
                if short_values {
                    self.increment_checked(key, delta)
                } else {
                    self.inner.increment(key, delta)
                }
            },
        )
    }

    /// `new` obeys the size limits; a swap from absent adds a tuple (a swap from a value replaces one).
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error> {
        self.check_sizes(key, new)?;
        if expected.is_some() {
            return self.inner.compare_and_swap(key, expected, new);
        }
        self.adding(
            || self.is_new(key),
            || self.inner.compare_and_swap(key, expected, new),
        )
    }

    /// Checked whole before anything is written: every pair's sizes, then the number of distinct new keys
    /// against the tuple limit. A refused batch writes nothing; an accepted one is the inner store's `set_many`
    /// (all or nothing on kvhost's own backends).
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        for (key, value) in entries {
            self.check_sizes(key, value)?;
        }
        self.adding(
            || {
                let distinct: BTreeSet<&str> =
                    entries.iter().map(|(key, _)| key.as_str()).collect();
                distinct
                    .into_iter()
                    .map(|key| self.is_new(key))
                    .sum::<Result<usize, Error>>()
            },
            || self.inner.set_many(entries),
        )
    }
}

/// A [`StoreManager`] serving another manager's stores behind [`Limits`]: each store it gives is a [`LimitedStore`]
/// over the one the wrapped manager gives, so a backend that enforces no limits of its own refuses, as kvhost's
/// own backends do, every write past them ([LIMIT-BEYOND]).
///
/// It asks the wrapped manager for a store at every `get`, as a [`StoreManager`] is asked for each `open`, so a
/// manager that gives each `open` a view of its own (a handle with state of its own) still does; the views of one
/// label share one tuple-limit lock. With [`Limits::none`] it serves the wrapped manager's stores as they are.
///
/// ```
/// use std::sync::Arc;
/// use kvhost::limits::{LimitedStores, Limits};
/// use kvhost::StoreManager;
///
/// let stores = LimitedStores::new(Arc::new(kvhost::memory::MemoryStores::new()), Limits::sip010());
/// let store = stores.get("default")?;
/// assert!(store.set(&"k".repeat(257), b"too long a key").is_err());
/// store.set(&"k".repeat(256), b"the longest key allowed")?;
/// # Ok::<(), kvhost::Error>(())
/// ```
pub struct LimitedStores {
    inner: Arc<dyn StoreManager>,
    limits: Limits,
    /// Each label's tuple-limit lock, shared by every store served for it.
    adding: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl LimitedStores {
    /// Serves `inner`'s stores behind `limits`.
    pub fn new(inner: Arc<dyn StoreManager>, limits: Limits) -> Self {
        Self {
            inner,
            limits,
            adding: Mutex::default(),
        }
    }

    /// The limits every store it serves enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

impl std::fmt::Debug for LimitedStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitedStores")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl StoreManager for LimitedStores {
    fn get(&self, label: &str) -> Result<Arc<dyn Store>, Error> {
        let store = self.inner.get(label)?;
        if self.limits.is_none() {
            return Ok(store);
        }
        // Locks are only ever inserted whole, so a poisoned map is still consistent.
        let adding = Arc::clone(
            self.adding
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(label.to_owned())
                .or_default(),
        );
        Ok(Arc::new(LimitedStore::sharing(store, self.limits, adding)))
    }

    fn is_defined(&self, label: &str) -> bool {
        self.inner.is_defined(label)
    }
}
