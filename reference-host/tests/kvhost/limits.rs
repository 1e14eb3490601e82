//! `LimitedStore` and `LimitedStores` [LIMIT-BEYOND]: refusals are `other` errors decided before writing, so the store is left
//! exactly as it was; at the limit everything is accepted.

use std::collections::BTreeSet;
use std::sync::Arc;

use kvhost::limits::{LimitedStore, Limits};
use kvhost::memory::MemoryStore;
use kvhost::sqlite::SqliteStores;
use kvhost::{Error, Store};

fn limited(limits: Limits) -> (Arc<dyn Store>, LimitedStore) {
    let inner: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let store = LimitedStore::new(Arc::clone(&inner), limits);
    (inner, store)
}

fn keys(store: &dyn Store) -> BTreeSet<String> {
    store.get_keys().unwrap().into_iter().collect()
}

#[test]
fn sip010_limits_are_256_byte_keys_one_mebibyte_values_and_1024_tuples() {
    assert_eq!(
        Limits::sip010(),
        Limits {
            max_key_bytes: Some(256),
            max_value_bytes: Some(1_048_576),
            max_tuples: Some(1024),
        }
    );
    assert!(Limits::none().is_none());
    assert_eq!(Limits::default(), Limits::none());
}

#[test]
fn a_value_past_the_limit_is_refused_naming_the_limit_and_the_old_value_survives() {
    let (inner, store) = limited(Limits::sip010());
    store.set("k", b"old").unwrap();
    let error = store.set("k", &vec![7; 1_048_577]).unwrap_err();
    assert_eq!(
        error,
        Error::Other(
            "value of 1048577 bytes exceeds this host's limit of 1048576 bytes".to_owned()
        )
    );
    assert_eq!(inner.get("k").unwrap(), Some(b"old".to_vec()));
}

#[test]
fn a_value_exactly_at_the_limit_is_accepted_whole() {
    let (_, store) = limited(Limits::sip010());
    let value = vec![0xa5; 1_048_576];
    store.set("k", &value).unwrap();
    assert_eq!(store.get("k").unwrap(), Some(value));
}

#[test]
fn a_key_past_the_limit_is_refused_and_nothing_is_written() {
    let (inner, store) = limited(Limits::sip010());
    let key = "k".repeat(257);
    let error = store.set(&key, b"v").unwrap_err();
    assert_eq!(
        error,
        Error::Other("key of 257 bytes exceeds this host's limit of 256 bytes".to_owned())
    );
    assert!(keys(inner.as_ref()).is_empty());
}

#[test]
fn a_multi_byte_key_of_exactly_256_bytes_is_accepted() {
    let (_, store) = limited(Limits::sip010());
    let key = "\u{20ac}".repeat(85) + "x"; // 85 three-byte characters and one ASCII byte
    assert_eq!(key.len(), 256);
    store.set(&key, b"v").unwrap();
    assert!(store.exists(&key).unwrap());
}

#[test]
fn a_new_key_past_the_tuple_limit_is_refused_and_the_store_is_unchanged() {
    let limits = Limits {
        max_tuples: Some(3),
        ..Limits::none()
    };
    let (inner, store) = limited(limits);
    for key in ["a", "b", "c"] {
        store.set(key, key.as_bytes()).unwrap();
    }
    let error = store.set("d", b"d").unwrap_err();
    match &error {
        Error::Other(message) => {
            assert!(message.contains("4 keys"), "{message}");
            assert!(message.contains("limit of 3 keys"), "{message}");
        }
        other => panic!("expected an `other` error, got {other:?}"),
    }
    assert_eq!(
        keys(inner.as_ref()),
        ["a", "b", "c"].map(String::from).into()
    );
    assert!(!inner.exists("d").unwrap());
}

#[test]
fn overwriting_a_key_at_the_tuple_limit_is_allowed() {
    let limits = Limits {
        max_tuples: Some(2),
        ..Limits::none()
    };
    let (_, store) = limited(limits);
    store.set("a", b"1").unwrap();
    store.set("b", b"2").unwrap();
    store.set("a", b"replaced").unwrap();
    assert_eq!(store.get("a").unwrap(), Some(b"replaced".to_vec()));
}

#[test]
fn an_overwrite_past_the_value_limit_is_refused_even_at_the_tuple_limit() {
    let limits = Limits {
        max_value_bytes: Some(4),
        max_tuples: Some(1),
        ..Limits::none()
    };
    let (_, store) = limited(limits);
    store.set("a", b"1234").unwrap();
    assert!(store.set("a", b"12345").is_err());
    assert_eq!(store.get("a").unwrap(), Some(b"1234".to_vec()));
}

