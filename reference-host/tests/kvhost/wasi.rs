//! `wasi:keyvalue@0.2.0-draft2` end to end, through a WAT proxy component (see `proxy`): buckets, paged key
//! listing with cursors, atomics (increment, compare-and-swap) and batch operations.

use std::num::NonZeroUsize;

use kvhost::Application;
use wasmtime::Engine;
use wasmtime::component::{ResourceAny, Val};

use crate::proxy::{self, Proxy, WitError, bytes, err, outcome, string, to_bytes, to_strings};

/// The wasi:keyvalue operations, as a guest calls them.
pub struct Wasi(pub Proxy);

/// Why a swap did not happen.
#[derive(Debug)]
pub enum SwapError {
    /// `store-error`.
    Store(WitError),
    /// `cas-failed`, with the `cas` handed back.
    CasFailed(ResourceAny),
}

fn resource(val: Option<Val>) -> ResourceAny {
    match val {
        Some(Val::Resource(resource)) => resource,
        other => panic!("expected a resource, got {other:?}"),
    }
}

fn optional_bytes(val: Option<Val>) -> Option<Vec<u8>> {
    match val {
        Some(Val::Option(value)) => value.map(|value| to_bytes(*value)),
        other => panic!("expected an option, got {other:?}"),
    }
}

fn key_list(keys: &[&str]) -> Val {
    Val::List(keys.iter().map(|key| string(key)).collect())
}

impl Wasi {
    pub fn open(&mut self, identifier: &str) -> Result<ResourceAny, WitError> {
        outcome(self.0.call("wasi-open", &[string(identifier)])).map(resource)
    }

    pub fn get(&mut self, bucket: ResourceAny, key: &str) -> Result<Option<Vec<u8>>, WitError> {
        outcome(
            self.0
                .call("bucket-get", &[Val::Resource(bucket), string(key)]),
        )
        .map(optional_bytes)
    }

    pub fn set(&mut self, bucket: ResourceAny, key: &str, value: &[u8]) -> Result<(), WitError> {
        outcome(self.0.call(
            "bucket-set",
            &[Val::Resource(bucket), string(key), bytes(value)],
        ))
        .map(drop)
    }

    pub fn delete(&mut self, bucket: ResourceAny, key: &str) -> Result<(), WitError> {
        outcome(
            self.0
                .call("bucket-delete", &[Val::Resource(bucket), string(key)]),
        )
        .map(drop)
    }

    pub fn exists(&mut self, bucket: ResourceAny, key: &str) -> Result<bool, WitError> {
        outcome(
            self.0
                .call("bucket-exists", &[Val::Resource(bucket), string(key)]),
        )
        .map(|value| match value {
            Some(Val::Bool(exists)) => exists,
            other => panic!("expected a bool, got {other:?}"),
        })
    }

    /// One page: its keys and the cursor of the next one.
    pub fn list_keys(
        &mut self,
        bucket: ResourceAny,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), WitError> {
        let cursor = Val::Option(cursor.map(|cursor| Box::new(string(cursor))));
        let response = outcome(
            self.0
                .call("bucket-list-keys", &[Val::Resource(bucket), cursor]),
        )?;
        let Some(Val::Record(fields)) = response else {
            panic!("expected a key-response record, got {response:?}");
        };
        let mut fields = fields.into_iter();
        let (Some((keys_name, keys)), Some((cursor_name, cursor)), None) =
            (fields.next(), fields.next(), fields.next())
        else {
            panic!("a key-response has two fields");
        };
        assert_eq!(
            (keys_name.as_str(), cursor_name.as_str()),
            ("keys", "cursor")
        );
        let cursor = match cursor {
            Val::Option(None) => None,
            Val::Option(Some(cursor)) => match *cursor {
                Val::String(cursor) => Some(cursor),
                other => panic!("expected a string cursor, got {other:?}"),
            },
            other => panic!("expected an optional cursor, got {other:?}"),
        };
        Ok((to_strings(keys), cursor))
    }

