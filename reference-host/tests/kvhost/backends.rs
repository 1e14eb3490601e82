//! Every backend through the `Store` and `StoreManager` traits: the same checks run against memory, a SQLite
//! file and an in-memory SQLite database (opendal's behaviour-suite layout), then what only SQLite has.

use std::collections::BTreeSet;
use std::sync::Arc;

use kvhost::StoreManager;
use kvhost::memory::MemoryStores;
use kvhost::sqlite::SqliteStores;

/// One backend under test; the temporary directory (if any) lives as long as the manager.
pub struct Backend {
    pub stores: Arc<dyn StoreManager>,
    _dir: Option<tempfile::TempDir>,
}

pub fn memory() -> Backend {
    Backend {
        stores: Arc::new(MemoryStores::new()),
        _dir: None,
    }
}

pub fn sqlite_file() -> Backend {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let stores = SqliteStores::open(&dir.path().join("kv.db")).expect("a new database opens");
    Backend {
        stores: Arc::new(stores),
        _dir: Some(dir),
    }
}

pub fn sqlite_in_memory() -> Backend {
    Backend {
        stores: Arc::new(SqliteStores::open_in_memory().expect("an in-memory database opens")),
        _dir: None,
    }
}

/// The store's keys, each checked to be listed once, and checked against the store's own count of them.
fn keys(backend: &Backend, label: &str) -> BTreeSet<String> {
    let store = backend.stores.get(label).unwrap();
    let keys = store.get_keys().unwrap();
    assert_eq!(
        store.key_count().unwrap(),
        keys.len(),
        "key_count counts the keys get_keys lists: {keys:?}"
    );
    let set: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(
        set.len(),
        keys.len(),
        "[KEYS-EXACT] every key is listed once: {keys:?}"
    );
    set
}

fn set_of(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|key| (*key).to_owned()).collect()
}

/// The behaviour every backend shares; each function is one test per backend (see `backend_tests!`).
pub mod checks {
    use super::*;

    /// [GET-MISSING]
    pub fn a_key_never_set_reads_as_none(backend: Backend) {
        let store = backend.stores.get("default").unwrap();
        assert_eq!(store.get("never-set").unwrap(), None);
        assert!(!store.exists("never-set").unwrap());
    }

    /// [SET-GET-EXACT]
    pub fn every_byte_value_round_trips_exactly(backend: Backend) {
        let store = backend.stores.get("default").unwrap();
        let all_bytes: Vec<u8> = (0..=255).collect();
        store.set("all", &all_bytes).unwrap();
        assert_eq!(store.get("all").unwrap(), Some(all_bytes.clone()));
        for byte in 0..=255u8 {
            let key = format!("byte-{byte}");
            store.set(&key, &[byte]).unwrap();
            assert_eq!(
                store.get(&key).unwrap(),
                Some(vec![byte]),
                "the single byte {byte}"
            );
        }
        let not_utf8 = [0xff, 0xfe, 0x00, 0xc3, 0x28];
        store.set("not-utf8", &not_utf8).unwrap();
        assert_eq!(store.get("not-utf8").unwrap(), Some(not_utf8.to_vec()));
    }

    /// [SET-GET-EXACT]: the empty value is a value, not an absence.
    pub fn the_empty_value_round_trips_and_exists(backend: Backend) {
        let store = backend.stores.get("default").unwrap();
        store.set("empty", b"").unwrap();
        assert_eq!(store.get("empty").unwrap(), Some(Vec::new()));
        assert!(store.exists("empty").unwrap());
        assert_eq!(keys(&backend, "default"), set_of(&["empty"]));
    }

    /// [SET-OVERWRITE]
    pub fn overwriting_with_a_shorter_value_leaves_no_stale_bytes(backend: Backend) {
        let store = backend.stores.get("default").unwrap();
        store.set("k", b"a much longer first value").unwrap();
        store.set("k", b"short").unwrap();
        assert_eq!(store.get("k").unwrap(), Some(b"short".to_vec()));
        store.set("k", b"").unwrap();
        assert_eq!(store.get("k").unwrap(), Some(Vec::new()));
        assert_eq!(keys(&backend, "default"), set_of(&["k"]));
    }

    /// [DELETE-REMOVES]
    pub fn a_deleted_key_is_gone_from_get_exists_and_the_listing(backend: Backend) {
        let store = backend.stores.get("default").unwrap();
        store.set("gone", b"x").unwrap();
        store.set("stays", b"y").unwrap();
        store.delete("gone").unwrap();
        assert_eq!(store.get("gone").unwrap(), None);
        assert!(!store.exists("gone").unwrap());
        assert_eq!(keys(&backend, "default"), set_of(&["stays"]));
    }

