//! Faulty hosts for the self-test: each is a correct host with exactly one deliberate fault, plugged into the
//! suite the way a user's host would be, so the self-test shows that the suite catches that fault.
//!
//! Backend faults are [`StoreManager`]s served by the reference host's bindings (the plug a backend author
//! uses): each is kvhost's memory backend behind a [`StoreWrapper`] that overrides only what the faults change,
//! and a backend that must make the guest trap answers [`Error::Trap`]. A fault that no backend can produce (a v3
//! key future that lies) replaces one function of kvhost's binding of the whole host ([`ShadowedHost`]).

use anyhow::Result;
use kvconf::host::{AppSpec, HostUnderTest};
use kvconf::interface::Interface;
use kvconf::profile::Profile;
use kvconf::reference::{Backend, HostSettings, ReferenceApp, ReferenceHost};
use kvhost::limits::{LimitedStore, Limits};
use kvhost::memory::MemoryStores;
use kvhost::v3::{KeyListing, StoreHandle, V3_PAGE_SIZE, WitError};
use kvhost::{Error, KeyValueState, Store, StoreManager, StoreWrapper};
use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Destination, FutureProducer, FutureReader, HasSelf, Linker, LinkerInstance, Resource,
    StreamProducer, StreamReader, StreamResult, VecBuffer,
};

/// One deliberate fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// None: the correct backend every faulty one starts from.
    None,
    /// Deleting an absent key fails (DELETE-ABSENT).
    DeleteAbsentErrors,
    /// A missing key reads as the empty value (GET-MISSING).
    MissingReadsEmpty,
    /// `set` of a key holding `#` or `?` fails with `other`, as a document store that refuses those characters
    /// in its ids would (KEY-TEXT: any string is a key).
    RefusesKeyPunctuation,
    /// An overwrite writes over the old bytes in place, so a shorter value keeps the old tail (SET-OVERWRITE).
    OverwriteKeepsStaleBytes,
    /// The key listing leaves out one key, the greatest, when there are two or more (KEYS-EXACT).
    ListingDropsAKey,
    /// Every label reaches one store (ISOLATION-LABEL).
    LabelsShareData,
    /// A value past the limit is refused, but its first bytes are written anyway (LIMIT-BEYOND).
    RefusedWriteStillWrites,
    /// `get-many` leaves out the keys it does not find (BATCH-GET-MANY).
    GetManyOmitsMissing,
    /// `increment` panics on a value that is not a counter (ATOMIC-INCREMENT-BAD).
    IncrementPanicsOnText,
    /// `compare-and-swap` writes whatever the key holds now (ATOMIC-CAS).
    SwapIgnoresInterveningWrites,
    /// `compare-and-swap` checks only that the key is present (or absent) as expected, not what it holds, so a
    /// swap whose key was overwritten since its `cas` was made still writes (ATOMIC-CAS, CONCURRENT-ATOMIC): of
    /// several swaps made from one value all succeed. The scripted case that overwrites a key between `cas.new`
    /// and `swap` catches it; the concurrent histories of wasi draft2 catch it (`tests/concurrency.rs`).
    SwapChecksPresenceOnly,
    /// `increment` and `compare-and-swap` read, yield the processor, then write: not atomic, so concurrent
    /// increments lose updates (CONCURRENT-ATOMIC), also through the draft edition, whose increment kvhost makes
    /// of `get` and `compare-and-swap`. Not in [`Fault::BACKEND_FAULTS`]: one at a time it is right; the
    /// concurrent histories catch it (`tests/concurrency.rs`).
    AtomicsReadThenWrite,
    /// `increment` and `compare-and-swap` write past the declared limits (a new tuple in a full store, a value
    /// past the value limit), as a host that checks its limits only in `set` would (LIMIT-BEYOND).
    AtomicsIgnoreLimits,
    /// A page of keys starts at the cursor's key instead of after it, so paged and streamed listings repeat
    /// it (KEYS-V3-STREAM, KEYS-WASI-CURSOR).
    PagesRepeatTheirFirstKey,
    /// Listing a page of keys panics: under v3, inside the host's stream of keys.
    ListingPanics,
    /// Listing fails after the first page: every page but the first is `Error::Other`. Not a fault in itself
    /// (a backend may fail); served by [`FutureLiesHost`], whose v3 key future reports `ok` anyway.
    ListingFailsAfterFirstPage,
    /// `exists` panics (a host panic).
    ExistsPanics,
    /// `exists` makes the guest trap: the backend answers [`Error::Trap`], which every version's binding turns
    /// into a trap. Served by [`trapping_host`].
    ExistsTraps,
    /// `exists` never returns (a hung host).
    ExistsHangs,
    /// Listing a page of keys never returns: under v3, inside the host's stream of keys, where the guest waits on
    /// the stream rather than on a call.
    ListingHangs,
    /// wasi `get-many` never returns: a hung host inside a batch call.
    GetManyHangs,
    /// A write-behind cache per open handle: each handle keeps its sets and deletes to itself (its own reads
    /// and listings see them) and writes them to the shared store only when it is dropped (closed, or its
    /// instance ends). Through one handle nothing looks wrong, but a write that has returned stays invisible to
    /// other instances until the writer's instance ends, and a late flush overwrites later writes
    /// (CONCURRENT-VISIBLE): the concurrent histories of `kvconf::history` catch it (`tests/concurrency.rs`).
    /// Not in [`Fault::BACKEND_FAULTS`]; of the scripted cases only those with two handles onto one label in one
    /// instance (OPEN-TWICE and a few others) notice it.
    ///
    /// Out-of-process it hardly shows: each request is an instance of its own, whose handle is dropped (and its
    /// writes flushed) as the request ends, so a history of one operation per request sees it only when a flush
    /// is overtaken by the next request. [`Fault::DelayedVisibility`] is the late write a served host can show.
    WriteBehindCache,
    /// Writes become visible late: a `set` or `delete` returns at once, but reaches the store other handles read
    /// only [`VISIBILITY_DELAY`] later (the handle that wrote it sees it at once). Every handle, in one instance or
    /// in another, in-process or served, reads stale data in the meantime (CONCURRENT-VISIBLE), as a host with
    /// an eventually consistent replica would. Not in [`Fault::BACKEND_FAULTS`]: served by `kvconf-faulty-host`
    /// for the out-of-process histories (`tests/out_of_process.rs`).
    DelayedVisibility,
}

