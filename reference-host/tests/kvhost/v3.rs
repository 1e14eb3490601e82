//! `spin:key-value/key-value@3.0.0` (v3): the paging behind the key stream on its own ([`KeyListing`]), then the
//! async bindings end to end through a WAT proxy component (see `proxy`) on an engine with component-model-async,
//! reading the key stream and its future from the guest's side.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use kvhost::memory::MemoryStore;
use kvhost::v3::{KeyListing, V3_PAGE_SIZE};
use kvhost::{Application, Error, KeyValueState, Store, StoreManager};
use wasmtime::component::{ResourceAny, Val};
use wasmtime::{Config, Engine};

use crate::proxy::{self, Proxy, WitError, bytes, err, outcome, string, to_bytes, to_strings};

/// A memory store that records the limit of every `list_keys` call and can be told to fail listings after the
/// first page.
#[derive(Default)]
struct Observed {
    inner: MemoryStore,
    limits: Mutex<Vec<usize>>,
    fail_after_first_page: bool,
}

impl Observed {
    fn with_keys(count: usize) -> Self {
        let store = Self::default();
        for i in 0..count {
            store.inner.set(&format!("key-{i:03}"), b"v").unwrap();
        }
        store
    }

    fn limits(&self) -> Vec<usize> {
        self.limits.lock().unwrap().clone()
    }
}

impl Store for Observed {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
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
    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        self.limits.lock().unwrap().push(limit);
        if self.fail_after_first_page && after.is_some() {
            return Err(Error::Other("the disk is on fire".to_owned()));
        }
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
}

/// Serves one store for every label.
struct OneStore(Arc<Observed>);

impl StoreManager for OneStore {
    fn get(&self, _label: &str) -> Result<Arc<dyn Store>, Error> {
        Ok(Arc::clone(&self.0) as Arc<dyn Store>)
    }
    fn is_defined(&self, _label: &str) -> bool {
        true
    }
}

fn page(size: usize) -> NonZeroUsize {
    NonZeroUsize::new(size).unwrap()
}

fn keys(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("key-{i:03}")).collect()
}

/// [`KeyListing`] on its own: the paging logic the stream producer runs for each guest read.
mod listing {
    use super::*;

    #[test]
    fn pages_follow_the_readers_room_capped_by_the_page_size_and_a_short_page_ends_the_listing() {
        let store = Arc::new(Observed::with_keys(10));
        let mut listing = KeyListing::new(Arc::clone(&store) as Arc<dyn Store>, page(4));
        assert_eq!(listing.next_page(3), keys(10)[0..3]);
        assert!(listing.outcome().is_none());
        assert_eq!(listing.next_page(100), keys(10)[3..7]);
        assert_eq!(listing.next_page(100), keys(10)[7..10]);
        assert_eq!(listing.outcome(), Some(&Ok(())));
        assert!(
            listing.next_page(100).is_empty(),
            "an ended listing reads nothing"
        );
        assert_eq!(store.limits(), [3, 4, 4]);
    }

    #[test]
    fn a_listing_of_exactly_full_pages_ends_with_one_more_empty_read() {
        let store = Arc::new(Observed::with_keys(4));
        let mut listing = KeyListing::new(Arc::clone(&store) as Arc<dyn Store>, page(2));
        assert_eq!(listing.next_page(2).len(), 2);
        assert_eq!(listing.next_page(2).len(), 2);
        assert!(listing.outcome().is_none());
        assert!(listing.next_page(2).is_empty());
        assert_eq!(listing.outcome(), Some(&Ok(())));
    }

    #[test]
    fn a_zero_length_read_reads_nothing_and_does_not_end_the_listing() {
        let store = Arc::new(Observed::with_keys(3));
        let mut listing = KeyListing::new(Arc::clone(&store) as Arc<dyn Store>, page(2));
        assert!(listing.next_page(0).is_empty());
        assert!(listing.outcome().is_none());
        assert!(
            store.limits().is_empty(),
            "no backend call for a zero-length read"
        );
    }

    #[test]
    fn an_empty_store_ends_at_the_first_read() {
        let mut listing = KeyListing::new(Arc::new(Observed::default()), page(2));
        assert!(listing.next_page(5).is_empty());
        assert_eq!(listing.outcome(), Some(&Ok(())));
    }