    /// [DELETE-ABSENT]
    pub fn deleting_an_absent_key_succeeds_twice(backend: Backend) {
        let store = backend.stores.get("default").unwrap();
        store.delete("never-set").unwrap();
        store.delete("never-set").unwrap();
        store.set("once", b"x").unwrap();
        store.delete("once").unwrap();
        store.delete("once").unwrap();
        assert!(keys(&backend, "default").is_empty());
    }

    /// [KEYS-EMPTY]
    pub fn an_empty_store_lists_no_keys(backend: Backend) {
        assert!(keys(&backend, "default").is_empty());
    }

    /// [KEYS-EXACT], [KEY-TEXT], [KEY-EMPTY]: keys are exact strings, the empty key included.
    pub fn keys_are_listed_exactly_as_written(backend: Backend) {
        let store = backend.stores.get("default").unwrap();
        let written = [
            "a",
            "A",
            "a ",
            "\u{e9}",
            "e\u{301}",
            "",
            "with/slash",
            "\u{1f600}",
        ];
        for (index, key) in written.iter().enumerate() {
            store.set(key, &[index as u8]).unwrap();
        }
        assert_eq!(keys(&backend, "default"), set_of(&written));
        for (index, key) in written.iter().enumerate() {
            assert_eq!(
                store.get(key).unwrap(),
                Some(vec![index as u8]),
                "key {key:?}"
            );
        }
    }

    /// [LIMIT-KEY], [LIMIT-VALUE], [LIMIT-CAPACITY]: with no limits, SIP 010's sizes and a few more tuples.
    pub fn large_keys_values_and_many_tuples_are_kept(backend: Backend) {
        let store = backend.stores.get("default").unwrap();
        let key = "\u{e9}".repeat(128);
        assert_eq!(key.len(), 256);
        let value: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
        store.set(&key, &value).unwrap();
        assert_eq!(store.get(&key).unwrap(), Some(value));
        for i in 0..1100 {
            store.set(&format!("tuple-{i}"), b"v").unwrap();
        }
        assert_eq!(keys(&backend, "default").len(), 1101);
    }

    /// [ISOLATION-LABEL]
    pub fn labels_never_see_each_others_keys(backend: Backend) {
        let one = backend.stores.get("one").unwrap();
        let two = backend.stores.get("two").unwrap();
        one.set("shared-name", b"one").unwrap();
        two.set("shared-name", b"two").unwrap();
        one.set("only-in-one", b"1").unwrap();
        assert_eq!(one.get("shared-name").unwrap(), Some(b"one".to_vec()));
        assert_eq!(two.get("shared-name").unwrap(), Some(b"two".to_vec()));
        assert!(!two.exists("only-in-one").unwrap());
        two.delete("only-in-one").unwrap();
        assert!(one.exists("only-in-one").unwrap());
        assert_eq!(keys(&backend, "two"), set_of(&["shared-name"]));
        two.delete("shared-name").unwrap();
        assert_eq!(one.get("shared-name").unwrap(), Some(b"one".to_vec()));
    }

    /// [OPEN-TWICE], [HANDLE-DROP]: two views of one label share the data; dropping one keeps it.
    pub fn two_views_of_one_label_share_the_data(backend: Backend) {
        let first = backend.stores.get("shared").unwrap();
        let second = backend.stores.get("shared").unwrap();
        first.set("k", b"written through the first").unwrap();
        assert_eq!(
            second.get("k").unwrap(),
            Some(b"written through the first".to_vec())
        );
        drop(first);
        assert_eq!(
            second.get("k").unwrap(),
            Some(b"written through the first".to_vec())
        );
        assert!(backend.stores.get("shared").unwrap().exists("k").unwrap());
    }

    /// [CONCURRENT-ATOMIC], [CONCURRENT-VISIBLE]: writers on other threads never produce a torn value, and a
    /// value is readable as soon as `set` returns.
    pub fn concurrent_writers_never_tear_a_value(backend: Backend) {
        let values: Vec<Vec<u8>> = (0..4u8).map(|fill| vec![fill; 64 * 1024]).collect();
        std::thread::scope(|scope| {
            for value in &values {
                let store = backend.stores.get("default").unwrap();
                scope.spawn(move || {
                    for _ in 0..50 {
                        store.set("contended", value).unwrap();
                        let read = store.get("contended").unwrap().expect("a value once set");
                        assert!(values_are_whole(&read), "a torn value was read");
                    }
                });
            }
        });
        let last = backend
            .stores
            .get("default")
            .unwrap()
            .get("contended")
            .unwrap()
            .unwrap();
        assert!(values.contains(&last));
    }

