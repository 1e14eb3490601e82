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

use kvconf::host::{AppSpec, HostUnderTest};
use kvconf::interface::Interface;
use kvconf::profile::Profile;
use kvconf::reference::{ReferenceHost, add_kvhost_to_linker};
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
/// bindings (a host with bindings of its own adds those to the linker instead).
pub struct MyHost {
    profile: Profile,
}

impl MyHost {
    /// The host, claiming [`profile`].
    pub fn new() -> Self {
        MyHost { profile: profile() }
    }
}

impl Default for MyHost {
    fn default() -> Self {
        Self::new()
    }
}

/// A loaded application of [`MyHost`].
pub struct MyApp {
    stores: Arc<TinyStores>,
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
        Ok(MyApp {
            stores: Arc::new(TinyStores::new(app)),
            grants: app.grants.clone(),
        })
    }

    fn instance_data(&self, app: &MyApp, component: &str) -> anyhow::Result<KeyValueState> {
        let granted = app.grants.get(component).cloned().unwrap_or_default();
        Ok(KeyValueState::new(app.stores.clone(), granted, None)
            .with_v1_invalid_handle(kvhost::v1::V1InvalidHandle::Trap))
    }
}