#[test]
fn deleting_a_key_makes_room_under_the_tuple_limit() {
    let limits = Limits {
        max_tuples: Some(1),
        ..Limits::none()
    };
    let (_, store) = limited(limits);
    store.set("a", b"1").unwrap();
    assert!(store.set("b", b"2").is_err());
    store.delete("a").unwrap();
    store.set("b", b"2").unwrap();
    assert_eq!(keys(&store), ["b"].map(String::from).into());
}

#[test]
fn sip010_capacity_of_1024_tuples_is_accepted_on_sqlite() {
    let database = SqliteStores::open_in_memory().unwrap();
    let store = LimitedStore::new(Arc::new(database.store("default")), Limits::sip010());
    for i in 0..1024 {
        store.set(&format!("key-{i}"), b"v").unwrap();
    }
    assert_eq!(store.get_keys().unwrap().len(), 1024);
    assert!(store.set("key-1024", b"v").is_err());
    assert!(!store.exists("key-1024").unwrap());
}

#[test]
fn with_no_limits_every_set_reaches_the_store() {
    let (inner, store) = limited(Limits::none());
    store.set(&"k".repeat(10_000), &vec![0; 2_000_000]).unwrap();
    assert_eq!(keys(inner.as_ref()).len(), 1);
}

/// The writes wasi:keyvalue and v3 added obey the same limits as `set`.
mod new_operations {
    use super::*;

    fn tuples(max: usize) -> Limits {
        Limits {
            max_tuples: Some(max),
            ..Limits::none()
        }
    }