    #[test]
    fn a_backend_failure_ends_the_listing_with_the_error_after_the_keys_already_delivered() {
        let store = Arc::new(Observed {
            fail_after_first_page: true,
            ..Observed::with_keys(5)
        });
        let mut listing = KeyListing::new(Arc::clone(&store) as Arc<dyn Store>, page(2));
        assert_eq!(listing.next_page(2), keys(5)[0..2]);
        assert!(listing.next_page(2).is_empty());
        assert_eq!(
            listing.outcome(),
            Some(&Err(Error::Other("the disk is on fire".to_owned())))
        );
        assert!(listing.next_page(2).is_empty());
        assert_eq!(store.limits().len(), 2, "no backend call after the failure");
    }

    #[test]
    fn keys_written_during_a_listing_never_make_a_key_appear_twice() {
        let store = Arc::new(Observed::with_keys(6));
        let mut listing = KeyListing::new(Arc::clone(&store) as Arc<dyn Store>, page(2));
        let mut seen = listing.next_page(2);
        store.set("key-000a", b"behind the listing").unwrap();
        store.set("key-001", b"rewritten").unwrap();
        store.delete("key-003").unwrap();
        store.set("key-004a", b"ahead of the listing").unwrap();
        while listing.outcome().is_none() {
            seen.extend(listing.next_page(2));
        }
        assert_eq!(
            seen,
            [
                "key-000", "key-001", "key-002", "key-004", "key-004a", "key-005"
            ]
        );
    }

    #[test]
    fn the_bindings_read_at_most_64_keys_a_page() {
        assert_eq!(V3_PAGE_SIZE.get(), 64);
    }
}

