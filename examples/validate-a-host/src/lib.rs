//! Two ways to validate your work with kvconf, each a test binary of about ten lines (`tests/`):
//!
//! - **A backend** ([`TinyStores`]): implement kvhost's [`StoreManager`] and [`Store`] (the shape of Spin's
//!   store: get, set, delete, exists, keys, and what wasi:keyvalue adds), and hand it to
//!   `ReferenceHost::with_backend`; the reference host's bindings serve it on every interface version.
//! - **A whole host** ([`MyHost`]): implement [`HostUnderTest`]: how your embedding adds its key-value
//!   implementation to a wasmtime `Linker<T>`, how it loads an application (grants, configured labels), and the
//!   per-instance state. kvconf runs its driver components inside your host.
//!
//! Both are checked under a profile that says what they claim: here no limits, undefined labels answered with
//! `no-such-store` at `open`, a trap for a v1 handle that is not open, the empty key accepted, and v1 handle
//! numbers never reused (`v1-fresh-handles`: drop that claim if your handle table gives closed numbers again).
//! A backend without limits of its own can claim SIP 010's all the same: `ReferenceHost::with_backend(..)
//! .with_profile_limits()` puts it behind the profile's. A whole host gets what the reference host derives from
//! the profile (limits, open-store bound, v1 handle policy, ...) from [`HostSettings`].
//!
//! # Seeing the suite catch a bug
//!
//! A conformance test means most once it has been seen to fail. A [`StoreWrapper`](kvhost::StoreWrapper) breaks
//! one operation of a store and leaves every other as it was (the batch ones included; [`Error::Trap`] would make
//! the guest trap instead). Here a `delete` of an absent key fails, which DELETE-ABSENT forbids, and the suite's
//! cases for it fail:
//!
//! ```
//! use std::sync::Arc;
//! use kvconf::case::{self, Case};
//! use kvconf::catalogue::Catalogue;
//! use kvconf::interface::Interface;
//! use kvconf::reference::ReferenceHost;
//! use kvconf::runner::{Runner, Verdict};
//! use kvhost::{Error, Store, StoreManager, StoreWrapper};
//! use validate_a_host::{TinyStores, profile};
//!
//! /// A store whose `delete` of an absent key fails; everything else is the store it wraps.
//! struct DeleteAbsentErrors(Arc<dyn Store>);
//!
//! impl StoreWrapper for DeleteAbsentErrors {
//!     fn inner(&self) -> &dyn Store {
//!         &*self.0
//!     }
//!     fn delete(&self, key: &str) -> Result<(), Error> {
//!         if !self.0.exists(key)? {
//!             return Err(Error::Other(format!("no key {key:?} to delete")));
//!         }
//!         self.0.delete(key)
//!     }
//! }
//!
//! /// `TinyStores`, each store behind the bug.
//! struct Buggy(TinyStores);
//!
//! impl StoreManager for Buggy {
//!     fn get(&self, label: &str) -> Result<Arc<dyn Store>, Error> {
//!         Ok(Arc::new(DeleteAbsentErrors(self.0.get(label)?)))
//!     }
//!     fn is_defined(&self, label: &str) -> bool {
//!         self.0.is_defined(label)
//!     }
//! }
//!
//! let host = ReferenceHost::with_backend(
//!     "tiny-buggy",
//!     profile(),
//!     Arc::new(|app| Ok(Arc::new(Buggy(TinyStores::new(app))))),
//! );
//! let cases: Vec<Case> = case::load_dir(&case::default_dir(), Catalogue::builtin())
//!     .expect("kvconf's cases load")
//!     .into_iter()
//!     .filter(|c| c.file.statements.iter().any(|s| s == "DELETE-ABSENT"))
//!     .collect();
//! let work = std::env::temp_dir().join(format!("validate-a-host-{}", std::process::id()));
//! let runner = Runner::new(host, work.clone(), std::time::Duration::from_secs(30));
//! let results = runner.run_all(&cases, &[Interface::V2], 1);
//! assert!(results.iter().any(|r| matches!(r.verdict, Verdict::Fail(_))));
//! # std::fs::remove_dir_all(&work).ok();
//! ```

