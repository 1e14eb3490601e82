//! The two traits every backend implements, and the error they report.
//!
//! This is the seam between the interface versions and the storage: the dispatcher ([`crate::app::KeyValueState`])
//! implements each interface version against [`StoreManager`] and [`Store`] alone, so a new backend is a new
//! implementation of these two traits and a new interface version is a new dispatcher module, never both at once.
//! The shape follows Spin's `crates/factor-key-value` (`StoreManager` resolves a label, `Store` serves one
//! labelled store); unlike Spin's, the traits are synchronous: every backend kvhost has answers from local memory
//! or a local file, so even the async v3 interface simply calls them (see `crate::v3`).
//!
//! A store that wraps another (limits, a deliberate fault) implements [`StoreWrapper`] instead of
//! [`Store`]: whatever it does not override goes to the wrapped store unchanged.

use std::sync::Arc;

/// Errors a backend or the dispatcher reports; they map 1:1 onto the WIT `error` variant of
/// `fermyon:spin/key-value@2.0.0` and `spin:key-value/key-value@3.0.0`. v1 reports [`Error::Other`] as `io`;
/// wasi:keyvalue, which has no `store-table-full`, reports [`Error::StoreTableFull`] as `other`.
///
/// These are the errors a guest sees, all but [`Error::Trap`], which no guest sees: every version's binding turns
/// it into a trap (a `wasmtime::Error` carrying its message), as for a fault of the host itself (a handle the host
/// lost track of, a bug). [`for_guest`] is that mapping.
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
    /// Not an answer: the guest traps, with this message, instead of seeing an interface error. For a backend
    /// that cannot go on (its state is no longer to be trusted, as a store whose lock a panic poisoned), or a
    /// wrapper playing a host fault; a refusal or an ordinary failure is [`Error::Other`]. Where a backend
    /// panics instead, the panic unwinds through wasmtime rather than ending the call as a trap.
    #[error("{0}")]
    Trap(String),
}

impl Error {
    /// The guest-visible error of an interface version whose WIT `error` has these cases, made with its
    /// constructors: what each version's [`GuestError`] is. `store_table_full` is `None` for a version without that
    /// case (wasi:keyvalue), whose `other` then carries this error's message, which says what happened and what to
    /// do; `other` is the version's catch-all (v1's `io`).
    ///
    /// # Errors
    ///
    /// The trap, for [`Error::Trap`] and only for it.
    pub fn to_guest<E>(
        self,
        store_table_full: Option<E>,
        no_such_store: E,
        access_denied: E,
        other: impl FnOnce(String) -> E,
    ) -> wasmtime::Result<E> {
        Ok(match (self, store_table_full) {
            (Error::StoreTableFull, Some(store_table_full)) => store_table_full,
            (error @ Error::StoreTableFull, None) => other(error.to_string()),
            (Error::NoSuchStore, _) => no_such_store,
            (Error::AccessDenied, _) => access_denied,
            (Error::Other(message), _) => other(message),
            (Error::Trap(message), _) => return Err(trap(message)),
        })
    }
}

/// An interface version's WIT `error` type: what a backend's [`Error`] becomes for the guest. Each version's
/// binding implements it for its own type (`kvhost::v2::WitError`, ...); [`for_guest`] uses it. Each of kvhost's
/// is one call of [`Error::to_guest`] with the type's constructors.
pub trait GuestError: Sized {
    /// The guest-visible error for `error`, or the trap it stands for ([`Error::Trap`]).
    ///
    /// # Errors
    ///
    /// The trap, for [`Error::Trap`] and only for it.
    fn from_backend(error: Error) -> wasmtime::Result<Self>;
}

/// A backend's answer as a binding hands it to the guest: a value as it is, an error as the interface's error `E`
/// (the inner `Result`), and [`Error::Trap`] as a trap (the outer one). Every host function of kvhost's bindings
/// answers through it, and so can a host function of one's own that replaces one of them.
///
/// ```
/// use kvhost::Error;
/// use kvhost::backend::{GuestError, for_guest};
///
/// /// An interface whose only error is `other`.
/// #[derive(Debug, PartialEq)]
/// struct Other(String);
///
/// impl GuestError for Other {
///     fn from_backend(error: Error) -> wasmtime::Result<Self> {
///         match error {
///             Error::Trap(message) => Err(wasmtime::Error::msg(message)),
///             error => Ok(Other(error.to_string())),
///         }
///     }
/// }
///
/// assert_eq!(for_guest::<bool, Other>(Ok(true))?, Ok(true));
/// assert_eq!(for_guest::<bool, Other>(Err(Error::Other("no".into())))?, Err(Other("no".into())));
/// let trap = for_guest::<bool, Other>(Err(Error::Trap("the disk is on fire".into()))).unwrap_err();
/// assert_eq!(trap.to_string(), "the disk is on fire");
/// # Ok::<(), wasmtime::Error>(())
/// ```
///
/// # Errors
///
/// The trap, for [`Error::Trap`].
pub fn for_guest<T, E: GuestError>(result: Result<T, Error>) -> wasmtime::Result<Result<T, E>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) => E::from_backend(error).map(Err),
    }
}

