//! Every interface version end to end through the suite's own driver components
//! (`guest-fixtures/prebuilt/driver-*.wasm`, built from Rust with wit-bindgen): kvhost's `add_to_linker` of each
//! version serves a driver that runs a script and reports what the host answered. Unlike the WAT proxies (see
//! `proxy`), the v3 driver lowers the imports asynchronously and keeps several calls in flight at once.

use std::path::PathBuf;
use std::sync::OnceLock;

use kvhost::{Application, KeyValueState};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "kvconf:driver/driver",
        additional_derives: [PartialEq],
    });
}

/// The v3 driver's world: an async `run`, called through `run_concurrent`.
mod async_bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "kvconf:driver/async-driver",
        exports: { default: async | store },
        with: {
            "kvconf:driver/types": super::bindings::kvconf::driver::types,
            "kvconf:driver/observer": super::bindings::kvconf::driver::observer,
        },
    });
}

use bindings::kvconf::driver::types::{
    CasOp, IncrementOp, KeyOp, KeyPage, KeysOp, KvError, ListOp, OpenOp, Operation, Outcome,
    PartialOp, SetManyOp, SetOp, SwapOp,
};

struct Guest {
    wasi: WasiCtx,
    table: ResourceTable,
    key_value: KeyValueState,
}

impl WasiView for Guest {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::kvconf::driver::types::Host for Guest {}

impl bindings::kvconf::driver::observer::Host for Guest {
    fn observe(&mut self, _index: u32, _outcome: Outcome) {}
}

#[derive(Clone, Copy)]
enum Version {
    V1,
    V3,
    Wasi,
}

impl Version {
    fn fixture(self) -> &'static str {
        match self {
            Version::V1 => "driver-v1",
            Version::V3 => "driver-v3",
            Version::Wasi => "driver-wasi-keyvalue",
        }
    }
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model_async(true);
        Engine::new(&config).unwrap()
    })
}

fn component(version: Version) -> Component {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../guest-fixtures/prebuilt")
        .join(format!("{}.wasm", version.fixture()));
    Component::from_file(engine(), &path)
        .unwrap_or_else(|e| panic!("the prebuilt driver {} loads: {e:?}", path.display()))
}

/// Runs `script` in a fresh instance of the driver for `version`, its key-value state from `app` for component
/// "proxy".
fn run(version: Version, app: &Application, script: Vec<Operation>) -> Vec<Outcome> {
    let component = component(version);
    let mut linker = Linker::<Guest>::new(engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    bindings::kvconf::driver::observer::add_to_linker::<_, HasSelf<Guest>>(&mut linker, |guest| {
        guest
    })
    .unwrap();
    fn get(guest: &mut Guest) -> &mut KeyValueState {
        &mut guest.key_value
    }
    match version {
        Version::V1 => kvhost::v1::add_to_linker(&mut linker, get).unwrap(),
        Version::V3 => kvhost::v3::add_to_linker(&mut linker, get).unwrap(),
        Version::Wasi => kvhost::wasi_keyvalue::add_to_linker(&mut linker, get).unwrap(),
    }
    let guest = Guest {
        wasi: WasiCtx::builder().inherit_stderr().build(),
        table: ResourceTable::new(),
        key_value: app.instance_state("proxy").unwrap(),
    };
    let mut store = Store::new(engine(), guest);
    let pre = linker.instantiate_pre(&component).unwrap();
    match version {
        Version::V3 => {
            let pre = async_bindings::AsyncDriverPre::new(pre).unwrap();
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(async {
                    let driver = pre.instantiate_async(&mut store).await.unwrap();
                    store
                        .run_concurrent(async move |accessor| {
                            driver.call_run(accessor, script).await
                        })
                        .await
                        .unwrap()
                        .unwrap()
                })
        }
        _ => {
            let driver = bindings::DriverPre::new(pre)
                .unwrap()
                .instantiate(&mut store)
                .unwrap();
            driver.call_run(&mut store, &script).unwrap()
        }
    }
}

fn open(slot: u32, label: &str) -> Operation {
    Operation::Open(OpenOp {
        slot,
        label: label.to_owned(),
    })
}

fn set(slot: u32, key: &str, value: &[u8]) -> Operation {
    Operation::Set(SetOp {
        slot,
        key: key.to_owned(),
        value: value.to_vec(),
    })
}

fn key(slot: u32, key: &str) -> KeyOp {
    KeyOp {
        slot,
        key: key.to_owned(),
    }
}

fn sorted(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Outcome::Keys(keys) => {
            let mut keys = keys.clone();
            keys.sort();
            keys
        }
        other => panic!("expected keys, got {other:?}"),
    }
}

fn keys(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("key-{i:03}")).collect()
}

#[test]
fn the_v1_driver_reads_writes_lists_and_sees_invalid_store_for_closed_and_forged_handles() {
    let app = crate::proxy::app(&["default"], |_| {});
    let outcomes = run(
        Version::V1,
        &app,
        vec![
            open(0, "default"),
            Operation::Get(key(0, "missing")),
            set(0, "k", &[0, 255]),
            Operation::Get(key(0, "k")),
            Operation::GetKeys(0),
            Operation::Close(0),
            Operation::Get(key(0, "k")),
            Operation::Close(0),
            Operation::ForgeHandle(bindings::kvconf::driver::types::ForgeOp {
                slot: 1,
                handle: 99,
            }),
            Operation::Exists(key(1, "k")),
            open(2, "secret"),
        ],
    );
    assert_eq!(
        outcomes,
        [
            Outcome::Opened,
            Outcome::Failed(KvError::NoSuchKey),
            Outcome::Done,
            Outcome::Value(Some(vec![0, 255])),
            Outcome::Keys(vec!["k".to_owned()]),
            Outcome::Done,
            Outcome::Failed(KvError::InvalidStore),
            Outcome::Done,
            Outcome::Done,
            Outcome::Failed(KvError::InvalidStore),
            Outcome::Failed(KvError::AccessDenied),
        ]
    );
}