use kvconf::host::{AppSpec, HostUnderTest};
use kvconf::interface::Interface;
use kvconf::profile::Profile;
use kvconf::reference::{HostSettings, ReferenceHost, add_kvhost_to_linker};
use kvhost::backend::{add_to_counter, decode_counter, encode_counter};
use kvhost::{Error, KeyValueState, Store, StoreManager};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use wasmtime::component::Linker;

/// What both examples claim: kvconf's `unbounded` profile.
pub fn profile() -> Profile {
    ReferenceHost::unbounded_profile()
}

/// A backend: every defined label is a map in memory.
pub struct TinyStores {
    defined: BTreeSet<String>,
    data: Mutex<BTreeMap<String, Arc<TinyStore>>>,
}

impl TinyStores {
    /// The stores of one application: "default" and the labels its runtime configuration defines.
    pub fn new(app: &AppSpec<'_>) -> Self {
        let mut defined: BTreeSet<String> = app.labels.iter().cloned().collect();
        defined.insert("default".into());
        TinyStores {
            defined,
            data: Mutex::default(),
        }
    }
}

impl StoreManager for TinyStores {
    fn get(&self, label: &str) -> Result<Arc<dyn Store>, Error> {
        if !self.defined.contains(label) {
            return Err(Error::NoSuchStore);
        }
        let mut data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        Ok(data.entry(label.to_string()).or_default().clone())
    }

    fn is_defined(&self, label: &str) -> bool {
        self.defined.contains(label)
    }
}

/// One labelled store.
#[derive(Default)]
pub struct TinyStore(Mutex<BTreeMap<String, Vec<u8>>>);

impl TinyStore {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for TinyStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.map().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.map().insert(key.into(), value.into());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), Error> {
        self.map().remove(key);
        Ok(())
    }
    fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(self.map().contains_key(key))
    }
    fn get_keys(&self) -> Result<Vec<String>, Error> {
        Ok(self.map().keys().cloned().collect())
    }
    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        let map = self.map();
        let keys = map.keys().filter(|k| after.is_none_or(|a| k.as_str() > a));
        Ok(keys.take(limit).cloned().collect())
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        let mut map = self.map();
        let next = add_to_counter(
            key,
            decode_counter(key, map.get(key).map(Vec::as_slice))?,
            delta,
        )?;
        map.insert(key.into(), encode_counter(next));
        Ok(next)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error> {
        let mut map = self.map();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        map.insert(key.into(), new.into());
        Ok(true)
    }
}

/// A whole host: its own application loading and per-instance state, serving [`TinyStores`] through kvhost's
/// bindings (a host with bindings of its own adds those to the linker instead), configured as its profile claims.
pub struct MyHost {
    profile: Profile,
    settings: HostSettings,
}

impl MyHost {
    /// The host, claiming [`profile`].
    pub fn new() -> Self {
        let profile = profile();
        let settings = HostSettings::from_profile(&profile);
        MyHost { profile, settings }
    }
}

impl Default for MyHost {
    fn default() -> Self {
        Self::new()
    }
}

/// A loaded application of [`MyHost`].
pub struct MyApp {
    stores: Arc<dyn StoreManager>,
    grants: BTreeMap<String, Vec<String>>,
}

impl HostUnderTest for MyHost {
    type Data = KeyValueState;
    type App = MyApp;

    fn backend(&self) -> &str {
        "my-host"
    }

    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn add_to_linker<T: Send + 'static>(
        &self,
        interface: Interface,
        linker: &mut Linker<T>,
        get: fn(&mut T) -> &mut KeyValueState,
    ) -> anyhow::Result<()> {
        // kvhost's bindings; a host with bindings of its own adds those here instead.
        add_kvhost_to_linker(interface, linker, get)
    }

    fn load(&self, app: &AppSpec<'_>) -> anyhow::Result<MyApp> {
        // The profile's limits (none here), and its answer to a label no runtime config defines.
        let stores = self.settings.limited(Arc::new(TinyStores::new(app)));
        self.settings.check_grants(app.grants, stores.as_ref())?;
        Ok(MyApp {
            stores,
            grants: app.grants.clone(),
        })
    }

    fn instance_data(&self, app: &MyApp, component: &str) -> anyhow::Result<KeyValueState> {
        // The profile's open-store bound, v1 handle policy and wasi page size.
        let granted = app.grants.get(component).cloned().unwrap_or_default();
        Ok(self.settings.instance_state(app.stores.clone(), granted))
    }
}
