//! Size and capacity limits, enforced by a [`Store`] wrapper in front of any backend.
//!
//! SIP 010 names minimums every host must support (256-byte keys, 1 MB values, 1024 tuples per store:
//! [LIMIT-KEY], [LIMIT-VALUE], [LIMIT-CAPACITY]); past its own limits a host may accept or refuse
//! ([LIMIT-BEYOND]). kvhost refuses exactly past the limits it is configured with, so the suite can check a
//! refusing host as well as an accepting one. A refusal is an `other` error, decided before anything is written,
//! so the store is left exactly as it was: never a trap, never truncation.

use std::sync::{Arc, Mutex, PoisonError};

use crate::backend::{Error, Store};

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

/// A [`Store`] that refuses a `set` past its [`Limits`] and passes everything else to the store it wraps.
///
/// Share one `LimitedStore` per labelled store between all its handles (an [`crate::app::Application`] does): the
/// tuple limit is checked and the write done under one lock, so two instances adding keys at once cannot both pass
/// the check and overshoot the limit.
pub struct LimitedStore {
    inner: Arc<dyn Store>,
    limits: Limits,
    // Held from the tuple-count check to the end of the write it allows.
    adding: Mutex<()>,
}

impl LimitedStore {
    /// Wraps `inner` in `limits`.
    pub fn new(inner: Arc<dyn Store>, limits: Limits) -> Self {
        Self {
            inner,
            limits,
            adding: Mutex::new(()),
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
}

impl std::fmt::Debug for LimitedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitedStore")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Store for LimitedStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner.get(key)
    }

    /// [LIMIT-BEYOND]: refuses a key or value longer than the limit, and a new key when the store already holds
    /// the most keys allowed, with an `other` error naming the limit; checked before writing, so a refused `set`
    /// leaves the old value in place. Replacing the value of a key already present never counts as a new tuple.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.check_sizes(key, value)?;
        let Some(max_tuples) = self.limits.max_tuples else {
            return self.inner.set(key, value);
        };
        // The guard protects no data of its own, so a poisoned lock is as good as a clean one.
        let _adding = self.adding.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.inner.exists(key)? {
            let tuples = self.inner.get_keys()?.len();
            if tuples >= max_tuples {
                return Err(Error::Other(format!(
                    "a new key would make {} keys in this store, exceeding this host's limit of {max_tuples} keys \
                     per store; delete a key first",
                    tuples + 1
                )));
            }
        }
        self.inner.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.inner.delete(key)
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        self.inner.exists(key)
    }

    fn get_keys(&self) -> Result<Vec<String>, Error> {
        self.inner.get_keys()
    }
}