fn async_engine() -> Engine {
    let mut config = Config::new();
    config.wasm_component_model_async(true);
    Engine::new(&config).unwrap()
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// The v3 operations, as a guest calls them.
struct V3(Proxy);

/// What `v3-list` gave: the keys read, and the future's outcome when the stream was read to its end.
type Listing = (Vec<String>, Option<Result<(), WitError>>);

fn resource(val: Option<Val>) -> ResourceAny {
    match val {
        Some(Val::Resource(resource)) => resource,
        other => panic!("expected a resource, got {other:?}"),
    }
}

impl V3 {
    async fn call(&mut self, name: &str, params: &[Val]) -> Option<Val> {
        self.0
            .call_async(name, params)
            .await
            .unwrap_or_else(|e| panic!("{name} trapped: {e:?}"))
    }

    async fn open(&mut self, label: &str) -> Result<ResourceAny, WitError> {
        outcome(self.call("v3-open", &[string(label)]).await).map(resource)
    }

    async fn get(&mut self, store: ResourceAny, key: &str) -> Result<Option<Vec<u8>>, WitError> {
        outcome(
            self.call("v3-get", &[Val::Resource(store), string(key)])
                .await,
        )
        .map(|value| match value {
            Some(Val::Option(value)) => value.map(|value| to_bytes(*value)),
            other => panic!("expected an option, got {other:?}"),
        })
    }

    async fn set(&mut self, store: ResourceAny, key: &str, value: &[u8]) -> Result<(), WitError> {
        outcome(
            self.call("v3-set", &[Val::Resource(store), string(key), bytes(value)])
                .await,
        )
        .map(drop)
    }

    async fn delete(&mut self, store: ResourceAny, key: &str) -> Result<(), WitError> {
        outcome(
            self.call("v3-delete", &[Val::Resource(store), string(key)])
                .await,
        )
        .map(drop)
    }

    async fn exists(&mut self, store: ResourceAny, key: &str) -> Result<bool, WitError> {
        outcome(
            self.call("v3-exists", &[Val::Resource(store), string(key)])
                .await,
        )
        .map(|value| match value {
            Some(Val::Bool(exists)) => exists,
            other => panic!("expected a bool, got {other:?}"),
        })
    }

    /// `get-keys`, read `room` keys at a time until the stream ends (or `take` keys, when not 0).
    async fn list(&mut self, store: ResourceAny, room: u32, take: u32) -> Listing {
        let result = self
            .call(
                "v3-list",
                &[Val::Resource(store), Val::U32(room), Val::U32(take)],
            )
            .await;
        let Some(Val::Tuple(mut fields)) = result else {
            panic!("expected a (keys, outcome) tuple, got {result:?}");
        };
        let finished = fields.pop();
        let keys = to_strings(fields.pop().unwrap());
        let finished = match finished {
            Some(Val::Option(None)) => None,
            Some(Val::Option(Some(result))) => Some(outcome(Some(*result)).map(drop)),
            other => panic!("expected an optional outcome, got {other:?}"),
        };
        (keys, finished)
    }

    async fn drop_store(&mut self, store: ResourceAny) {
        store.resource_drop_async(&mut self.0.store).await.unwrap();
    }
}

async fn v3_with(state: KeyValueState) -> V3 {
    let engine = async_engine();
    let component = proxy::component(&engine, &[proxy::V3]);
    V3(Proxy::new_async(&engine, &component, state, |linker| {
        kvhost::v3::add_to_linker(linker, |state| state).unwrap();
    })
    .await)
}

async fn v3(app: &Application) -> V3 {
    v3_with(app.instance_state("proxy").unwrap()).await
}

/// An instance whose every label is `store`.
fn observed_state(store: &Arc<Observed>) -> KeyValueState {
    KeyValueState::new(
        Arc::new(OneStore(Arc::clone(store))),
        ["default".to_owned()],
        None,
    )
}

#[test]
fn a_guest_reads_writes_and_deletes_through_v3() {
    let app = proxy::app(&["default"], |_| {});
    block_on(async {
        let mut guest = v3(&app).await;
        let store = guest.open("default").await.unwrap();
        assert_eq!(guest.get(store, "missing").await.unwrap(), None);
        guest.set(store, "k", &[0, 255, 1]).await.unwrap();
        guest.set(store, "empty", b"").await.unwrap();
        assert_eq!(guest.get(store, "k").await.unwrap(), Some(vec![0, 255, 1]));
        assert_eq!(guest.get(store, "empty").await.unwrap(), Some(Vec::new()));
        assert!(guest.exists(store, "empty").await.unwrap());
        guest.delete(store, "k").await.unwrap();
        guest.delete(store, "k").await.unwrap();
        assert!(!guest.exists(store, "k").await.unwrap());
        assert_eq!(guest.0.store.data().open_count(), 1);
        guest.drop_store(store).await;
        assert_eq!(guest.0.store.data().open_count(), 0);
    });
    assert_eq!(
        app.store("default").unwrap().get("empty").unwrap(),
        Some(Vec::new())
    );
}

#[test]
fn a_guest_sees_access_denied_store_table_full_and_limit_refusals_as_v3_errors() {
    let app = proxy::app(&["default"], |config| {
        config.max_open_stores = Some(1);
        config.limits.max_value_bytes = Some(4);
    });
    block_on(async {
        let mut guest = v3(&app).await;
        assert_eq!(
            guest.open("secret").await.unwrap_err(),
            err("access-denied")
        );
        let store = guest.open("default").await.unwrap();
        assert_eq!(
            guest.open("default").await.unwrap_err(),
            err("store-table-full")
        );
        assert_eq!(
            guest.set(store, "k", b"too long").await.unwrap_err(),
            WitError {
                case: "other".to_owned(),
                text: Some("value of 8 bytes exceeds this host's limit of 4 bytes".to_owned()),
            }
        );
        guest.drop_store(store).await;
        guest.open("default").await.unwrap();
    });
}

/// [KEYS-V3-STREAM] from the guest's side.
mod key_stream {
    use super::*;

    #[test]
    fn the_stream_yields_every_key_once_then_the_future_resolves_ok_whatever_the_readers_room() {
        let app = proxy::app(&["default"], |_| {});
        let store = app.store("default").unwrap();
        for key in keys(150) {
            store.set(&key, b"v").unwrap();
        }
        block_on(async {
            let mut guest = v3(&app).await;
            let handle = guest.open("default").await.unwrap();
            for room in [1, 7, 64, 65, 1000] {
                assert_eq!(
                    guest.list(handle, room, 0).await,
                    (keys(150), Some(Ok(()))),
                    "reads of {room}"
                );
            }
        });
    }

    #[test]
    fn an_empty_store_streams_no_keys_and_resolves_ok() {
        let app = proxy::app(&["default"], |_| {});
        block_on(async {
            let mut guest = v3(&app).await;
            let handle = guest.open("default").await.unwrap();
            assert_eq!(guest.list(handle, 10, 0).await, (Vec::new(), Some(Ok(()))));
        });
    }

    #[test]
    fn keys_are_read_from_the_backend_page_by_page_as_the_guest_reads() {
        let store = Arc::new(Observed::with_keys(12));
        block_on(async {
            let mut guest = v3_with(observed_state(&store)).await;
            let handle = guest.open("default").await.unwrap();
            assert!(store.limits().is_empty(), "opening lists nothing");
            assert_eq!(guest.list(handle, 5, 0).await, (keys(12), Some(Ok(()))));
            assert_eq!(store.limits(), [5, 5, 5], "one backend page per guest read");
        });
    }

    #[test]
    fn the_backend_is_never_asked_for_more_than_64_keys_at_once() {
        let store = Arc::new(Observed::with_keys(100));
        block_on(async {
            let mut guest = v3_with(observed_state(&store)).await;
            let handle = guest.open("default").await.unwrap();
            assert_eq!(guest.list(handle, 1000, 0).await, (keys(100), Some(Ok(()))));
            assert_eq!(store.limits(), [64, 64]);
        });
    }

    #[test]
    fn a_backend_failure_ends_the_stream_early_and_the_future_carries_the_error() {
        let store = Arc::new(Observed {
            fail_after_first_page: true,
            ..Observed::with_keys(10)
        });
        block_on(async {
            let mut guest = v3_with(observed_state(&store)).await;
            let handle = guest.open("default").await.unwrap();
            assert_eq!(
                guest.list(handle, 4, 0).await,
                (
                    keys(10)[0..4].to_vec(),
                    Some(Err(WitError {
                        case: "other".to_owned(),
                        text: Some("the disk is on fire".to_owned()),
                    }))
                )
            );
            // The host is fine: the store still answers.
            assert!(guest.exists(handle, "key-000").await.unwrap());
        });
    }

    #[test]
    fn a_guest_that_drops_the_stream_part_way_leaves_the_host_healthy() {
        let store = Arc::new(Observed::with_keys(100));
        block_on(async {
            let mut guest = v3_with(observed_state(&store)).await;
            let handle = guest.open("default").await.unwrap();
            let references = Arc::strong_count(&store);
            assert_eq!(
                guest.list(handle, 2, 3).await,
                (keys(100)[0..4].to_vec(), None)
            );
            assert_eq!(
                store.limits(),
                [2, 2],
                "nothing past what the guest read is listed"
            );
            assert_eq!(
                Arc::strong_count(&store),
                references,
                "the abandoned stream's producer was dropped, releasing the store"
            );
            // Everything still works: writes, reads, and a whole new listing.
            guest.set(handle, "after", b"v").await.unwrap();
            assert_eq!(
                guest.get(handle, "after").await.unwrap(),
                Some(b"v".to_vec())
            );
            let (all, finished) = guest.list(handle, 64, 0).await;
            assert_eq!((all.len(), finished), (101, Some(Ok(()))));
            guest.drop_store(handle).await;
            assert_eq!(guest.0.store.data().open_count(), 0);
        });
        assert_eq!(
            Arc::strong_count(&store),
            1,
            "nothing of the instance holds the store"
        );
    }

    #[test]
    fn a_listing_outlives_the_handle_it_was_made_from() {
        let app = proxy::app(&["default"], |_| {});
        let store = app.store("default").unwrap();
        for key in keys(3) {
            store.set(&key, b"v").unwrap();
        }
        block_on(async {
            let mut guest = v3(&app).await;
            let first = guest.open("default").await.unwrap();
            let second = guest.open("default").await.unwrap();
            guest.drop_store(first).await;
            assert_eq!(guest.list(second, 2, 0).await, (keys(3), Some(Ok(()))));
        });
    }
}

/// v3 shares the one table with the other versions.
mod shared_state {
    use super::*;

    #[test]
    fn data_written_through_v3_is_read_through_wasi_and_v1_and_the_open_bound_is_shared() {
        let app = proxy::app(&["default"], |config| config.max_open_stores = Some(3));
        block_on(async {
            let engine = async_engine();
            let component = proxy::component(&engine, &[proxy::V1, proxy::V3, proxy::WASI]);
            let mut guest = V3(Proxy::new_async(
                &engine,
                &component,
                app.instance_state("proxy").unwrap(),
                |linker| kvhost::add_to_linker_all(linker, |state| state).unwrap(),
            )
            .await);
            let store = guest.open("default").await.unwrap();
            guest.set(store, "k", b"from v3").await.unwrap();

            let bucket =
                resource(outcome(guest.call("wasi-open", &[string("default")]).await).unwrap());
            let read = outcome(
                guest
                    .call("bucket-get", &[Val::Resource(bucket), string("k")])
                    .await,
            );
            assert_eq!(
                read,
                Ok(Some(Val::Option(Some(Box::new(bytes(b"from v3"))))))
            );
            let handle = match outcome(guest.call("v1-open", &[string("default")]).await) {
                Ok(Some(Val::U32(handle))) => handle,
                other => panic!("{other:?}"),
            };
            let value = outcome(guest.call("v1-get", &[Val::U32(handle), string("k")]).await);
            assert_eq!(to_bytes(value.unwrap().unwrap()), b"from v3");

            assert_eq!(guest.0.store.data().open_count(), 3);
            assert_eq!(
                guest.open("default").await.unwrap_err(),
                err("store-table-full")
            );
            assert!(guest.call("v1-close", &[Val::U32(handle)]).await.is_none());
            guest.open("default").await.unwrap();
        });
    }
}