/// How long a write of [`Fault::DelayedVisibility`] stays invisible to other handles.
pub const VISIBILITY_DELAY: std::time::Duration = std::time::Duration::from_millis(200);

impl Fault {
    /// The backend faults the self-test checks, each with the statement a case must fail on and the
    /// interface version it is checked through.
    pub const BACKEND_FAULTS: [(Fault, &'static str, Interface); 18] = [
        (Fault::DeleteAbsentErrors, "DELETE-ABSENT", Interface::V2),
        (Fault::MissingReadsEmpty, "GET-MISSING", Interface::V2),
        (Fault::RefusesKeyPunctuation, "KEY-TEXT", Interface::V2),
        (
            Fault::OverwriteKeepsStaleBytes,
            "SET-OVERWRITE",
            Interface::V2,
        ),
        (Fault::ListingDropsAKey, "KEYS-EXACT", Interface::V2),
        (Fault::LabelsShareData, "ISOLATION-LABEL", Interface::V2),
        (
            Fault::RefusedWriteStillWrites,
            "LIMIT-BEYOND",
            Interface::V2,
        ),
        (Fault::MissingReadsEmpty, "GET-MISSING", Interface::V1),
        (
            Fault::PagesRepeatTheirFirstKey,
            "KEYS-V3-STREAM",
            Interface::V3,
        ),
        (
            Fault::PagesRepeatTheirFirstKey,
            "KEYS-WASI-CURSOR",
            Interface::WasiKeyvalue,
        ),
        (
            Fault::PagesRepeatTheirFirstKey,
            "KEYS-WASI-CURSOR",
            Interface::WasiKeyvalueDraft,
        ),
        (
            Fault::GetManyOmitsMissing,
            "BATCH-GET-MANY",
            Interface::WasiKeyvalue,
        ),
        (
            Fault::GetManyOmitsMissing,
            "BATCH-GET-MANY",
            Interface::WasiKeyvalueDraft,
        ),
        (
            Fault::IncrementPanicsOnText,
            "ATOMIC-INCREMENT-BAD",
            Interface::WasiKeyvalue,
        ),
        (
            Fault::SwapIgnoresInterveningWrites,
            "ATOMIC-CAS",
            Interface::WasiKeyvalue,
        ),
        (
            Fault::SwapChecksPresenceOnly,
            "ATOMIC-CAS",
            Interface::WasiKeyvalue,
        ),
        (
            Fault::AtomicsIgnoreLimits,
            "LIMIT-BEYOND",
            Interface::WasiKeyvalue,
        ),
        (
            Fault::AtomicsIgnoreLimits,
            "LIMIT-BEYOND",
            Interface::WasiKeyvalueDraft,
        ),
    ];
}

/// Checks what the self-test asks of a generated finding, shrunk: at most five case-file entries (a `repeat`ed
/// fill is one), and a case citing `statement`. `what` names the host and version in the messages.
pub fn assert_small_finding(finding: &kvconf::fuzz::Finding, what: &str, statement: &str) {
    assert!(
        finding.generated.entries <= 5,
        "{what}: the shrunk case has {} entries:\n{}",
        finding.generated.entries,
        finding.text
    );
    assert!(
        finding
            .generated
            .file
            .statements
            .iter()
            .any(|s| s == statement),
        "{what}: the shrunk case cites {:?}, not {statement}:\n{}",
        finding.generated.file.statements,
        finding.text
    );
}

/// The reference host's bindings serving the in-memory backend with `fault`, under the sip010 profile; the
/// backend enforces the profile's limits itself, as a user's backend would.
pub fn faulty_host(fault: Fault) -> ReferenceHost {
    let name = format!("{fault:?}");
    let profile = ReferenceHost::sip010_profile();
    ReferenceHost::with_backend(
        &name,
        profile.clone(),
        Arc::new(move |app: &AppSpec<'_>| Ok(faulty_manager(fault, app.labels, &profile))),
    )
}

/// The reference host's bindings over the memory backend, under the sip010 profile, whose `exists` makes the guest
/// trap ([`Fault::ExistsTraps`]).
pub fn trapping_host() -> ReferenceHost {
    faulty_host(Fault::ExistsTraps).named("trapping")
}

/// The in-memory backend with `fault`, defining "default" and `labels`, enforcing `profile`'s limits itself.
/// Served in-process by [`faulty_host`], and out-of-process by the `kvconf-faulty-host` binary.
pub fn faulty_manager(fault: Fault, labels: &[String], profile: &Profile) -> Arc<dyn StoreManager> {
    Arc::new(FaultyManager {
        inner: MemoryStores::new(),
        delayed: Mutex::new(BTreeMap::new()),
        handles: std::sync::atomic::AtomicU64::new(0),
        defined: labels
            .iter()
            .cloned()
            .chain(["default".to_string()])
            .collect(),
        fault,
        limits: HostSettings::from_profile(profile).limits,
    })
}

impl Fault {
    /// Every fault, for finding one by name.
    pub const ALL: [Fault; 24] = [
        Fault::None,
        Fault::DeleteAbsentErrors,
        Fault::MissingReadsEmpty,
        Fault::RefusesKeyPunctuation,
        Fault::OverwriteKeepsStaleBytes,
        Fault::ListingDropsAKey,
        Fault::LabelsShareData,
        Fault::RefusedWriteStillWrites,
        Fault::GetManyOmitsMissing,
        Fault::IncrementPanicsOnText,
        Fault::SwapIgnoresInterveningWrites,
        Fault::SwapChecksPresenceOnly,
        Fault::AtomicsIgnoreLimits,
        Fault::AtomicsReadThenWrite,
        Fault::PagesRepeatTheirFirstKey,
        Fault::ListingPanics,
        Fault::ListingFailsAfterFirstPage,
        Fault::ExistsPanics,
        Fault::ExistsTraps,
        Fault::ExistsHangs,
        Fault::ListingHangs,
        Fault::GetManyHangs,
        Fault::WriteBehindCache,
        Fault::DelayedVisibility,
    ];

    /// The fault named `name` (its Rust name, `DeleteAbsentErrors`).
    pub fn named(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| format!("{f:?}") == name)
    }
}

/// kvhost's memory backend with one fault, defining "default" and the application's labels. Each store it serves is
/// the memory store (or, per `open`, a cache or a delayed view of it) behind the profile's limits, behind a
/// [`FaultyStore`]. The limits sit inside the fault, as in a backend that enforces its own, rather than around the
/// whole backend ([`ReferenceHost::with_profile_limits`]): the limit checks read `exists` and `get_keys`, which some
/// faults change or make panic, and [`Fault::AtomicsIgnoreLimits`] goes around them. So this manager is also
/// served as it is out of process, where nothing else applies the limits.
struct FaultyManager {
    inner: MemoryStores,
    /// With [`Fault::DelayedVisibility`]: each label's store and the writes not yet visible.
    delayed: Mutex<BTreeMap<String, Arc<DelayedShared>>>,
    /// With [`Fault::DelayedVisibility`]: handles opened so far (each names its own writes).
    handles: std::sync::atomic::AtomicU64,
    defined: BTreeSet<String>,
    fault: Fault,
    limits: Limits,
}

impl StoreManager for FaultyManager {
    fn get(&self, label: &str) -> Result<Arc<dyn Store>, Error> {
        if !self.defined.contains(label) {
            return Err(Error::NoSuchStore);
        }
        let label = if self.fault == Fault::LabelsShareData {
            "shared"
        } else {
            label
        };
        let backend: Arc<dyn Store> = match self.fault {
            // Every `open` gets a cache of its own over the shared store, under the correct limits.
            Fault::WriteBehindCache => Arc::new(WriteBehindStore {
                shared: self.inner.store(label),
                cache: Mutex::new(BTreeMap::new()),
            }),
            // Every `open` gets a handle of its own onto the label's delayed store.
            Fault::DelayedVisibility => {
                let shared = self
                    .delayed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(label.to_string())
                    .or_insert_with(|| {
                        Arc::new(DelayedShared {
                            store: self.inner.store(label),
                            pending: Mutex::new(std::collections::VecDeque::new()),
                        })
                    })
                    .clone();
                Arc::new(DelayedStore {
                    shared,
                    handle: self
                        .handles
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                })
            }
            _ => self.inner.store(label),
        };
        let mut limits = self.limits;
        let mut leaky_value_limit = None;
        if self.fault == Fault::RefusedWriteStillWrites {
            // The value limit is the faulty store's own; the rest stays with the correct wrapper.
            leaky_value_limit = limits.max_value_bytes.take();
        }
        Ok(Arc::new(FaultyStore {
            inner: Arc::new(LimitedStore::new(backend.clone(), limits)),
            unlimited: backend,
            fault: self.fault,
            leaky_value_limit,
        }))
    }