/// The trap a binding raises for [`Error::Trap`]: its message, unchanged.
pub(crate) fn trap(message: String) -> wasmtime::Error {
    wasmtime::Error::msg(message)
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

    /// How many keys the store holds: the length of [`Store::get_keys`], which the default computes. A backend
    /// that can count without listing (a map's length, `SELECT COUNT(*)`) should override it: kvhost's tuple
    /// limit counts a store's keys before every write that adds one.
    ///
    /// # Errors
    ///
    /// [`Error::Other`] when the backend fails.
    fn key_count(&self) -> Result<usize, Error> {
        Ok(self.get_keys()?.len())
    }

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

/// A [`Store`] that wraps another: every operation goes to the wrapped store ([`StoreWrapper::inner`]) unless the
/// wrapper overrides it, so a wrapper that changes one operation spells out that one alone.
///
/// Every type implementing `StoreWrapper` is a [`Store`] (a blanket implementation calls these methods). Each
/// default forwards to the method of the same name of the wrapped store, the batch ones included: a wrapper that
/// overrides `get` leaves `get_many` the wrapped store's own `get_many`, exactly as if the wrapper were not there
/// (unlike [`Store`]'s own batch defaults, which call the implementing store's single-key methods). So a wrapper
/// changes exactly what it overrides; one whose change should also reach the batch operations overrides those too.
/// A store that changes what every operation means (a cache in front of another store, say) is better written as
/// a [`Store`] of its own, whose batch defaults then go through its own single-key methods.
///
/// The limits wrapper ([`crate::limits::LimitedStore`]) is the kind of thing this is for; so are the self-test's
/// faulty stores, each a correct store with one deliberate fault. A wrapper may also make the guest trap
/// ([`Error::Trap`]) where a real host would fail outright.
///
/// ```
/// use std::sync::Arc;
/// use kvhost::backend::StoreWrapper;
/// use kvhost::{Error, Store};
///
/// /// Reads a missing key as the empty value ([GET-MISSING] broken on purpose); otherwise the store it wraps.
/// struct MissingReadsEmpty(Arc<dyn Store>);
///
/// impl StoreWrapper for MissingReadsEmpty {
///     fn inner(&self) -> &dyn Store {
///         &*self.0
///     }
///     fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
///         Ok(Some(self.0.get(key)?.unwrap_or_default()))
///     }
/// }
///
/// let store: Arc<dyn Store> = Arc::new(MissingReadsEmpty(Arc::new(kvhost::memory::MemoryStore::new())));
/// assert_eq!(store.get("missing")?, Some(Vec::new()));
/// // Everything it does not override is the wrapped store's, `get_many` included.
/// assert!(!store.exists("missing")?);
/// assert_eq!(store.get_many(&["missing".to_owned()])?, [("missing".to_owned(), None)]);
/// # Ok::<(), Error>(())
/// ```
///
/// Within a wrapper, call the wrapped store through [`StoreWrapper::inner`] (or the field holding it); where both
/// traits are in scope, a method called on the wrapper itself needs naming its trait (`Store::get(self, key)`).
pub trait StoreWrapper: Send + Sync {
    /// The wrapped store, which every operation the wrapper does not override goes to.
    fn inner(&self) -> &dyn Store;

    /// [`Store::get`]; by default the wrapped store's.
    ///
    /// # Errors
    ///
    /// As [`Store::get`].
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner().get(key)
    }

    /// [`Store::set`]; by default the wrapped store's.
    ///
    /// # Errors
    ///
    /// As [`Store::set`].
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.inner().set(key, value)
    }

    /// [`Store::delete`]; by default the wrapped store's.
    ///
    /// # Errors
    ///
    /// As [`Store::delete`].
    fn delete(&self, key: &str) -> Result<(), Error> {
        self.inner().delete(key)
    }

    /// [`Store::exists`]; by default the wrapped store's.
    ///
    /// # Errors
    ///
    /// As [`Store::exists`].
    fn exists(&self, key: &str) -> Result<bool, Error> {
        self.inner().exists(key)
    }

    /// [`Store::get_keys`]; by default the wrapped store's.
    ///
    /// # Errors
    ///
    /// As [`Store::get_keys`].
    fn get_keys(&self) -> Result<Vec<String>, Error> {
        self.inner().get_keys()
    }

    /// [`Store::key_count`]; by default the wrapped store's.
    ///
    /// # Errors
    ///
    /// As [`Store::key_count`].
    fn key_count(&self) -> Result<usize, Error> {
        self.inner().key_count()
    }

    /// [`Store::list_keys`]; by default the wrapped store's.
    ///
    /// # Errors
    ///
    /// As [`Store::list_keys`].
    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        self.inner().list_keys(after, limit)
    }

    /// [`Store::increment`]; by default the wrapped store's.
    ///
    /// # Errors
    ///
    /// As [`Store::increment`].
    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        self.inner().increment(key, delta)
    }

    /// [`Store::compare_and_swap`]; by default the wrapped store's.
    ///
    /// # Errors
    ///
    /// As [`Store::compare_and_swap`].
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error> {
        self.inner().compare_and_swap(key, expected, new)
    }

    /// [`Store::get_many`]; by default the wrapped store's own `get_many`, not this wrapper's `get` key by key.
    ///
    /// # Errors
    ///
    /// As [`Store::get_many`].
    fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error> {
        self.inner().get_many(keys)
    }

    /// [`Store::set_many`]; by default the wrapped store's own `set_many`, not this wrapper's `set` pair by pair.
    ///
    /// # Errors
    ///
    /// As [`Store::set_many`].
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        self.inner().set_many(entries)
    }

    /// [`Store::delete_many`]; by default the wrapped store's own `delete_many`, not this wrapper's `delete` key
    /// by key.
    ///
    /// # Errors
    ///
    /// As [`Store::delete_many`].
    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        self.inner().delete_many(keys)
    }
}

