//! The `Store` operations the wasi:keyvalue and v3 interfaces need, on every backend: atomic increment and
//! compare-and-swap, paged key listing, and the batch operations (the trait's defaults and the backends'
//! overrides alike).

use std::collections::BTreeSet;
use std::sync::Arc;

use kvhost::{Error, Store};

use crate::backends::Backend;

fn default_store(backend: &Backend) -> Arc<dyn Store> {
    backend.stores.get("default").unwrap()
}

fn strings(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|key| (*key).to_owned()).collect()
}

fn expect_other(result: Result<impl std::fmt::Debug, Error>, needle: &str) -> String {
    match result {
        Err(Error::Other(message)) => {
            assert!(message.contains(needle), "{message:?} mentions {needle:?}");
            message
        }
        other => panic!("expected an `other` error mentioning {needle:?}, got {other:?}"),
    }
}

/// Every key of `store` by paging through `list_keys` with pages of `page` keys, checking that each page is in
/// ascending order, starts after the previous one, and that only the last page is short.
fn page_through(store: &dyn Store, page: usize) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    loop {
        let keys = store
            .list_keys(all.last().map(String::as_str), page)
            .unwrap();
        assert!(keys.len() <= page, "a page holds at most {page} keys");
        assert!(
            keys.windows(2).all(|pair| pair[0] < pair[1]),
            "a page is in ascending byte order: {keys:?}"
        );
        if let (Some(last), Some(first)) = (all.last(), keys.first()) {
            assert!(first > last, "{first:?} comes after {last:?}");
        }
        let done = keys.len() < page;
        all.extend(keys);
        if done {
            return all;
        }
    }
}

pub mod checks {
    use super::*;

    /// [ATOMIC-INCREMENT]
    pub fn increment_of_a_missing_key_starts_from_zero_and_stores_decimal_text(backend: Backend) {
        let store = default_store(&backend);
        assert_eq!(store.increment("counter", 5).unwrap(), 5);
        assert_eq!(store.get("counter").unwrap(), Some(b"5".to_vec()));
        assert_eq!(store.increment("zero", 0).unwrap(), 0);
        assert_eq!(store.get("zero").unwrap(), Some(b"0".to_vec()));
    }

    /// [ATOMIC-INCREMENT]
    pub fn repeated_and_negative_increments_add_up(backend: Backend) {
        let store = default_store(&backend);
        for expected in 1..=10 {
            assert_eq!(store.increment("counter", 1).unwrap(), expected);
        }
        assert_eq!(store.increment("counter", -25).unwrap(), -15);
        assert_eq!(store.get("counter").unwrap(), Some(b"-15".to_vec()));
        store.set("written", b"42").unwrap();
        assert_eq!(store.increment("written", 1).unwrap(), 43);
    }

    /// [ATOMIC-INCREMENT-BAD]: an error, not a panic, and the value stays as it was.
    pub fn increment_of_a_value_that_is_not_a_counter_fails_and_leaves_it(backend: Backend) {
        let store = default_store(&backend);
        for bad in [
            &b"hello"[..],
            b"",
            b"+5",
            b"007",
            b" 5",
            b"5\n",
            b"-0",
            b"1.5",
            b"\xff\xfe",
            b"99999999999999999999",
        ] {
            store.set("bad", bad).unwrap();
            expect_other(store.increment("bad", 1), "is not a counter");
            assert_eq!(store.get("bad").unwrap(), Some(bad.to_vec()), "{bad:?}");
        }
    }

    /// [ATOMIC-INCREMENT-BAD]: overflow either way is an error and the counter is unchanged.
    pub fn increment_past_the_range_of_an_i64_fails_and_leaves_the_counter(backend: Backend) {
        let store = default_store(&backend);
        assert_eq!(store.increment("high", i64::MAX).unwrap(), i64::MAX);
        expect_other(store.increment("high", 1), "overflow");
        assert_eq!(store.increment("high", 0).unwrap(), i64::MAX);
        assert_eq!(store.increment("low", i64::MIN).unwrap(), i64::MIN);
        assert_eq!(
            store.get("low").unwrap(),
            Some(i64::MIN.to_string().into_bytes())
        );
        expect_other(store.increment("low", -1), "overflow");
        assert_eq!(store.increment("low", 0).unwrap(), i64::MIN);
    }