    fn is_defined(&self, label: &str) -> bool {
        self.defined.contains(label)
    }
}

/// A store with one fault: the correct store it wraps, but for the operations [`Fault`] changes.
struct FaultyStore {
    inner: Arc<dyn Store>,
    /// The same store without the limits, for [`Fault::AtomicsIgnoreLimits`].
    unlimited: Arc<dyn Store>,
    fault: Fault,
    /// With [`Fault::RefusedWriteStillWrites`]: the value limit this store enforces, badly.
    leaky_value_limit: Option<usize>,
}

impl StoreWrapper for FaultyStore {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let value = self.inner.get(key)?;
        if self.fault == Fault::MissingReadsEmpty && value.is_none() {
            return Ok(Some(Vec::new()));
        }
        Ok(value)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        if let Some(limit) = self.leaky_value_limit
            && value.len() > limit
        {
            // The fault: the refusal comes after the first `limit` bytes were written.
            self.inner.set(key, &value[..limit])?;
            return Err(Error::Other("value too large".into()));
        }
        if self.fault == Fault::RefusesKeyPunctuation && key.contains(['#', '?']) {
            return Err(Error::Other(format!(
                "{key:?}: keys may not hold '#' or '?'"
            )));
        }
        if self.fault == Fault::OverwriteKeepsStaleBytes
            && let Some(mut old) = self.inner.get(key)?
            && old.len() > value.len()
        {
            old[..value.len()].copy_from_slice(value);
            return self.inner.set(key, &old);
        }
        self.inner.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        if self.fault == Fault::DeleteAbsentErrors && !self.inner.exists(key)? {
            return Err(Error::Other(format!("no key {key:?} to delete")));
        }
        self.inner.delete(key)
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        match self.fault {
            Fault::ExistsPanics => panic!("deliberate panic in exists({key:?})"),
            Fault::ExistsTraps => Err(Error::Trap(format!(
                "deliberate host fault in exists({key:?})"
            ))),
            Fault::ExistsHangs => hang(),
            _ => self.inner.exists(key),
        }
    }

