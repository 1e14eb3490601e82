//! The in-memory backend: one map per label, kept for as long as the [`MemoryStores`] that holds it.
//!
//! An [`crate::app::Application`] keeps one [`MemoryStores`] and shares it with every instance, so data written by
//! one instance is read by the next ([PERSIST-INSTANCES]); nothing survives the process ([PERSIST-RESTART]: not
//! durable).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::backend::{
    Entry, Error, Store, StoreManager, add_to_counter, decode_counter, encode_counter,
};

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

/// One in-memory store: an ordered map from key to value behind a lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    // An RwLock so that concurrent instances can read at once; every write is done under the write lock, so a
    // reader sees either the old value or the new one, never a torn one ([CONCURRENT-ATOMIC]), and a
    // read-modify-write (increment, compare-and-swap, a batch) is atomic. A BTreeMap rather than a HashMap so
    // that a page of `list_keys` is a range scan in byte order, not a sort of every key.
    data: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store of its own, not attached to any [`MemoryStores`].
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Vec<u8>>> {
        // As in `MemoryStores::store`: no write can panic half-way through a change to the map (each write
        // computes everything that can fail before it changes anything), so a poisoned lock guards a consistent
        // map.
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Vec<u8>>> {
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

    fn key_count(&self) -> Result<usize, Error> {
        Ok(self.read().len())
    }

    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .read()
            .range::<str, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|(key, _)| key.clone())
            .collect())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        let mut data = self.write();
        let current = decode_counter(key, data.get(key).map(Vec::as_slice))?;
        let new = add_to_counter(key, current, delta)?;
        data.insert(key.to_owned(), encode_counter(new));
        Ok(new)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error> {
        let mut data = self.write();
        if data.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        data.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error> {
        // One read lock for the whole batch, so the values read are one consistent snapshot.
        let data = self.read();
        Ok(keys
            .iter()
            .map(|key| (key.clone(), data.get(key).cloned()))
            .collect())
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        // One write lock for the whole batch: nothing in it can fail, so it is all or nothing, and no reader sees
        // half of it.
        let mut data = self.write();
        for (key, value) in entries {
            data.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        let mut data = self.write();
        for key in keys {
            data.remove(key);
        }
        Ok(())
    }
}