    fn values_are_whole(read: &[u8]) -> bool {
        read.len() == 64 * 1024 && read.iter().all(|byte| *byte == read[0])
    }

    /// Each backend serves any label it is asked for; the application decides which labels exist.
    pub fn a_backend_serves_any_label(backend: Backend) {
        assert!(backend.stores.is_defined("default"));
        assert!(backend.stores.is_defined("anything-at-all"));
    }
}

/// One test per check and backend, so a failure names both.
macro_rules! backend_tests {
    ($backend:ident: $($check:ident),* $(,)?) => {
        mod $backend {
            $(
                #[test]
                fn $check() {
                    super::checks::$check(super::$backend());
                }
            )*
        }
    };
}

macro_rules! every_backend {
    ($($check:ident),* $(,)?) => {
        backend_tests!(memory: $($check),*);
        backend_tests!(sqlite_file: $($check),*);
        backend_tests!(sqlite_in_memory: $($check),*);
    };
}

every_backend!(
    a_key_never_set_reads_as_none,
    every_byte_value_round_trips_exactly,
    the_empty_value_round_trips_and_exists,
    overwriting_with_a_shorter_value_leaves_no_stale_bytes,
    a_deleted_key_is_gone_from_get_exists_and_the_listing,
    deleting_an_absent_key_succeeds_twice,
    an_empty_store_lists_no_keys,
    keys_are_listed_exactly_as_written,
    large_keys_values_and_many_tuples_are_kept,
    labels_never_see_each_others_keys,
    two_views_of_one_label_share_the_data,
    concurrent_writers_never_tear_a_value,
    a_backend_serves_any_label,
);

/// What only the SQLite backend has: a file, Spin's schema, the directory it creates.
mod sqlite_only {
    use kvhost::Store;
    use kvhost::sqlite::{OpenError, SqliteStores};

    #[test]
    fn the_database_directory_is_created_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state/kv.db");
        let stores = SqliteStores::open(&path).unwrap();
        stores.store("default").set("k", b"v").unwrap();
        assert!(path.is_file());
        assert_eq!(stores.path(), Some(path.canonicalize().unwrap().as_path()));
    }

    #[test]
    fn rows_use_spins_table_so_spin_and_kvhost_share_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        {
            let connection = rusqlite::Connection::open(&path).unwrap();
            connection
                .execute_batch(
                    "CREATE TABLE spin_key_value (store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                     PRIMARY KEY (store, key));
                     INSERT INTO spin_key_value VALUES ('default', 'written-by-spin', x'00ff');",
                )
                .unwrap();
        }
        let stores = SqliteStores::open(&path).unwrap();
        let store = stores.store("default");
        assert_eq!(
            store.get("written-by-spin").unwrap(),
            Some(vec![0x00, 0xff])
        );
        store.set("written-by-kvhost", b"").unwrap();

        let connection = rusqlite::Connection::open(&path).unwrap();
        let value: Vec<u8> = connection
            .query_row(
                "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'written-by-kvhost'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(
            value.is_empty(),
            "the empty value is stored as an empty blob, not NULL"
        );
    }

    #[test]
    fn a_database_file_is_in_wal_mode_so_a_set_does_not_wait_for_a_disk_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let _stores = SqliteStores::open(&path).unwrap();
        let mode: String = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-database.db");
        std::fs::write(
            &path,
            "this is plain text, long enough to be read as a corrupt SQLite header",
        )
        .unwrap();
        let error = SqliteStores::open(&path).unwrap_err();
        assert!(matches!(error, OpenError::Open { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("not-a-database.db"), "{message}");
        assert!(
            message.contains("check that the file is a SQLite database"),
            "{message}"
        );
    }

    #[test]
    fn a_backend_failure_is_an_other_error_with_sqlites_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let stores = SqliteStores::open(&path).unwrap();
        let store = stores.store("default");
        // Another connection removes the table under kvhost's feet: every later statement fails in SQLite.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE spin_key_value")
            .unwrap();
        match store.set("k", b"v") {
            Err(kvhost::Error::Other(message)) => {
                assert!(message.contains("no such table"), "{message}");
            }
            other => panic!("expected an `other` error, got {other:?}"),
        }
    }
}