    /// Every key, following cursors from the first page until the cursor is `none`.
    pub fn all_keys(&mut self, bucket: ResourceAny) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (keys, next) = self.list_keys(bucket, cursor.as_deref()).unwrap();
            pages.push(keys);
            match next {
                Some(next) => cursor = Some(next),
                None => return pages,
            }
        }
    }

    pub fn increment(
        &mut self,
        bucket: ResourceAny,
        key: &str,
        delta: i64,
    ) -> Result<i64, WitError> {
        outcome(self.0.call(
            "increment",
            &[Val::Resource(bucket), string(key), Val::S64(delta)],
        ))
        .map(|value| match value {
            Some(Val::S64(value)) => value,
            other => panic!("expected an s64, got {other:?}"),
        })
    }

    pub fn cas_new(&mut self, bucket: ResourceAny, key: &str) -> Result<ResourceAny, WitError> {
        outcome(
            self.0
                .call("cas-new", &[Val::Resource(bucket), string(key)]),
        )
        .map(resource)
    }

    pub fn cas_current(&mut self, cas: ResourceAny) -> Result<Option<Vec<u8>>, WitError> {
        outcome(self.0.call("cas-current", &[Val::Resource(cas)])).map(optional_bytes)
    }

    pub fn swap(&mut self, cas: ResourceAny, value: &[u8]) -> Result<(), SwapError> {
        match self.0.call("swap", &[Val::Resource(cas), bytes(value)]) {
            Some(Val::Result(Ok(None))) => Ok(()),
            Some(Val::Result(Err(Some(error)))) => match *error {
                Val::Variant(case, Some(payload)) if case == "cas-failed" => {
                    Err(SwapError::CasFailed(resource(Some(*payload))))
                }
                Val::Variant(case, Some(payload)) if case == "store-error" => {
                    Err(SwapError::Store(proxy::wit_error(*payload)))
                }
                other => panic!("expected a cas-error, got {other:?}"),
            },
            other => panic!("expected a swap result, got {other:?}"),
        }
    }

    pub fn get_many(
        &mut self,
        bucket: ResourceAny,
        keys: &[&str],
    ) -> Result<Vec<kvhost::Entry>, WitError> {
        let entries = outcome(
            self.0
                .call("get-many", &[Val::Resource(bucket), key_list(keys)]),
        )?;
        let Some(Val::List(entries)) = entries else {
            panic!("expected a list of entries, got {entries:?}");
        };
        Ok(entries
            .into_iter()
            .map(|entry| match entry {
                Val::Tuple(mut pair) if pair.len() == 2 => {
                    let value = optional_bytes(pair.pop());
                    let key = match pair.pop() {
                        Some(Val::String(key)) => key,
                        other => panic!("expected a key, got {other:?}"),
                    };
                    (key, value)
                }
                other => panic!("expected a (key, value) pair, got {other:?}"),
            })
            .collect())
    }

    pub fn set_many(
        &mut self,
        bucket: ResourceAny,
        pairs: &[(&str, &[u8])],
    ) -> Result<(), WitError> {
        let pairs = Val::List(
            pairs
                .iter()
                .map(|(key, value)| Val::Tuple(vec![string(key), bytes(value)]))
                .collect(),
        );
        outcome(self.0.call("set-many", &[Val::Resource(bucket), pairs])).map(drop)
    }

    pub fn delete_many(&mut self, bucket: ResourceAny, keys: &[&str]) -> Result<(), WitError> {
        outcome(
            self.0
                .call("delete-many", &[Val::Resource(bucket), key_list(keys)]),
        )
        .map(drop)
    }
}

fn wasi(app: &Application) -> Wasi {
    let engine = Engine::default();
    let component = proxy::component(&engine, &[proxy::WASI]);
    Wasi(Proxy::new(
        &engine,
        &component,
        app.instance_state("proxy").unwrap(),
        |linker| {
            kvhost::wasi_keyvalue::add_to_linker(linker, |state| state).unwrap();
        },
    ))
}