    fn get_keys(&self) -> Result<Vec<String>, Error> {
        let mut keys = self.inner.get_keys()?;
        if self.fault == Fault::ListingDropsAKey && keys.len() >= 2 {
            keys.sort();
            keys.pop();
        }
        Ok(keys)
    }

    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        if self.fault == Fault::ListingHangs {
            hang();
        }
        if self.fault == Fault::ListingPanics {
            panic!("deliberate panic while listing keys after {after:?}");
        }
        if self.fault == Fault::ListingFailsAfterFirstPage
            && let Some(after) = after
        {
            return Err(Error::Other(format!(
                "deliberate failure listing keys after {after:?}"
            )));
        }
        if self.fault == Fault::PagesRepeatTheirFirstKey
            && let Some(after) = after
        {
            // Inclusive of the cursor's key: the last key of one page is the first of the next.
            let mut page = vec![after.to_string()];
            page.extend(self.inner.list_keys(Some(after), limit.saturating_sub(1))?);
            return Ok(page);
        }
        self.inner.list_keys(after, limit)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        if self.fault == Fault::IncrementPanicsOnText
            && let Some(value) = self.inner.get(key)?
            && std::str::from_utf8(&value)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .is_none()
        {
            panic!("deliberate panic: {key:?} does not hold a counter");
        }
        if self.fault == Fault::AtomicsIgnoreLimits {
            return self.unlimited.increment(key, delta);
        }
        if self.fault == Fault::AtomicsReadThenWrite {
            let current = kvhost::backend::decode_counter(key, self.inner.get(key)?.as_deref())?;
            std::thread::yield_now();
            let new = kvhost::backend::add_to_counter(key, current, delta)?;
            self.inner.set(key, &kvhost::backend::encode_counter(new))?;
            return Ok(new);
        }
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error> {
        if self.fault == Fault::SwapIgnoresInterveningWrites {
            self.inner.set(key, new)?;
            return Ok(true);
        }
        if self.fault == Fault::AtomicsIgnoreLimits {
            return self.unlimited.compare_and_swap(key, expected, new);
        }
        if self.fault == Fault::SwapChecksPresenceOnly {
            if self.inner.exists(key)? != expected.is_some() {
                return Ok(false);
            }
            self.inner.set(key, new)?;
            return Ok(true);
        }
        if self.fault == Fault::AtomicsReadThenWrite {
            let current = self.inner.get(key)?;
            std::thread::yield_now();
            if current.as_deref() != expected {
                return Ok(false);
            }
            self.inner.set(key, new)?;
            return Ok(true);
        }
        self.inner.compare_and_swap(key, expected, new)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<(String, Option<Vec<u8>>)>, Error> {
        if self.fault == Fault::GetManyHangs {
            hang();
        }
        let mut entries = self.inner.get_many(keys)?;
        if self.fault == Fault::GetManyOmitsMissing {
            entries.retain(|(_, value)| value.is_some());
        }
        Ok(entries)
    }
}

/// Never returns: a hung host call (its thread is left behind by the runner's timeout).
fn hang() -> ! {
    loop {
        std::thread::park();
    }
}

/// The store of one handle with [`Fault::WriteBehindCache`]: its writes (`None` for a delete) wait in `cache`
/// until it is dropped.
struct WriteBehindStore {
    shared: Arc<dyn Store>,
    cache: Mutex<BTreeMap<String, Option<Vec<u8>>>>,
}

impl WriteBehindStore {
    fn cache(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<Vec<u8>>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every key as this handle sees it: the shared store's, with the cached writes applied.
    fn keys(&self) -> Result<Vec<String>, Error> {
        keys_with(self.shared.as_ref(), self.cache().iter())
    }
}

/// Every key of `shared`, in order, with `writes` (each key's value, or `None` for a delete) applied in turn.
fn keys_with<'a>(
    shared: &dyn Store,
    writes: impl Iterator<Item = (&'a String, &'a Option<Vec<u8>>)>,
) -> Result<Vec<String>, Error> {
    let mut keys: BTreeSet<String> = shared.get_keys()?.into_iter().collect();
    for (key, value) in writes {
        if value.is_some() {
            keys.insert(key.clone());
        } else {
            keys.remove(key);
        }
    }
    Ok(keys.into_iter().collect())
}

/// The page of `keys` (in order) that [`Store::list_keys`] answers: at most `limit` of them, each after `after`.
fn page_of(keys: Vec<String>, after: Option<&str>, limit: usize) -> Vec<String> {
    let after = |k: &String| after.is_none_or(|a| k.as_str() > a);
    keys.into_iter().filter(after).take(limit).collect()
}

/// Not a [`StoreWrapper`]: it changes what every operation means (a handle reads and writes its own view of the
/// shared store), so it is a [`Store`] of its own, whose batch operations go through its own `get`, `set` and
/// `delete`.
impl Store for WriteBehindStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        if let Some(cached) = self.cache().get(key) {
            return Ok(cached.clone());
        }
        self.shared.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.cache().insert(key.to_string(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.cache().insert(key.to_string(), None);
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(self.get(key)?.is_some())
    }

    fn get_keys(&self) -> Result<Vec<String>, Error> {
        self.keys()
    }

    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        Ok(page_of(self.keys()?, after, limit))
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        let mut cache = self.cache();
        let current = match cache.get(key) {
            Some(cached) => cached.clone(),
            None => self.shared.get(key)?,
        };
        let current = kvhost::backend::decode_counter(key, current.as_deref())?;
        let new = kvhost::backend::add_to_counter(key, current, delta)?;
        cache.insert(key.to_string(), Some(kvhost::backend::encode_counter(new)));
        Ok(new)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error> {
        let mut cache = self.cache();
        let current = match cache.get(key) {
            Some(cached) => cached.clone(),
            None => self.shared.get(key)?,
        };
        if current.as_deref() != expected {
            return Ok(false);
        }
        cache.insert(key.to_string(), Some(new.to_vec()));
        Ok(true)
    }
}

impl Drop for WriteBehindStore {
    /// The flush: the cached writes reach the shared store only now.
    fn drop(&mut self) {
        let cache = std::mem::take(self.cache.get_mut().unwrap_or_else(|e| e.into_inner()));
        for (key, value) in cache {
            let _ = match value {
                Some(value) => self.shared.set(&key, &value),
                None => self.shared.delete(&key),
            };
        }
    }
}

/// One label's store with [`Fault::DelayedVisibility`]: the store every handle reads, and the writes on their way
/// to it, oldest first.
struct DelayedShared {
    store: Arc<dyn Store>,
    pending: Mutex<std::collections::VecDeque<Pending>>,
}

/// A write of [`Fault::DelayedVisibility`] not yet visible to other handles.
struct Pending {
    /// When it becomes visible.
    due: std::time::Instant,
    /// The handle that wrote it (which sees it at once).
    handle: u64,
    key: String,
    /// The value, or `None` for a delete.
    value: Option<Vec<u8>>,
}

/// One handle with [`Fault::DelayedVisibility`]: like [`WriteBehindStore`], a [`Store`] of its own.
struct DelayedStore {
    shared: Arc<DelayedShared>,
    handle: u64,
}

impl DelayedStore {
    /// The writes on their way, after those that are due have reached the store.
    fn pending(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, std::collections::VecDeque<Pending>>, Error> {
        let mut pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        while let Some(p) = pending.pop_front_if(|p| p.due <= now) {
            self.reach(p)?;
        }
        Ok(pending)
    }

    /// Every write on its way reaches the store now (before an increment or a swap, which read and write at once).
    fn settle(&self) -> Result<(), Error> {
        let mut pending = self.pending()?;
        while let Some(p) = pending.pop_front() {
            self.reach(p)?;
        }
        Ok(())
    }

    /// A write reaches the store every handle reads.
    fn reach(&self, p: Pending) -> Result<(), Error> {
        match p.value {
            Some(value) => self.shared.store.set(&p.key, &value),
            None => self.shared.store.delete(&p.key),
        }
    }

    fn write(&self, key: &str, value: Option<&[u8]>) -> Result<(), Error> {
        self.pending()?.push_back(Pending {
            due: std::time::Instant::now() + VISIBILITY_DELAY,
            handle: self.handle,
            key: key.to_string(),
            value: value.map(<[u8]>::to_vec),
        });
        Ok(())
    }

    /// This handle's latest write of `key` still on its way, if any (`Some(None)`: a delete).
    fn own(
        pending: &std::collections::VecDeque<Pending>,
        handle: u64,
        key: &str,
    ) -> Option<Option<Vec<u8>>> {
        pending
            .iter()
            .rev()
            .find(|p| p.handle == handle && p.key == key)
            .map(|p| p.value.clone())
    }
}

impl Store for DelayedStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let pending = self.pending()?;
        match Self::own(&pending, self.handle, key) {
            Some(value) => Ok(value),
            None => self.shared.store.get(key),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.write(key, Some(value))
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.write(key, None)
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(self.get(key)?.is_some())
    }

