//! Faulty hosts for the self-test: each is a correct host with exactly one deliberate fault, plugged into the
//! suite the way a user's host would be, so the self-test shows that the suite catches that fault.
//!
//! Backend faults are [`StoreManager`]s served by the reference host's bindings (the plug a backend author
//! uses); host faults that no backend can produce (a trap) wrap the whole host.

use anyhow::Result;
use kvconf::host::{AppSpec, HostUnderTest};
use kvconf::interface::Interface;
use kvconf::profile::Profile;
use kvconf::reference::{ReferenceApp, ReferenceHost, kvhost_limits};
use kvhost::limits::{LimitedStore, Limits};
use kvhost::memory::MemoryStores;
use kvhost::{Error, KeyValueState, Store, StoreManager};
use std::collections::BTreeSet;
use std::sync::Arc;
use wasmtime::component::{ComponentType, Linker, Lower, ResourceAny};

/// One deliberate fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// None: the correct backend every faulty one starts from.
    None,
    /// Deleting an absent key fails (DELETE-ABSENT).
    DeleteAbsentErrors,
    /// A missing key reads as the empty value (GET-MISSING).
    MissingReadsEmpty,
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
    /// A page of keys starts at the cursor's key instead of after it, so paged and streamed listings repeat
    /// it (KEYS-V3-STREAM, KEYS-WASI-CURSOR).
    PagesRepeatTheirFirstKey,
    /// Listing a page of keys panics: under v3, inside the host's stream of keys.
    ListingPanics,
    /// `exists` panics (a host panic).
    ExistsPanics,
    /// `exists` never returns (a hung host).
    ExistsHangs,
}

impl Fault {
    /// The backend faults the self-test checks, each with the statement a case must fail on and the
    /// interface version it is checked through.
    pub const BACKEND_FAULTS: [(Fault, &'static str, Interface); 12] = [
        (Fault::DeleteAbsentErrors, "DELETE-ABSENT", Interface::V2),
        (Fault::MissingReadsEmpty, "GET-MISSING", Interface::V2),
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
            Fault::GetManyOmitsMissing,
            "BATCH-GET-MANY",
            Interface::WasiKeyvalue,
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
    ];
}

/// The reference host's bindings serving the in-memory backend with `fault`, under the sip010 profile; the
/// backend enforces the profile's limits itself, as a user's backend would.
pub fn faulty_host(fault: Fault) -> ReferenceHost {
    let name = format!("{fault:?}");
    let profile = ReferenceHost::sip010_profile();
    ReferenceHost::with_backend(
        &name,
        profile.clone(),
        Arc::new(move |app: &AppSpec<'_>| {
            let manager: Arc<dyn StoreManager> = Arc::new(FaultyManager {
                inner: MemoryStores::new(),
                defined: app
                    .labels
                    .iter()
                    .cloned()
                    .chain(["default".to_string()])
                    .collect(),
                fault,
                limits: kvhost_limits(&profile),
            });
            Ok(manager)
        }),
    )
}

struct FaultyManager {
    inner: MemoryStores,
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
        let raw: Arc<dyn Store> = self.inner.store(label);
        let store: Arc<dyn Store> = if self.fault == Fault::RefusedWriteStillWrites {
            // The value limit is this faulty store's own; the rest stays with the correct wrapper.
            let value_limit = self.limits.max_value_bytes.unwrap_or(usize::MAX);
            let others = Limits {
                max_value_bytes: None,
                ..self.limits
            };
            Arc::new(LimitedStore::new(
                Arc::new(LeakyLimit {
                    inner: raw,
                    value_limit,
                }),
                others,
            ))
        } else {
            Arc::new(LimitedStore::new(raw, self.limits))
        };
        Ok(Arc::new(FaultyStore {
            inner: store,
            fault: self.fault,
        }))
    }

    fn is_defined(&self, label: &str) -> bool {
        self.defined.contains(label)
    }
}

struct FaultyStore {
    inner: Arc<dyn Store>,
    fault: Fault,
}

impl Store for FaultyStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let value = self.inner.get(key)?;
        if self.fault == Fault::MissingReadsEmpty && value.is_none() {
            return Ok(Some(Vec::new()));
        }
        Ok(value)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
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
            Fault::ExistsHangs => loop {
                std::thread::park();
            },
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
        if self.fault == Fault::ListingPanics {
            panic!("deliberate panic while listing keys after {after:?}");
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
        self.inner.compare_and_swap(key, expected, new)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<(String, Option<Vec<u8>>)>, Error> {
        let mut entries = self.inner.get_many(keys)?;
        if self.fault == Fault::GetManyOmitsMissing {
            entries.retain(|(_, value)| value.is_some());
        }
        Ok(entries)
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        self.inner.set_many(entries)
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        self.inner.delete_many(keys)
    }
}

/// Refuses a value past the limit, but only after writing its first `limit` bytes.
struct LeakyLimit {
    inner: Arc<dyn Store>,
    value_limit: usize,
}

impl Store for LeakyLimit {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        if value.len() > self.value_limit {
            self.inner.set(key, &value[..self.value_limit])?;
            return Err(Error::Other("value too large".into()));
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

    // The methods the wasi:keyvalue and v3 interfaces added reach the inner store unchanged: the fault above is
    // this store's only one.
    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        self.inner.list_keys(after, limit)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error> {
        self.inner.compare_and_swap(key, expected, new)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<(String, Option<Vec<u8>>)>, Error> {
        self.inner.get_many(keys)
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        self.inner.set_many(entries)
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        self.inner.delete_many(keys)
    }
}

/// A whole host whose v2 `exists` traps: the reference host with that one linker function replaced by one that
/// returns a host error, as a buggy embedding might.
#[derive(Clone)]
pub struct TrappingHost(pub ReferenceHost);

/// The v2 error variant, so the replacement function has the interface's exact type.
#[derive(ComponentType, Lower)]
#[component(variant)]
pub enum WitError {
    /// `store-table-full`.
    #[component(name = "store-table-full")]
    StoreTableFull,
    /// `no-such-store`.
    #[component(name = "no-such-store")]
    NoSuchStore,
    /// `access-denied`.
    #[component(name = "access-denied")]
    AccessDenied,
    /// `other`.
    #[component(name = "other")]
    Other(String),
}

impl HostUnderTest for TrappingHost {
    type Data = KeyValueState;
    type App = ReferenceApp;

    fn backend(&self) -> &str {
        "trapping"
    }

    fn profile(&self) -> &Profile {
        self.0.profile()
    }

    fn add_to_linker<T: Send + 'static>(
        &self,
        interface: Interface,
        linker: &mut Linker<T>,
        get: fn(&mut T) -> &mut KeyValueState,
    ) -> Result<()> {
        self.0.add_to_linker(interface, linker, get)?;
        // The fault is in the v2 binding only; the replacement has v2's exact type.
        if interface != Interface::V2 {
            return Ok(());
        }
        linker.allow_shadowing(true);
        linker.instance(interface.wit_name())?.func_wrap(
            "[method]store.exists",
            |_store,
             (_handle, key): (ResourceAny, String)|
             -> wasmtime::Result<(Result<bool, WitError>,)> {
                Err(wasmtime::format_err!(
                    "deliberate host fault in exists({key:?})"
                ))
            },
        )?;
        linker.allow_shadowing(false);
        Ok(())
    }

    fn load(&self, app: &AppSpec<'_>) -> Result<ReferenceApp> {
        self.0.load(app)
    }

    fn instance_data(&self, app: &ReferenceApp, component: &str) -> Result<KeyValueState> {
        self.0.instance_data(app, component)
    }
}