    fn other_mentioning(result: Result<impl std::fmt::Debug, Error>, needle: &str) {
        match result {
            Err(Error::Other(message)) => assert!(message.contains(needle), "{message}"),
            other => panic!("expected an `other` error mentioning {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn increment_of_a_new_key_past_the_tuple_limit_is_refused_but_an_existing_counter_counts() {
        let (inner, store) = limited(tuples(1));
        assert_eq!(store.increment("counter", 1).unwrap(), 1);
        other_mentioning(store.increment("another", 1), "limit of 1 keys");
        assert!(!inner.exists("another").unwrap());
        assert_eq!(store.increment("counter", 1).unwrap(), 2);
    }

    #[test]
    fn increment_of_a_key_past_the_key_limit_is_refused() {
        let (inner, store) = limited(Limits::sip010());
        other_mentioning(store.increment(&"k".repeat(257), 1), "key of 257 bytes");
        assert!(keys(inner.as_ref()).is_empty());
    }

    #[test]
    fn under_a_value_limit_shorter_than_a_counter_increment_refuses_a_counter_that_grows_past_it() {
        let limits = Limits {
            max_value_bytes: Some(2),
            ..Limits::none()
        };
        let (inner, store) = limited(limits);
        assert_eq!(store.increment("counter", 99).unwrap(), 99);
        other_mentioning(store.increment("counter", 1), "value of 3 bytes");
        assert_eq!(inner.get("counter").unwrap(), Some(b"99".to_vec()));
        other_mentioning(store.increment("counter", i64::MAX), "overflow");
        store.set("text", b"ab").unwrap();
        other_mentioning(store.increment("text", 1), "is not a counter");
    }

    #[test]
    fn compare_and_swap_refuses_a_new_value_past_the_value_limit_and_changes_nothing() {
        let limits = Limits {
            max_value_bytes: Some(4),
            ..Limits::none()
        };
        let (inner, store) = limited(limits);
        store.set("k", b"old").unwrap();
        other_mentioning(
            store.compare_and_swap("k", Some(b"old"), b"too long"),
            "value of 8 bytes",
        );
        assert_eq!(inner.get("k").unwrap(), Some(b"old".to_vec()));
        assert!(store.compare_and_swap("k", Some(b"old"), b"new").unwrap());
    }

    #[test]
    fn compare_and_swap_from_absent_is_a_new_tuple_but_from_a_value_is_not() {
        let (inner, store) = limited(tuples(1));
        assert!(store.compare_and_swap("a", None, b"1").unwrap());
        other_mentioning(store.compare_and_swap("b", None, b"2"), "limit of 1 keys");
        assert!(!inner.exists("b").unwrap());
        assert!(
            !store.compare_and_swap("a", None, b"again").unwrap(),
            "a swap from absent of a present key at the limit fails as a swap, not a refusal"
        );
        assert!(
            store
                .compare_and_swap("a", Some(b"1"), b"replaced")
                .unwrap()
        );
    }

    #[test]
    fn set_many_with_one_pair_past_a_size_limit_writes_nothing() {
        let (inner, store) = limited(Limits::sip010());
        other_mentioning(
            store.set_many(&[
                ("fine".to_owned(), b"v".to_vec()),
                ("k".repeat(257), b"v".to_vec()),
            ]),
            "key of 257 bytes",
        );
        other_mentioning(
            store.set_many(&[
                ("fine".to_owned(), b"v".to_vec()),
                ("big".to_owned(), vec![0; 1_048_577]),
            ]),
            "value of 1048577 bytes",
        );
        assert!(keys(inner.as_ref()).is_empty());
    }

    #[test]
    fn set_many_counts_its_distinct_new_keys_against_the_tuple_limit_all_or_nothing() {
        let (inner, store) = limited(tuples(3));
        store.set("a", b"1").unwrap();
        other_mentioning(
            store.set_many(&[
                ("a".to_owned(), b"replaced".to_vec()),
                ("b".to_owned(), b"2".to_vec()),
                ("c".to_owned(), b"3".to_vec()),
                ("d".to_owned(), b"4".to_vec()),
            ]),
            "3 new keys would make 4 keys",
        );
        assert_eq!(keys(inner.as_ref()), ["a"].map(String::from).into());
        assert_eq!(inner.get("a").unwrap(), Some(b"1".to_vec()));
        store
            .set_many(&[
                ("a".to_owned(), b"replaced".to_vec()),
                ("b".to_owned(), b"2".to_vec()),
                ("b".to_owned(), b"2 again".to_vec()),
                ("c".to_owned(), b"3".to_vec()),
            ])
            .unwrap();
        assert_eq!(
            keys(inner.as_ref()),
            ["a", "b", "c"].map(String::from).into()
        );
    }

    #[test]
    fn reads_deletes_and_listings_pass_through_unlimited() {
        let (inner, store) = limited(tuples(2));
        inner.set("a", b"1").unwrap();
        inner.set("b", b"2").unwrap();
        assert_eq!(store.list_keys(None, 10).unwrap(), ["a", "b"]);
        assert_eq!(
            store.get_many(&["b".to_owned()]).unwrap(),
            [("b".to_owned(), Some(b"2".to_vec()))]
        );
        store.delete_many(&["a".to_owned()]).unwrap();
        assert_eq!(keys(&store), ["b"].map(String::from).into());
    }
}

/// `LimitedStores`: a whole manager's stores behind limits.
mod managers {
    use super::*;
    use kvhost::StoreManager;
    use kvhost::limits::LimitedStores;
    use kvhost::memory::MemoryStores;

    fn tuples(max: usize) -> Limits {
        Limits {
            max_tuples: Some(max),
            ..Limits::sip010()
        }
    }

    #[test]
    fn every_store_served_refuses_past_the_limits_and_labels_count_their_own_tuples() {
        let memory = Arc::new(MemoryStores::new());
        let stores = LimitedStores::new(memory.clone(), tuples(2));
        assert_eq!(stores.limits(), tuples(2));
        let (first, second) = (stores.get("a").unwrap(), stores.get("a").unwrap());
        first.set("1", b"v").unwrap();
        second.set("2", b"v").unwrap();
        assert!(matches!(first.set("3", b"v"), Err(Error::Other(m)) if m.contains("limit of 2")));
        assert!(second.set(&"k".repeat(257), b"v").is_err());
        assert_eq!(keys(memory.store("a").as_ref()).len(), 2);
        let other = stores.get("b").unwrap();
        other.set("1", b"v").unwrap();
        other.set("2", b"v").unwrap();
        assert!(stores.is_defined("anything"), "as the wrapped manager says");
    }

    #[test]
    fn with_no_limits_the_wrapped_managers_stores_are_served_as_they_are() {
        let memory = Arc::new(MemoryStores::new());
        let stores = LimitedStores::new(memory.clone(), Limits::none());
        let store = stores.get("a").unwrap();
        store.set(&"k".repeat(1000), b"v").unwrap();
        let raw: Arc<dyn Store> = memory.store("a");
        assert!(Arc::ptr_eq(&store, &raw));
    }
}
