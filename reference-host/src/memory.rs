//! The in-memory backend: one map per label, kept for as long as the [`MemoryStores`] that holds it.
//!
//! An [`crate::app::Application`] keeps one [`MemoryStores`] and shares it with every instance, so data written by
//! one instance is read by the next ([PERSIST-INSTANCES]); nothing survives the process ([PERSIST-RESTART]: not
//! durable).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::backend::{Error, Store, StoreManager};

/// A [`StoreManager`] serving any label from memory: the first `get` of a label creates its empty map, and every
/// later `get` of that label returns the same map.
#[derive(Debug, Default)]
pub struct MemoryStores {
    stores: Mutex<HashMap<String, Arc<MemoryStore>>>,
}

impl MemoryStores {
    /// A manager with no stores yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store for `label`, created empty on first use. Every call for one label returns the same store, so
    /// labels are isolated from each other ([ISOLATION-LABEL]) and shared between handles ([OPEN-TWICE]).
    pub fn store(&self, label: &str) -> Arc<MemoryStore> {
        // A panic elsewhere while holding this lock cannot leave the map half-updated (an insert is all or
        // nothing), so a poisoned lock is safe to keep using.
        let mut stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(stores.entry(label.to_owned()).or_default())
    }
}

impl StoreManager for MemoryStores {
    fn get(&self, label: &str) -> Result<Arc<dyn Store>, Error> {
        Ok(self.store(label))
    }

    fn is_defined(&self, _label: &str) -> bool {
        true
    }
}

/// One in-memory store: a map from key to value behind a lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    // An RwLock so that concurrent instances can read at once; every write is one map operation under the write
    // lock, so a reader sees either the old value or the new one, never a torn one ([CONCURRENT-ATOMIC]).
    data: RwLock<HashMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store of its own, not attached to any [`MemoryStores`].
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Vec<u8>>> {
        // As in `MemoryStores::store`: every write is a single map operation, so a poisoned lock guards a
        // consistent map.
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Vec<u8>>> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.read().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.write().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.write().remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(self.read().contains_key(key))
    }

    fn get_keys(&self) -> Result<Vec<String>, Error> {
        Ok(self.read().keys().cloned().collect())
    }
}
