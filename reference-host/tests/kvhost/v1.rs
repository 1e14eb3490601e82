//! `fermyon:spin/key-value` (v1) end to end, through a WAT proxy component (see `proxy`): handles are numbers,
//! a missing key is `no-such-key`, an invalid handle is `invalid-store`, other failures are `io`.

use wasmtime::Engine;
use wasmtime::component::Val;

use crate::proxy::{self, Proxy, WitError, bytes, err, outcome, string, to_bytes, to_strings};

fn v1_proxy(app: &kvhost::Application) -> Proxy {
    v1_proxy_with(app.instance_state("proxy").unwrap())
}

fn v1_proxy_with(state: kvhost::KeyValueState) -> Proxy {
    let engine = Engine::default();
    let component = proxy::component(&engine, &[proxy::V1]);
    Proxy::new(&engine, &component, state, |linker| {
        kvhost::v1::add_to_linker(linker, |state| state).unwrap();
    })
}

/// The v1 operations, as a guest calls them.
struct V1(Proxy);

impl V1 {
    fn open(&mut self, label: &str) -> Result<u32, WitError> {
        outcome(self.0.call("v1-open", &[string(label)])).map(|handle| match handle {
            Some(Val::U32(handle)) => handle,
            other => panic!("expected a handle, got {other:?}"),
        })
    }

    fn get(&mut self, handle: u32, key: &str) -> Result<Vec<u8>, WitError> {
        outcome(self.0.call("v1-get", &[Val::U32(handle), string(key)]))
            .map(|value| to_bytes(value.unwrap()))
    }

    fn set(&mut self, handle: u32, key: &str, value: &[u8]) -> Result<(), WitError> {
        outcome(
            self.0
                .call("v1-set", &[Val::U32(handle), string(key), bytes(value)]),
        )
        .map(drop)
    }

    fn delete(&mut self, handle: u32, key: &str) -> Result<(), WitError> {
        outcome(self.0.call("v1-delete", &[Val::U32(handle), string(key)])).map(drop)
    }

    fn exists(&mut self, handle: u32, key: &str) -> Result<bool, WitError> {
        outcome(self.0.call("v1-exists", &[Val::U32(handle), string(key)])).map(|value| match value
        {
            Some(Val::Bool(exists)) => exists,
            other => panic!("expected a bool, got {other:?}"),
        })
    }

    fn get_keys(&mut self, handle: u32) -> Result<Vec<String>, WitError> {
        outcome(self.0.call("v1-get-keys", &[Val::U32(handle)])).map(|keys| {
            let mut keys = to_strings(keys.unwrap());
            keys.sort();
            keys
        })
    }

    fn close(&mut self, handle: u32) {
        assert!(self.0.call("v1-close", &[Val::U32(handle)]).is_none());
    }
}

fn v1(app: &kvhost::Application) -> V1 {
    V1(v1_proxy(app))
}

#[test]
fn a_guest_reads_writes_lists_and_deletes_through_v1() {
    let app = proxy::app(&["default"], |_| {});
    let mut guest = v1(&app);
    let handle = guest.open("default").unwrap();
    assert_eq!(guest.get(handle, "missing"), Err(err("no-such-key")));
    guest.set(handle, "k", &[0, 255, 1]).unwrap();
    guest.set(handle, "empty", b"").unwrap();
    assert_eq!(guest.get(handle, "k").unwrap(), [0, 255, 1]);
    assert_eq!(guest.get(handle, "empty").unwrap(), b"");
    assert!(guest.exists(handle, "empty").unwrap());
    assert_eq!(guest.get_keys(handle).unwrap(), ["empty", "k"]);
    guest.delete(handle, "k").unwrap();
    guest.delete(handle, "k").unwrap();
    assert!(!guest.exists(handle, "k").unwrap());
    assert_eq!(guest.get(handle, "k"), Err(err("no-such-key")));
    assert_eq!(
        app.store("default").unwrap().get("empty").unwrap(),
        Some(Vec::new())
    );
}

#[test]
fn a_handle_never_opened_is_invalid_store_for_every_operation() {
    let app = proxy::app(&["default"], |_| {});
    let mut guest = v1(&app);
    for handle in [0, 1, 7, u32::MAX] {
        assert_eq!(guest.get(handle, "k"), Err(err("invalid-store")));
        assert_eq!(guest.set(handle, "k", b"v"), Err(err("invalid-store")));
        assert_eq!(guest.delete(handle, "k"), Err(err("invalid-store")));
        assert_eq!(guest.exists(handle, "k"), Err(err("invalid-store")));
        assert_eq!(guest.get_keys(handle), Err(err("invalid-store")));
    }
    assert!(app.store("default").unwrap().get_keys().unwrap().is_empty());
}

#[test]
fn a_closed_handle_is_invalid_and_closing_it_again_does_nothing() {
    let app = proxy::app(&["default"], |_| {});
    let mut guest = v1(&app);
    let first = guest.open("default").unwrap();
    let second = guest.open("default").unwrap();
    guest.set(first, "k", b"v").unwrap();
    guest.close(first);
    assert_eq!(guest.get(first, "k"), Err(err("invalid-store")));
    guest.close(first);
    guest.close(12345);
    assert_eq!(
        guest.get(second, "k").unwrap(),
        b"v",
        "the other handle stays usable"
    );
    let third = guest.open("default").unwrap();
    assert!(
        third != first && third != second,
        "[HANDLE-REUSE] numbers are never reused"
    );
    assert_eq!(guest.0.store.data().open_count(), 2);
}

#[test]
fn configured_to_reuse_handles_an_open_takes_the_lowest_closed_number() {
    let app = proxy::app(&["default"], |_| {});
    let state = app.instance_state("proxy").unwrap().with_handle_reuse(true);
    let mut guest = V1(v1_proxy_with(state));
    let first = guest.open("default").unwrap();
    let second = guest.open("default").unwrap();
    let third = guest.open("default").unwrap();
    assert_eq!((first, second, third), (1, 2, 3));
    guest.set(second, "k", b"v").unwrap();
    guest.close(second);
    guest.close(first);
    assert_eq!(guest.get(second, "k"), Err(err("invalid-store")));
    assert_eq!(guest.open("default").unwrap(), first);
    let reused = guest.open("default").unwrap();
    assert_eq!(reused, second, "the closed number comes back");
    assert_eq!(
        guest.get(second, "k").unwrap(),
        b"v",
        "the old number reaches the store that reused it"
    );
    assert_eq!(guest.open("default").unwrap(), 4);
}

#[test]
fn a_guest_sees_access_denied_and_store_table_full_and_closing_makes_room() {
    let app = proxy::app(&["default"], |config| config.max_open_stores = Some(1));
    let mut guest = v1(&app);
    assert_eq!(guest.open("secret"), Err(err("access-denied")));
    let handle = guest.open("default").unwrap();
    assert_eq!(guest.open("default"), Err(err("store-table-full")));
    guest.close(handle);
    guest.open("default").unwrap();
}

#[test]
fn a_guest_sees_a_limit_refusal_as_io_with_the_hosts_message() {
    let app = proxy::app(&["default"], |config| {
        config.limits.max_value_bytes = Some(4);
    });
    let mut guest = v1(&app);
    let handle = guest.open("default").unwrap();
    guest.set(handle, "k", b"old").unwrap();
    assert_eq!(
        guest.set(handle, "k", b"too long"),
        Err(WitError {
            case: "io".to_owned(),
            text: Some("value of 8 bytes exceeds this host's limit of 4 bytes".to_owned()),
        })
    );
    assert_eq!(guest.get(handle, "k").unwrap(), b"old");
}