fn other_containing(result: Result<impl std::fmt::Debug, WitError>, needle: &str) {
    match result {
        Err(WitError {
            case,
            text: Some(text),
        }) if case == "other" => {
            assert!(text.contains(needle), "{text:?} mentions {needle:?}");
        }
        other => panic!("expected `other` mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn a_guest_reads_writes_and_deletes_through_wasi_and_dropping_a_bucket_closes_it() {
    let app = proxy::app(&["default"], |_| {});
    let mut guest = wasi(&app);
    let bucket = guest.open("default").unwrap();
    assert_eq!(guest.get(bucket, "missing").unwrap(), None);
    guest.set(bucket, "k", &[0, 255, 1]).unwrap();
    guest.set(bucket, "empty", b"").unwrap();
    assert_eq!(guest.get(bucket, "k").unwrap(), Some(vec![0, 255, 1]));
    assert_eq!(guest.get(bucket, "empty").unwrap(), Some(Vec::new()));
    assert!(guest.exists(bucket, "empty").unwrap());
    guest.delete(bucket, "k").unwrap();
    guest.delete(bucket, "k").unwrap();
    assert!(!guest.exists(bucket, "k").unwrap());
    assert_eq!(guest.0.store.data().open_count(), 1);
    guest.0.drop_resource(bucket);
    assert_eq!(guest.0.store.data().open_count(), 0);
    assert_eq!(
        app.store("default").unwrap().get("empty").unwrap(),
        Some(Vec::new())
    );
}

#[test]
fn open_is_access_denied_without_a_grant_and_other_past_the_open_bound() {
    let app = proxy::app(&["default"], |config| config.max_open_stores = Some(1));
    let mut guest = wasi(&app);
    assert_eq!(guest.open("secret").unwrap_err(), err("access-denied"));
    let bucket = guest.open("default").unwrap();
    other_containing(guest.open("default"), "too many stores are open");
    guest.0.drop_resource(bucket);
    guest.open("default").unwrap();
}

#[test]
fn an_undefined_label_is_no_such_store_when_so_configured() {
    let app = proxy::app(&["default", "ghost"], |config| {
        config.undefined_labels = kvhost::UndefinedLabels::NoSuchStore;
    });
    assert_eq!(wasi(&app).open("ghost").unwrap_err(), err("no-such-store"));
}

mod listing {
    use super::*;

    fn paged_app(page: usize, keys: usize) -> Application {
        let app = proxy::app(&["default"], |config| {
            config.wasi_page_size = NonZeroUsize::new(page).unwrap();
        });
        let store = app.store("default").unwrap();
        for i in 0..keys {
            store.set(&format!("key-{i:02}"), b"v").unwrap();
        }
        app
    }

    fn sizes(pages: &[Vec<String>]) -> Vec<usize> {
        pages.iter().map(Vec::len).collect()
    }

    #[test]
    fn pages_hold_the_configured_number_of_keys_and_cover_every_key_once() {
        let app = paged_app(3, 10);
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        let pages = guest.all_keys(bucket);
        assert_eq!(sizes(&pages), [3, 3, 3, 1]);
        let keys: Vec<String> = pages.concat();
        let expected: Vec<String> = (0..10).map(|i| format!("key-{i:02}")).collect();
        assert_eq!(keys, expected);
    }

    #[test]
    fn a_listing_that_fills_its_last_page_exactly_ends_without_an_empty_page() {
        let app = paged_app(3, 9);
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        assert_eq!(sizes(&guest.all_keys(bucket)), [3, 3, 3]);
    }

    #[test]
    fn an_empty_bucket_lists_one_empty_page_with_no_cursor() {
        let app = paged_app(3, 0);
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        assert_eq!(guest.list_keys(bucket, None).unwrap(), (Vec::new(), None));
    }

    #[test]
    fn the_default_page_is_100_keys() {
        assert_eq!(kvhost::HostConfig::memory().wasi_page_size.get(), 100);
        let app = proxy::app(&["default"], |_| {});
        let store = app.store("default").unwrap();
        for i in 0..150 {
            store.set(&format!("key-{i:03}"), b"v").unwrap();
        }
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        assert_eq!(sizes(&guest.all_keys(bucket)), [100, 50]);
    }

    #[test]
    fn keys_written_between_pages_never_make_a_key_appear_twice() {
        let app = paged_app(2, 6);
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        let (first, cursor) = guest.list_keys(bucket, None).unwrap();
        assert_eq!(first, ["key-00", "key-01"]);
        // Behind the cursor, a new key and a rewrite of a listed one; ahead of it, a deletion and an insertion.
        guest.set(bucket, "key-00a", b"new").unwrap();
        guest.set(bucket, "key-01", b"rewritten").unwrap();
        guest.delete(bucket, "key-03").unwrap();
        guest.set(bucket, "key-04a", b"new").unwrap();
        let mut rest = Vec::new();
        let mut cursor = cursor;
        while let Some(next) = cursor {
            let (keys, following) = guest.list_keys(bucket, Some(&next)).unwrap();
            rest.extend(keys);
            cursor = following;
        }
        assert_eq!(rest, ["key-02", "key-04", "key-04a", "key-05"]);
    }

    #[test]
    fn a_cursor_stays_valid_after_its_bucket_is_dropped() {
        let app = paged_app(2, 4);
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        let (_, cursor) = guest.list_keys(bucket, None).unwrap();
        guest.0.drop_resource(bucket);
        let bucket = guest.open("default").unwrap();
        let (keys, next) = guest.list_keys(bucket, cursor.as_deref()).unwrap();
        assert_eq!(
            (keys, next),
            (vec!["key-02".to_owned(), "key-03".to_owned()], None)
        );
    }

    #[test]
    fn a_cursor_the_host_never_issued_is_other() {
        let app = paged_app(2, 4);
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        for forged in [
            "",
            "garbage",
            "key-01",
            "kvhost1:6",
            "kvhost1:zz",
            "kvhost1:6B",
            "kvhost1:ff",
            "KVHOST1:6b",
        ] {
            other_containing(
                guest.list_keys(bucket, Some(forged)),
                "was not issued by this host",
            );
        }
        assert_eq!(kvhost::wasi_keyvalue::encode_cursor("k"), "kvhost1:6b");
        let (keys, _) = guest.list_keys(bucket, Some("kvhost1:6b")).unwrap();
        assert_eq!(
            keys,
            ["key-00", "key-01"],
            "a well-formed cursor is any position, even a key never listed"
        );
    }

    #[test]
    fn cursors_round_trip_any_key() {
        for key in [
            "",
            "a",
            "\u{e9}",
            "e\u{301}",
            "\u{1f600}",
            "with space",
            "\u{0}",
        ] {
            let cursor = kvhost::wasi_keyvalue::encode_cursor(key);
            assert!(cursor.is_ascii());
            assert_eq!(
                kvhost::wasi_keyvalue::decode_cursor(&cursor).as_deref(),
                Some(key)
            );
        }
    }
}

mod atomics {
    use super::*;

    #[test]
    fn increment_starts_from_zero_adds_up_and_stores_decimal_text() {
        let app = proxy::app(&["default"], |_| {});
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        assert_eq!(guest.increment(bucket, "counter", 5).unwrap(), 5);
        assert_eq!(guest.increment(bucket, "counter", 5).unwrap(), 10);
        assert_eq!(guest.increment(bucket, "counter", -11).unwrap(), -1);
        assert_eq!(guest.get(bucket, "counter").unwrap(), Some(b"-1".to_vec()));
    }

    #[test]
    fn increment_of_a_value_that_is_not_a_counter_or_past_the_range_is_other() {
        let app = proxy::app(&["default"], |_| {});
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        guest.set(bucket, "text", b"hello").unwrap();
        other_containing(guest.increment(bucket, "text", 1), "is not a counter");
        assert_eq!(guest.get(bucket, "text").unwrap(), Some(b"hello".to_vec()));
        guest.increment(bucket, "big", i64::MAX).unwrap();
        other_containing(guest.increment(bucket, "big", 1), "overflow");
        assert_eq!(guest.increment(bucket, "big", 0).unwrap(), i64::MAX);
    }

    #[test]
    fn a_swap_succeeds_when_the_value_is_unchanged_also_from_absent() {
        let app = proxy::app(&["default"], |_| {});
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        let cas = guest.cas_new(bucket, "k").unwrap();
        assert_eq!(guest.cas_current(cas).unwrap(), None);
        guest.swap(cas, b"first").unwrap();
        assert_eq!(guest.get(bucket, "k").unwrap(), Some(b"first".to_vec()));
        let cas = guest.cas_new(bucket, "k").unwrap();
        assert_eq!(guest.cas_current(cas).unwrap(), Some(b"first".to_vec()));
        guest.swap(cas, b"second").unwrap();
        assert_eq!(guest.get(bucket, "k").unwrap(), Some(b"second".to_vec()));
        assert_eq!(
            guest.0.store.data().pending_swaps(),
            0,
            "a successful swap consumes its cas"
        );
    }

    #[test]
    fn a_swap_after_an_intervening_write_fails_changes_nothing_and_hands_back_a_refreshed_cas() {
        let app = proxy::app(&["default"], |_| {});
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        guest.set(bucket, "k", b"seen").unwrap();
        let cas = guest.cas_new(bucket, "k").unwrap();
        app.store("default")
            .unwrap()
            .set("k", b"written meanwhile")
            .unwrap();
        let Err(SwapError::CasFailed(returned)) = guest.swap(cas, b"mine") else {
            panic!("expected cas-failed");
        };
        assert_eq!(
            guest.get(bucket, "k").unwrap(),
            Some(b"written meanwhile".to_vec())
        );
        assert_eq!(
            guest.cas_current(returned).unwrap(),
            Some(b"written meanwhile".to_vec()),
            "the cas handed back holds the value stored now"
        );
        guest.swap(returned, b"mine").unwrap();
        assert_eq!(guest.get(bucket, "k").unwrap(), Some(b"mine".to_vec()));
    }

    #[test]
    fn a_swap_from_absent_fails_once_the_key_was_written() {
        let app = proxy::app(&["default"], |_| {});
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        let cas = guest.cas_new(bucket, "k").unwrap();
        guest.set(bucket, "k", b"someone else").unwrap();
        let Err(SwapError::CasFailed(returned)) = guest.swap(cas, b"mine") else {
            panic!("expected cas-failed");
        };
        assert_eq!(
            guest.get(bucket, "k").unwrap(),
            Some(b"someone else".to_vec())
        );
        guest.0.drop_resource(returned);
        assert_eq!(
            guest.0.store.data().pending_swaps(),
            0,
            "a dropped cas is forgotten"
        );
    }

    #[test]
    fn a_swap_refused_by_a_limit_is_a_store_error_and_consumes_the_cas() {
        let app = proxy::app(&["default"], |config| {
            config.limits.max_value_bytes = Some(4)
        });
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        let cas = guest.cas_new(bucket, "k").unwrap();
        match guest.swap(cas, b"too long") {
            Err(SwapError::Store(WitError {
                case,
                text: Some(text),
            })) => {
                assert_eq!(case, "other");
                assert!(text.contains("value of 8 bytes"), "{text}");
            }
            other => panic!("expected a store error, got {other:?}"),
        }
        assert_eq!(guest.get(bucket, "k").unwrap(), None);
        assert_eq!(guest.0.store.data().pending_swaps(), 0);
    }

    #[test]
    fn a_cas_outlives_its_bucket() {
        let app = proxy::app(&["default"], |_| {});
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        let cas = guest.cas_new(bucket, "k").unwrap();
        guest.0.drop_resource(bucket);
        guest.swap(cas, b"v").unwrap();
        assert_eq!(
            app.store("default").unwrap().get("k").unwrap(),
            Some(b"v".to_vec())
        );
    }
}

mod batch {
    use super::*;

    #[test]
    fn get_many_answers_every_requested_key_in_order_with_none_for_missing_ones() {
        let app = proxy::app(&["default"], |_| {});
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        guest.set(bucket, "b", b"2").unwrap();
        guest.set(bucket, "a", b"1").unwrap();
        assert_eq!(
            guest.get_many(bucket, &["b", "missing", "a"]).unwrap(),
            [
                ("b".to_owned(), Some(b"2".to_vec())),
                ("missing".to_owned(), None),
                ("a".to_owned(), Some(b"1".to_vec())),
            ]
        );
        assert!(guest.get_many(bucket, &[]).unwrap().is_empty());
    }

    #[test]
    fn set_many_and_delete_many_act_as_their_sequences_and_empty_batches_succeed() {
        let app = proxy::app(&["default"], |_| {});
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        guest
            .set_many(bucket, &[("x", b"1"), ("y", b"2"), ("x", b"last")])
            .unwrap();
        assert_eq!(guest.get(bucket, "x").unwrap(), Some(b"last".to_vec()));
        guest.set_many(bucket, &[]).unwrap();
        guest.delete_many(bucket, &[]).unwrap();
        guest.delete_many(bucket, &["x", "never-set"]).unwrap();
        assert_eq!(guest.get_many(bucket, &["x", "y"]).unwrap()[0].1, None);
        assert!(guest.exists(bucket, "y").unwrap());
    }

    #[test]
    fn a_set_many_past_a_limit_writes_nothing() {
        let app = proxy::app(&["default"], |config| {
            config.limits.max_value_bytes = Some(4)
        });
        let mut guest = wasi(&app);
        let bucket = guest.open("default").unwrap();
        other_containing(
            guest.set_many(bucket, &[("fine", b"1"), ("big", b"too long")]),
            "value of 8 bytes",
        );
        assert!(!guest.exists(bucket, "fine").unwrap());
    }
}

/// Every version serves one table: one set of handles and one bound, and data written through one version is read
/// through another.
mod shared_state {
    use super::*;

    fn both(app: &Application) -> Proxy {
        let engine = Engine::default();
        let component = proxy::component(&engine, &[proxy::V1, proxy::WASI]);
        Proxy::new(
            &engine,
            &component,
            app.instance_state("proxy").unwrap(),
            |linker| {
                kvhost::v1::add_to_linker(linker, |state| state).unwrap();
                kvhost::wasi_keyvalue::add_to_linker(linker, |state| state).unwrap();
            },
        )
    }

    #[test]
    fn data_written_through_v1_is_read_through_wasi_and_back() {
        let app = proxy::app(&["default"], |_| {});
        let mut guest = both(&app);
        let handle = match outcome(guest.call("v1-open", &[string("default")])) {
            Ok(Some(Val::U32(handle))) => handle,
            other => panic!("{other:?}"),
        };
        outcome(guest.call(
            "v1-set",
            &[Val::U32(handle), string("k"), bytes(b"from v1")],
        ))
        .unwrap();
        let mut wasi = Wasi(guest);
        let bucket = wasi.open("default").unwrap();
        assert_eq!(wasi.get(bucket, "k").unwrap(), Some(b"from v1".to_vec()));
        wasi.increment(bucket, "counter", 42).unwrap();
        let value = outcome(
            wasi.0
                .call("v1-get", &[Val::U32(handle), string("counter")]),
        )
        .unwrap();
        assert_eq!(to_bytes(value.unwrap()), b"42");
    }

    #[test]
    fn handles_of_every_version_count_against_one_bound_and_never_share_a_number() {
        let app = proxy::app(&["default"], |config| config.max_open_stores = Some(2));
        let mut wasi = Wasi(both(&app));
        let v1_handle = match outcome(wasi.0.call("v1-open", &[string("default")])) {
            Ok(Some(Val::U32(handle))) => handle,
            other => panic!("{other:?}"),
        };
        let bucket = wasi.open("default").unwrap();
        assert_eq!(
            outcome(wasi.0.call("v1-open", &[string("default")])).unwrap_err(),
            err("store-table-full")
        );
        other_containing(wasi.open("default"), "too many stores are open");
        // The v1 handle number is not the bucket's: closing it through v1 leaves the bucket open.
        assert!(wasi.0.call("v1-close", &[Val::U32(v1_handle)]).is_none());
        assert_eq!(wasi.0.store.data().open_count(), 1);
        wasi.set(bucket, "k", b"still open").unwrap();
        wasi.open("default").unwrap();
    }
}