    fn get_keys(&self) -> Result<Vec<String>, Error> {
        let pending = self.pending()?;
        let own = pending.iter().filter(|p| p.handle == self.handle);
        keys_with(self.shared.store.as_ref(), own.map(|p| (&p.key, &p.value)))
    }

    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        Ok(page_of(self.get_keys()?, after, limit))
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        self.settle()?;
        self.shared.store.increment(key, delta)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error> {
        self.settle()?;
        self.shared.store.compare_and_swap(key, expected, new)
    }
}

/// One function of one interface's binding, replaced by a faulty one: the fault of a [`ShadowedHost`].
pub trait Shadow: Send + Sync + 'static {
    /// The interface whose binding has the fault.
    const INTERFACE: Interface;
    /// Redefines the faulty function in that interface's linker instance.
    fn shadow<T: Send + 'static>(
        instance: &mut LinkerInstance<'_, T>,
        get: fn(&mut T) -> &mut KeyValueState,
    ) -> Result<()>;
}

/// The reference host with one function of one interface's binding replaced (a fault no backend can make), as
/// a buggy embedding might have it; every other interface is linked as usual.
pub struct ShadowedHost<S> {
    host: ReferenceHost,
    fault: PhantomData<fn() -> S>,
}

impl<S: Shadow> ShadowedHost<S> {
    /// `host` with the fault `S`.
    pub fn new(host: ReferenceHost) -> Self {
        ShadowedHost {
            host,
            fault: PhantomData,
        }
    }
}