#[test]
fn the_wasi_driver_pages_listings_and_uses_atomics_and_batches() {
    let app = crate::proxy::app(&["default"], |config| {
        config.wasi_page_size = std::num::NonZeroUsize::new(2).unwrap();
    });
    let store = app.store("default").unwrap();
    for key in keys(5) {
        store.set(&key, b"v").unwrap();
    }
    let outcomes = run(
        Version::Wasi,
        &app,
        vec![
            open(0, "default"),
            Operation::GetKeys(0),
            Operation::ListKeys(ListOp {
                slot: 0,
                cursor: None,
            }),
            Operation::ListKeys(ListOp {
                slot: 0,
                cursor: Some("not a cursor".to_owned()),
            }),
            Operation::Increment(IncrementOp {
                slot: 0,
                key: "counter".to_owned(),
                delta: 41,
            }),
            Operation::Increment(IncrementOp {
                slot: 0,
                key: "counter".to_owned(),
                delta: 1,
            }),
            Operation::CasNew(CasOp {
                slot: 0,
                key: "counter".to_owned(),
                cas: 0,
            }),
            set(0, "counter", b"meanwhile"),
            Operation::CasSwap(SwapOp {
                cas: 0,
                value: b"mine".to_vec(),
            }),
            Operation::CasNew(CasOp {
                slot: 0,
                key: "fresh".to_owned(),
                cas: 1,
            }),
            Operation::CasCurrent(1),
            Operation::CasSwap(SwapOp {
                cas: 1,
                value: b"mine".to_vec(),
            }),
            Operation::SetMany(SetManyOp {
                slot: 0,
                entries: vec![
                    ("a".to_owned(), b"1".to_vec()),
                    ("b".to_owned(), b"2".to_vec()),
                ],
            }),
            Operation::GetMany(KeysOp {
                slot: 0,
                keys: vec!["b".to_owned(), "missing".to_owned(), "a".to_owned()],
            }),
            Operation::DeleteMany(KeysOp {
                slot: 0,
                keys: vec!["a".to_owned(), "never".to_owned()],
            }),
            Operation::Get(key(0, "a")),
        ],
    );
    assert_eq!(outcomes[0], Outcome::Opened);
    assert_eq!(
        sorted(&outcomes[1]),
        keys(5),
        "the driver follows every cursor"
    );
    assert_eq!(
        outcomes[2],
        Outcome::Page(KeyPage {
            keys: keys(2),
            cursor: Some(kvhost::wasi_keyvalue::encode_cursor("key-001")),
        })
    );
    assert!(
        matches!(&outcomes[3], Outcome::Failed(KvError::Other(text)) if text.contains("was not issued by this host")),
        "{:?}",
        outcomes[3]
    );
    assert_eq!(outcomes[4..6], [Outcome::Counter(41), Outcome::Counter(42)]);
    assert_eq!(outcomes[8], Outcome::Failed(KvError::CasFailed));
    assert_eq!(outcomes[10], Outcome::Value(None));
    assert_eq!(outcomes[11], Outcome::Done);
    assert_eq!(
        outcomes[13],
        Outcome::Entries(vec![
            ("b".to_owned(), Some(b"2".to_vec())),
            ("missing".to_owned(), None),
            ("a".to_owned(), Some(b"1".to_vec())),
        ])
    );
    assert_eq!(outcomes[15], Outcome::Value(None));
    assert_eq!(store.get("counter").unwrap(), Some(b"meanwhile".to_vec()));
    assert_eq!(store.get("fresh").unwrap(), Some(b"mine".to_vec()));
}

#[test]
fn the_v3_driver_streams_every_key_and_can_abandon_a_listing_part_way() {
    let app = crate::proxy::app(&["default"], |config| config.max_open_stores = Some(2));
    let store = app.store("default").unwrap();
    for key in keys(300) {
        store.set(&key, b"v").unwrap();
    }
    let outcomes = run(
        Version::V3,
        &app,
        vec![
            open(0, "default"),
            Operation::GetKeys(0),
            Operation::GetKeysPartial(PartialOp { slot: 0, take: 10 }),
            set(0, "after", b"v"),
            Operation::Get(key(0, "after")),
            Operation::Concurrently(3),
            Operation::GetKeys(0),
            Operation::Exists(key(0, "key-299")),
            Operation::GetKeys(0),
            open(1, "default"),
            open(2, "default"),
            open(3, "secret"),
        ],
    );
    assert_eq!(outcomes[0], Outcome::Opened);
    assert_eq!(sorted(&outcomes[1]), keys(300));
    assert!(
        !matches!(outcomes[2], Outcome::Failed(_) | Outcome::ScriptError(_)),
        "{:?}",
        outcomes[2]
    );
    assert_eq!(
        outcomes[3..5],
        [Outcome::Done, Outcome::Value(Some(b"v".to_vec()))]
    );
    assert_eq!(outcomes[5], Outcome::Done, "the concurrent group starts");
    let mut with_after = keys(300);
    with_after.insert(0, "after".to_owned());
    assert_eq!(sorted(&outcomes[6]), with_after);
    assert_eq!(outcomes[7], Outcome::Exists(true));
    assert_eq!(sorted(&outcomes[8]), with_after);
    assert_eq!(
        outcomes[9..],
        [
            Outcome::Opened,
            Outcome::Failed(KvError::StoreTableFull),
            Outcome::Failed(KvError::AccessDenied),
        ]
    );
}