/// Every [`StoreWrapper`] is a [`Store`]: each operation is the wrapper's method of the same name.
impl<W: StoreWrapper> Store for W {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        StoreWrapper::get(self, key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        StoreWrapper::set(self, key, value)
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        StoreWrapper::delete(self, key)
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        StoreWrapper::exists(self, key)
    }

    fn get_keys(&self) -> Result<Vec<String>, Error> {
        StoreWrapper::get_keys(self)
    }

    fn key_count(&self) -> Result<usize, Error> {
        StoreWrapper::key_count(self)
    }

    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        StoreWrapper::list_keys(self, after, limit)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        StoreWrapper::increment(self, key, delta)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error> {
        StoreWrapper::compare_and_swap(self, key, expected, new)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error> {
        StoreWrapper::get_many(self, keys)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        StoreWrapper::set_many(self, entries)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        StoreWrapper::delete_many(self, keys)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A WIT error with every case kvhost's versions have between them.
    #[derive(Debug, PartialEq)]
    enum Wit {
        Full,
        NoSuchStore,
        Denied,
        Other(String),
    }

    fn to_guest(error: Error, has_full: bool) -> wasmtime::Result<Wit> {
        error.to_guest(
            has_full.then_some(Wit::Full),
            Wit::NoSuchStore,
            Wit::Denied,
            Wit::Other,
        )
    }

    #[test]
    fn each_error_becomes_its_case_and_a_trap_stays_a_trap() {
        assert_eq!(to_guest(Error::StoreTableFull, true).unwrap(), Wit::Full);
        assert_eq!(
            to_guest(Error::NoSuchStore, true).unwrap(),
            Wit::NoSuchStore
        );
        assert_eq!(to_guest(Error::AccessDenied, false).unwrap(), Wit::Denied);
        assert_eq!(
            to_guest(Error::Other("disk full".into()), true).unwrap(),
            Wit::Other("disk full".into())
        );
        // Without a `store-table-full` case, `other` says what happened and what to do.
        assert_eq!(
            to_guest(Error::StoreTableFull, false).unwrap(),
            Wit::Other(Error::StoreTableFull.to_string())
        );
        let trap = to_guest(Error::Trap("poisoned".into()), true).unwrap_err();
        assert_eq!(trap.to_string(), "poisoned");
    }
}