impl<S: Shadow> HostUnderTest for ShadowedHost<S> {
    type Data = KeyValueState;
    type App = ReferenceApp;

    fn backend(&self) -> &str {
        self.host.backend()
    }

    fn profile(&self) -> &Profile {
        self.host.profile()
    }

    fn add_to_linker<T: Send + 'static>(
        &self,
        interface: Interface,
        linker: &mut Linker<T>,
        get: fn(&mut T) -> &mut KeyValueState,
    ) -> Result<()> {
        self.host.add_to_linker(interface, linker, get)?;
        if interface != S::INTERFACE {
            return Ok(());
        }
        linker.allow_shadowing(true);
        S::shadow(&mut linker.instance(interface.wit_name())?, get)?;
        linker.allow_shadowing(false);
        Ok(())
    }

    fn load(&self, app: &AppSpec<'_>) -> Result<ReferenceApp> {
        self.host.load(app)
    }

    fn instance_data(&self, app: &ReferenceApp, component: &str) -> Result<KeyValueState> {
        self.host.instance_data(app, component)
    }
}

/// A whole v3 host whose `get-keys` future lies: when the backend fails part-way through a listing, the stream of
/// keys ends early (as it should) but the future resolves `ok` instead of to the error, so the guest takes a short
/// listing for a complete one. The reference host with that one linker function replaced; pair it with
/// [`Fault::ListingFailsAfterFirstPage`] (see [`future_lies_host`]).
pub type FutureLiesHost = ShadowedHost<FutureLies>;

