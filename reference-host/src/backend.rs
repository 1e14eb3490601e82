//! The two traits every backend implements, and the error they report.
//!
//! This is the seam between the interface versions and the storage: the dispatcher ([`crate::app::KeyValueState`])
//! implements each interface version against [`StoreManager`] and [`Store`] alone, so a new backend is a new
//! implementation of these two traits and a new interface version is a new dispatcher module, never both at once.
//! The shape follows Spin's `crates/factor-key-value` (`StoreManager` resolves a label, `Store` serves one
//! labelled store); unlike Spin's, the traits are synchronous: every backend kvhost has answers from local memory
//! or a local file, so even the async v3 interface simply calls them (see `crate::v3`).

use std::sync::Arc;

/// Errors a backend or the dispatcher reports; they map 1:1 onto the WIT `error` variant of
/// `fermyon:spin/key-value@2.0.0` and `spin:key-value/key-value@3.0.0`. v1 reports [`Error::Other`] as `io`;
/// wasi:keyvalue, which has no `store-table-full`, reports [`Error::StoreTableFull`] as `other`.
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

/// One answer of [`Store::get_many`]: a requested key, and its value or `None` when it has none.
pub type Entry = (String, Option<Vec<u8>>);

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

    /// Up to `limit` keys in ascending byte order (the order of their UTF-8 bytes, which is also Rust's `str`
    /// order), each strictly greater than `after` (`None`: from the first key).
    ///
    /// This is the basis of every paged listing (wasi `list-keys`, the v3 key stream): a caller passes the last
    /// key of one page as `after` for the next, so a key present for the whole listing is returned exactly once,
    /// whatever is written meanwhile. Fewer than `limit` keys means there are no more; `limit` 0 returns none.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails.
    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error>;

    /// Atomically adds `delta` to the counter under `key` and returns the new value; a missing key starts from 0
    /// ([ATOMIC-INCREMENT]).
    ///
    /// A counter is stored as the decimal ASCII text of an `i64` (see [`encode_counter`]), so a plain `get` of a
    /// counter reads `"42"`, and a value written with `set` in exactly that form can be incremented.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the value under `key` is not a counter, when the sum overflows an `i64`
    /// ([ATOMIC-INCREMENT-BAD]: an error, never a panic), or when the backend fails. The value is then unchanged.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error>;

    /// Atomically writes `new` under `key` only if the key currently holds exactly `expected` (`None`: the key is
    /// absent), and returns whether it wrote ([ATOMIC-CAS]). When it returns `false` the store is unchanged.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails or refuses (a limit); the store is then unchanged.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error>;

    /// One entry per requested key, in request order, with the key and its value or `None` when it has none
    /// ([BATCH-GET-MANY]); a key requested twice has two entries.
    ///
    /// The default reads the keys one by one; a backend may override it with a batched read that keeps this
    /// contract.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error> {
        keys.iter()
            .map(|key| Ok((key.clone(), self.get(key)?)))
            .collect()
    }

    /// Stores every pair, in order, with the effect of that sequence of [`Store::set`]s ([BATCH-SET-DELETE-MANY]):
    /// a key given twice ends with its last value. An empty batch succeeds.
    ///
    /// The default sets the pairs one by one, so a failure part-way leaves the earlier pairs written; a backend
    /// may override it to write all or nothing (kvhost's memory and SQLite backends do).
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails or refuses (a limit).
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        entries
            .iter()
            .try_for_each(|(key, value)| self.set(key, value))
    }

    /// Removes every key, with the effect of that sequence of [`Store::delete`]s ([BATCH-SET-DELETE-MANY]): absent
    /// keys are fine, and an empty batch succeeds.
    ///
    /// The default deletes the keys one by one; a backend may override it.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails.
    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        keys.iter().try_for_each(|key| self.delete(key))
    }
}

/// The stored form of a counter: the decimal ASCII text of `value`, as [`Store::increment`] writes it (`"42"`,
/// `"-7"`). Every kvhost backend uses it, so a counter written by one is read by another.
pub fn encode_counter(value: i64) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// Reads a counter stored by [`encode_counter`]; `None` (a missing key) is 0.
///
/// Only exactly the form [`encode_counter`] writes is a counter: no sign `+`, no leading zeros, no spaces, no
/// `-0`. Being this strict means any value a counter could be confused with is refused rather than silently
/// reinterpreted, and every counter round-trips byte for byte.
///
/// # Errors
///
/// [`Error::Other`] naming `key` when `stored` is not a counter.
pub fn decode_counter(key: &str, stored: Option<&[u8]>) -> Result<i64, Error> {
    let Some(stored) = stored else {
        return Ok(0);
    };
    std::str::from_utf8(stored)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|value| encode_counter(*value) == stored)
        .ok_or_else(|| {
            Error::Other(format!(
                "the value under key {key:?} is not a counter (the decimal text of a 64-bit signed integer, as \
                 increment writes it), so it cannot be incremented; set it to a number such as \"0\" first"
            ))
        })
}

/// The new value of a counter holding `current` after adding `delta`.
///
/// # Errors
///
/// [`Error::Other`] naming `key` when the sum does not fit in an `i64`.
pub fn add_to_counter(key: &str, current: i64, delta: i64) -> Result<i64, Error> {
    current.checked_add(delta).ok_or_else(|| {
        Error::Other(format!(
            "incrementing the counter under key {key:?} (now {current}) by {delta} would overflow a 64-bit \
             signed integer; the counter is unchanged"
        ))
    })
}