    /// [ATOMIC-INCREMENT]: no increment is lost when several threads add at once.
    pub fn concurrent_increments_are_never_lost(backend: Backend) {
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let store = default_store(&backend);
                scope.spawn(move || {
                    for _ in 0..100 {
                        store.increment("shared", 1).unwrap();
                    }
                });
            }
        });
        assert_eq!(default_store(&backend).increment("shared", 0).unwrap(), 400);
    }

    /// [ATOMIC-CAS]
    pub fn compare_and_swap_writes_when_the_value_is_unchanged(backend: Backend) {
        let store = default_store(&backend);
        store.set("k", b"old").unwrap();
        assert!(store.compare_and_swap("k", Some(b"old"), b"new").unwrap());
        assert_eq!(store.get("k").unwrap(), Some(b"new".to_vec()));
        store.set("empty", b"").unwrap();
        assert!(
            store
                .compare_and_swap("empty", Some(b""), b"filled")
                .unwrap()
        );
        assert_eq!(store.get("empty").unwrap(), Some(b"filled".to_vec()));
    }

    /// [ATOMIC-CAS]: a failed swap changes nothing.
    pub fn compare_and_swap_fails_after_an_intervening_write(backend: Backend) {
        let store = default_store(&backend);
        store.set("k", b"seen").unwrap();
        store.set("k", b"written meanwhile").unwrap();
        assert!(!store.compare_and_swap("k", Some(b"seen"), b"new").unwrap());
        assert_eq!(store.get("k").unwrap(), Some(b"written meanwhile".to_vec()));
        store.delete("k").unwrap();
        assert!(!store.compare_and_swap("k", Some(b"seen"), b"new").unwrap());
        assert_eq!(store.get("k").unwrap(), None);
        store.set("prefix", b"abc").unwrap();
        assert!(!store.compare_and_swap("prefix", Some(b"ab"), b"x").unwrap());
        assert!(!store.compare_and_swap("prefix", Some(b""), b"x").unwrap());
        assert_eq!(store.get("prefix").unwrap(), Some(b"abc".to_vec()));
    }

    /// [ATOMIC-CAS]: from absent it writes only while the key stays absent.
    pub fn compare_and_swap_from_absent_writes_only_a_missing_key(backend: Backend) {
        let store = default_store(&backend);
        assert!(store.compare_and_swap("k", None, b"first").unwrap());
        assert_eq!(store.get("k").unwrap(), Some(b"first".to_vec()));
        assert!(!store.compare_and_swap("k", None, b"second").unwrap());
        assert_eq!(store.get("k").unwrap(), Some(b"first".to_vec()));
        store.set("empty", b"").unwrap();
        assert!(
            !store.compare_and_swap("empty", None, b"x").unwrap(),
            "the empty value is a value, not an absence"
        );
    }

    /// [ATOMIC-CAS]: of many threads swapping from one value, exactly one wins.
    pub fn concurrent_swaps_from_one_value_have_exactly_one_winner(backend: Backend) {
        default_store(&backend).set("k", b"start").unwrap();
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8u8)
                .map(|thread| {
                    let store = default_store(&backend);
                    scope.spawn(move || {
                        usize::from(
                            store
                                .compare_and_swap("k", Some(b"start"), &[thread])
                                .unwrap(),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .sum()
        });
        assert_eq!(winners, 1);
    }

    /// The basis of wasi cursors and the v3 stream: every key exactly once, in byte order, whatever the page size.
    pub fn list_keys_pages_cover_every_key_exactly_once_in_byte_order(backend: Backend) {
        let store = default_store(&backend);
        let mut written: Vec<String> = (0..57).map(|i| format!("key-{i}")).collect();
        written.extend(strings(&[
            "",
            "A",
            "a",
            "a ",
            "\u{e9}",
            "e\u{301}",
            "\u{1f600}",
            "\u{7f}",
        ]));
        for key in &written {
            store.set(key, b"v").unwrap();
        }
        let mut sorted = written.clone();
        sorted.sort();
        for page in [1, 2, 7, 64, 65, 1000] {
            assert_eq!(
                page_through(store.as_ref(), page),
                sorted,
                "pages of {page}"
            );
        }
        assert_eq!(store.list_keys(None, 3).unwrap(), sorted[..3]);
        assert!(store.list_keys(None, 0).unwrap().is_empty());
        assert!(
            store
                .list_keys(Some(&sorted[sorted.len() - 1]), 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.list_keys(Some("key-5"), 2).unwrap(),
            strings(&["key-50", "key-51"]),
            "`after` need not be a present key"
        );
        assert_eq!(store.list_keys(None, usize::MAX).unwrap(), sorted);
    }

    /// [KEYS-EMPTY], [ISOLATION-LABEL] for listings.
    pub fn list_keys_of_an_empty_store_is_empty_and_sees_no_other_label(backend: Backend) {
        backend
            .stores
            .get("other")
            .unwrap()
            .set("elsewhere", b"v")
            .unwrap();
        let store = default_store(&backend);
        assert!(store.list_keys(None, 10).unwrap().is_empty());
        assert!(store.list_keys(Some(""), 10).unwrap().is_empty());
    }

    /// [BATCH-GET-MANY]: one entry per requested key, in request order, `None` for missing ones.
    pub fn get_many_answers_every_requested_key_in_order(backend: Backend) {
        let store = default_store(&backend);
        store.set("b", b"2").unwrap();
        store.set("a", b"1").unwrap();
        store.set("empty", b"").unwrap();
        let got = store
            .get_many(&strings(&["b", "missing", "a", "empty", "b"]))
            .unwrap();
        assert_eq!(
            got,
            [
                ("b".to_owned(), Some(b"2".to_vec())),
                ("missing".to_owned(), None),
                ("a".to_owned(), Some(b"1".to_vec())),
                ("empty".to_owned(), Some(Vec::new())),
                ("b".to_owned(), Some(b"2".to_vec())),
            ]
        );
        assert!(store.get_many(&[]).unwrap().is_empty());
    }

    /// [BATCH-SET-DELETE-MANY]: the effect of the sequence of single operations; empty batches succeed.
    pub fn set_many_and_delete_many_act_as_their_sequences(backend: Backend) {
        let store = default_store(&backend);
        store.set("old", b"replace me").unwrap();
        store
            .set_many(&[
                ("x".to_owned(), b"1".to_vec()),
                ("old".to_owned(), b"new".to_vec()),
                ("x".to_owned(), b"last wins".to_vec()),
                ("empty".to_owned(), Vec::new()),
            ])
            .unwrap();
        assert_eq!(store.get("x").unwrap(), Some(b"last wins".to_vec()));
        assert_eq!(store.get("old").unwrap(), Some(b"new".to_vec()));
        assert_eq!(store.get("empty").unwrap(), Some(Vec::new()));
        store.set_many(&[]).unwrap();
        store.delete_many(&[]).unwrap();
        store
            .delete_many(&strings(&["x", "never-set", "x"]))
            .unwrap();
        let left: BTreeSet<String> = store.get_keys().unwrap().into_iter().collect();
        assert_eq!(left, strings(&["empty", "old"]).into_iter().collect());
    }
}

macro_rules! backend_tests {
    ($backend:ident: $($check:ident),* $(,)?) => {
        mod $backend {
            $(
                #[test]
                fn $check() {
                    super::checks::$check(crate::backends::$backend());
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
    increment_of_a_missing_key_starts_from_zero_and_stores_decimal_text,
    repeated_and_negative_increments_add_up,
    increment_of_a_value_that_is_not_a_counter_fails_and_leaves_it,
    increment_past_the_range_of_an_i64_fails_and_leaves_the_counter,
    concurrent_increments_are_never_lost,
    compare_and_swap_writes_when_the_value_is_unchanged,
    compare_and_swap_fails_after_an_intervening_write,
    compare_and_swap_from_absent_writes_only_a_missing_key,
    concurrent_swaps_from_one_value_have_exactly_one_winner,
    list_keys_pages_cover_every_key_exactly_once_in_byte_order,
    list_keys_of_an_empty_store_is_empty_and_sees_no_other_label,
    get_many_answers_every_requested_key_in_order,
    set_many_and_delete_many_act_as_their_sequences,
);

/// The trait's default batch operations, on a store that overrides none of them.
mod batch_defaults {
    use super::*;
    use kvhost::memory::MemoryStore;

    /// Implements only the required methods, by delegating to a memory store, so the batch operations are the
    /// trait's own loops.
    struct Minimal(MemoryStore);

    impl Store for Minimal {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
            if key == "refused" {
                return Err(Error::Other("refused".to_owned()));
            }
            self.0.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), Error> {
            self.0.delete(key)
        }
        fn exists(&self, key: &str) -> Result<bool, Error> {
            self.0.exists(key)
        }
        fn get_keys(&self) -> Result<Vec<String>, Error> {
            self.0.get_keys()
        }
        fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
            self.0.list_keys(after, limit)
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
            self.0.increment(key, delta)
        }
        fn compare_and_swap(
            &self,
            key: &str,
            expected: Option<&[u8]>,
            new: &[u8],
        ) -> Result<bool, Error> {
            self.0.compare_and_swap(key, expected, new)
        }
    }

    #[test]
    fn default_get_many_answers_every_requested_key_in_order() {
        let store = Minimal(MemoryStore::new());
        store.set("a", b"1").unwrap();
        assert_eq!(
            store.get_many(&strings(&["missing", "a"])).unwrap(),
            [
                ("missing".to_owned(), None),
                ("a".to_owned(), Some(b"1".to_vec()))
            ]
        );
    }

    #[test]
    fn default_set_many_and_delete_many_are_the_sequences_of_single_operations() {
        let store = Minimal(MemoryStore::new());
        store
            .set_many(&[
                ("a".to_owned(), b"1".to_vec()),
                ("a".to_owned(), b"2".to_vec()),
            ])
            .unwrap();
        assert_eq!(store.get("a").unwrap(), Some(b"2".to_vec()));
        store.delete_many(&strings(&["a", "absent"])).unwrap();
        assert!(store.get_keys().unwrap().is_empty());
    }

    #[test]
    fn default_set_many_stops_at_the_first_failure_keeping_earlier_pairs() {
        let store = Minimal(MemoryStore::new());
        let error = store
            .set_many(&[
                ("before".to_owned(), b"1".to_vec()),
                ("refused".to_owned(), b"2".to_vec()),
                ("after".to_owned(), b"3".to_vec()),
            ])
            .unwrap_err();
        assert_eq!(error, Error::Other("refused".to_owned()));
        assert!(store.exists("before").unwrap());
        assert!(!store.exists("after").unwrap());
    }
}

/// `StoreWrapper`'s defaults: everything a wrapper does not override is the wrapped store's own method, the batch
/// ones included.
mod wrapper_defaults {
    use super::*;
    use kvhost::StoreWrapper;
    use kvhost::memory::MemoryStore;

    /// Reads a missing key as the empty value, refuses to set the key "refused" and to delete the key "kept",
    /// and is otherwise the memory store it wraps.
    struct Picky(MemoryStore);

    impl StoreWrapper for Picky {
        fn inner(&self) -> &dyn Store {
            &self.0
        }
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
            Ok(Some(self.0.get(key)?.unwrap_or_default()))
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
            if key == "refused" {
                return Err(Error::Other("refused".to_owned()));
            }
            self.0.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), Error> {
            if key == "kept" {
                return Err(Error::Other("kept".to_owned()));
            }
            self.0.delete(key)
        }
    }

    #[test]
    fn a_wrapper_changes_only_what_it_overrides() {
        let wrapper: Arc<dyn Store> = Arc::new(Picky(MemoryStore::new()));
        assert_eq!(wrapper.get("missing").unwrap(), Some(Vec::new()));
        expect_other(wrapper.set("refused", b"1"), "refused");
        wrapper.set("kept", b"1").unwrap();
        expect_other(wrapper.delete("kept"), "kept");
        // Not overridden, so the memory store's own.
        assert!(!wrapper.exists("missing").unwrap());
        assert_eq!(wrapper.increment("n", 2).unwrap(), 2);
        assert!(wrapper.compare_and_swap("kept", Some(b"1"), b"2").unwrap());
        assert_eq!(wrapper.list_keys(None, 1).unwrap(), ["kept"]);
        assert_eq!(wrapper.get_keys().unwrap().len(), 2);
        // The batch operations are the memory store's own too, not the wrapper's single-key methods in a loop: a
        // missing key is `None`, "refused" is set and "kept" is deleted.
        assert_eq!(
            wrapper.get_many(&strings(&["missing", "kept"])).unwrap(),
            [
                ("missing".to_owned(), None),
                ("kept".to_owned(), Some(b"2".to_vec()))
            ]
        );
        wrapper
            .set_many(&[("refused".to_owned(), b"3".to_vec())])
            .unwrap();
        assert!(wrapper.exists("refused").unwrap());
        wrapper.delete_many(&strings(&["kept"])).unwrap();
        assert!(!wrapper.exists("kept").unwrap());
    }
}

/// What only SQLite does: transactions that roll back.
mod sqlite_only {
    use super::*;
    use kvhost::sqlite::SqliteStores;

    #[test]
    fn a_set_many_that_fails_part_way_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let store = SqliteStores::open(&path).unwrap().store("default");
        // A trigger makes the database refuse one particular key, so the batch fails after its first pair.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON spin_key_value WHEN NEW.key = 'refused'
                 BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END;",
            )
            .unwrap();
        expect_other(
            store.set_many(&[
                ("before".to_owned(), b"1".to_vec()),
                ("refused".to_owned(), b"2".to_vec()),
            ]),
            "refused by a trigger",
        );
        assert!(!store.exists("before").unwrap());
        store.set("after", b"the connection is usable").unwrap();
    }

    #[test]
    fn an_increment_of_a_bad_value_rolls_back_and_the_connection_stays_usable() {
        let store = SqliteStores::open_in_memory().unwrap().store("default");
        store.set("bad", b"not a number").unwrap();
        expect_other(store.increment("bad", 1), "is not a counter");
        assert_eq!(store.increment("good", 2).unwrap(), 2);
        assert_eq!(store.get("bad").unwrap(), Some(b"not a number".to_vec()));
    }
}