/// The fault of [`FutureLiesHost`]: v3 `get-keys` whose future says `ok` whatever happened. kvhost's
/// `[method]store.get-keys` replaced by one of the host's own, made of kvhost's public parts (the resource type
/// [`StoreHandle`], [`KeyValueState::v3_store`], the paging of [`KeyListing`], [`WitError`]).
pub struct FutureLies;

/// The lying host over a backend whose listing fails after its first page.
pub fn future_lies_host() -> FutureLiesHost {
    ShadowedHost::new(faulty_host(Fault::ListingFailsAfterFirstPage).named("future-lies"))
}

/// The outcome of one lying key listing, shared by the stream that ends it and the future that reports it.
#[derive(Default)]
struct LyingOutcome {
    ended: bool,
    waker: Option<Waker>,
}

type SharedOutcome = Arc<Mutex<LyingOutcome>>;

/// Ends the listing, whatever happened to it: the lie is that the future always says `ok`.
fn end_listing(outcome: &SharedOutcome) {
    let mut outcome = outcome.lock().unwrap_or_else(|e| e.into_inner());
    outcome.ended = true;
    if let Some(waker) = outcome.waker.take() {
        waker.wake();
    }
}

/// The write end of the lying host's key stream: kvhost's own paging, one [`Store::list_keys`] call per read.
struct LyingKeyStream {
    listing: KeyListing,
    outcome: SharedOutcome,
}

impl<D> StreamProducer<D> for LyingKeyStream {
    type Item = String;
    type Buffer = VecBuffer<String>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut destination: Destination<'a, Self::Item, Self::Buffer>,
        _finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let this = self.get_mut();
        let room = destination
            .remaining(&mut store)
            .unwrap_or(V3_PAGE_SIZE.get());
        if room == 0 {
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        destination.set_buffer(this.listing.next_page(room).into());
        if this.listing.outcome().is_none() {
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        // The fault: the stream ends, as it should, but a failure is dropped here.
        end_listing(&this.outcome);
        Poll::Ready(Ok(StreamResult::Dropped))
    }
}

impl Drop for LyingKeyStream {
    fn drop(&mut self) {
        end_listing(&self.outcome);
    }
}

/// The write end of the lying host's key future: `ok` once the stream has ended, however it ended.
struct LyingKeyFuture(SharedOutcome);

impl<D> FutureProducer<D> for LyingKeyFuture {
    type Item = Result<(), WitError>;

    fn poll_produce(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _: StoreContextMut<D>,
        finish: bool,
    ) -> Poll<wasmtime::Result<Option<Self::Item>>> {
        let mut outcome = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if outcome.ended {
            Poll::Ready(Ok(Some(Ok(()))))
        } else if finish {
            Poll::Ready(Ok(None))
        } else {
            outcome.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// What v3 `get-keys` returns.
type KeysV3 = (StreamReader<String>, FutureReader<Result<(), WitError>>);

impl Shadow for FutureLies {
    const INTERFACE: Interface = Interface::V3;

    fn shadow<T: Send + 'static>(
        instance: &mut LinkerInstance<'_, T>,
        get: fn(&mut T) -> &mut KeyValueState,
    ) -> Result<()> {
        instance.func_wrap_concurrent(
            "[method]store.get-keys",
            move |accessor, (handle,): (Resource<StoreHandle>,)| {
                Box::pin(async move {
                    let accessor = accessor.with_getter::<HasSelf<KeyValueState>>(get);
                    let keys = accessor.with(|mut access| -> wasmtime::Result<KeysV3> {
                        let store = access.get().v3_store(&handle)?;
                        let outcome = SharedOutcome::default();
                        let stream = LyingKeyStream {
                            listing: KeyListing::new(store, V3_PAGE_SIZE),
                            outcome: outcome.clone(),
                        };
                        let stream = StreamReader::new(&mut access, stream)?;
                        let future = FutureReader::new(&mut access, LyingKeyFuture(outcome))?;
                        Ok((stream, future))
                    })?;
                    Ok((keys,))
                })
            },
        )?;
        Ok(())
    }
}

/// A correct host that claims what it does not do: `host` runs as it is configured, and `claimed` is the profile
/// it declares. The self-test uses it to show that a false claim (durable stores that are in memory, one page
/// of keys from a host that pages) fails the cases that check the claim.
pub struct ClaimingHost {
    host: ReferenceHost,
    claimed: Profile,
}

impl ClaimingHost {
    /// `host`, declaring `claimed`.
    pub fn new(host: ReferenceHost, claimed: Profile) -> Self {
        ClaimingHost { host, claimed }
    }
}

/// The reference host on memory under `base` without the `v1-fresh-handles` claim: it gives each v1 `open` the
/// lowest closed number, as a host may (HANDLE-REUSE), and declares as much.
pub fn handle_reusing_host(base: Profile) -> ReferenceHost {
    let reuses = Profile {
        v1_fresh_handles: false,
        ..base
    };
    ReferenceHost::new(Backend::Memory, reuses)
}

/// [`handle_reusing_host`] claiming `v1-fresh-handles` all the same.
pub fn falsely_fresh_host(base: Profile) -> ClaimingHost {
    let host = handle_reusing_host(base);
    let claimed = Profile {
        v1_fresh_handles: true,
        ..host.profile().clone()
    };
    ClaimingHost::new(host, claimed)
}

impl HostUnderTest for ClaimingHost {
    type Data = KeyValueState;
    type App = ReferenceApp;

    fn backend(&self) -> &str {
        self.host.backend()
    }

    fn profile(&self) -> &Profile {
        &self.claimed
    }

    fn add_to_linker<T: Send + 'static>(
        &self,
        interface: Interface,
        linker: &mut Linker<T>,
        get: fn(&mut T) -> &mut KeyValueState,
    ) -> Result<()> {
        self.host.add_to_linker(interface, linker, get)
    }

    fn load(&self, app: &AppSpec<'_>) -> Result<ReferenceApp> {
        self.host.load(app)
    }

    fn instance_data(&self, app: &ReferenceApp, component: &str) -> Result<KeyValueState> {
        self.host.instance_data(app, component)
    }
}
