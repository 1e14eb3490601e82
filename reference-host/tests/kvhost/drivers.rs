//! Every interface version end to end through the suite's own driver components
//! (`guest-fixtures/prebuilt/driver-*.wasm`, built from Rust with wit-bindgen): kvhost's `add_to_linker` of each
//! version serves a driver that runs a script and reports what the host answered. Unlike the WAT proxies (see
//! `proxy`), the v3 driver lowers the imports asynchronously and keeps several calls in flight at once.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use kvhost::{Application, Error, KeyValueState, Store as _, StoreManager, StoreWrapper};
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

#[derive(Clone, Copy, Debug)]
enum Version {
    V1,
    V2,
    V3,
    Wasi,
    WasiDraft,
}

impl Version {
    fn fixture(self) -> &'static str {
        match self {
            Version::V1 => "driver-v1",
            Version::V2 => "driver-v2",
            Version::V3 => "driver-v3",
            Version::Wasi => "driver-wasi-keyvalue",
            Version::WasiDraft => "driver-wasi-keyvalue-draft",
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
    try_run(version, app.instance_state("proxy").unwrap(), script)
        .unwrap_or_else(|e| panic!("the {version:?} driver trapped: {e:?}"))
}

/// Runs `script` in a fresh instance of the driver for `version` with `key_value` as its state; a trap is the
/// error.
fn try_run(
    version: Version,
    key_value: KeyValueState,
    script: Vec<Operation>,
) -> wasmtime::Result<Vec<Outcome>> {
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
        Version::V2 => kvhost::v2::add_to_linker(&mut linker, get).unwrap(),
        Version::V3 => kvhost::v3::add_to_linker(&mut linker, get).unwrap(),
        Version::Wasi => kvhost::wasi_keyvalue::add_to_linker(&mut linker, get).unwrap(),
        Version::WasiDraft => kvhost::wasi_keyvalue_draft::add_to_linker(&mut linker, get).unwrap(),
    }
    let guest = Guest {
        wasi: WasiCtx::builder().inherit_stderr().build(),
        table: ResourceTable::new(),
        key_value,
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
                        .await?
                })
        }
        _ => {
            let driver = bindings::DriverPre::new(pre)
                .unwrap()
                .instantiate(&mut store)
                .unwrap();
            driver.call_run(&mut store, &script)
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
        ]
        .into_iter()
        .chain(batch_ops())
        .collect(),
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
    assert_eq!(outcomes[13], batch_entries());
    assert_eq!(outcomes[15], Outcome::Value(None));
    assert_eq!(store.get("counter").unwrap(), Some(b"meanwhile".to_vec()));
    assert_eq!(store.get("fresh").unwrap(), Some(b"mine".to_vec()));
}

/// The wasi batch operations on slot 0: set "a" and "b", get "b", "missing" and "a", delete "a" and "never",
/// then get "a" (absent); [`batch_entries`] is what the get-many gives.
fn batch_ops() -> [Operation; 4] {
    [
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
    ]
}

/// The get-many of [`batch_ops`]: every key asked for, in order, the missing one as none.
fn batch_entries() -> Outcome {
    Outcome::Entries(vec![
        ("b".to_owned(), Some(b"2".to_vec())),
        ("missing".to_owned(), None),
        ("a".to_owned(), Some(b"1".to_vec())),
    ])
}

fn list(slot: u32, cursor: Option<&str>) -> Operation {
    Operation::ListKeys(ListOp {
        slot,
        cursor: cursor.map(str::to_owned),
    })
}

fn increment(key: &str, delta: i64) -> Operation {
    Operation::Increment(IncrementOp {
        slot: 0,
        key: key.to_owned(),
        delta,
    })
}

fn is_script_error(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::ScriptError(_))
}

fn is_other(outcome: &Outcome, says: &str) -> bool {
    matches!(outcome, Outcome::Failed(KvError::Other(text)) if text.contains(says))
}

#[test]
fn the_draft_driver_pages_with_u64_cursors_the_instance_issued() {
    let app = crate::proxy::app(&["default", "cache"], |config| {
        config.wasi_page_size = std::num::NonZeroUsize::new(2).unwrap();
        config.runtime_config = Some(
            kvhost::RuntimeConfig::parse("[key_value_store.cache]\ntype = \"memory\"\n").unwrap(),
        );
    });
    let store = app.store("default").unwrap();
    for key in keys(5) {
        store.set(&key, b"v").unwrap();
    }
    app.store("cache").unwrap().set("c", b"v").unwrap();
    let outcomes = run(
        Version::WasiDraft,
        &app,
        vec![
            open(0, "default"),
            Operation::GetKeys(0),
            list(0, None),
            // The first page's cursor is the instance's first: 1. It goes on after "key-001".
            list(0, Some("1")),
            // Through another bucket of the same label, after the first is dropped: still valid.
            open(1, "default"),
            Operation::Close(0),
            list(1, Some("1")),
            // Not a number: the driver does not call the host.
            list(1, Some("not a cursor")),
            list(1, Some("-1")),
            // Numbers the instance never issued.
            list(1, Some("0")),
            list(1, Some("18446744073709551615")),
            // A cursor of "default" used on "cache".
            open(2, "cache"),
            list(2, Some("1")),
            list(2, None),
        ],
    );
    assert_eq!(outcomes[0], Outcome::Opened);
    assert_eq!(
        sorted(&outcomes[1]),
        keys(5),
        "the driver follows every cursor"
    );
    let page = |keys: &[&str], cursor: Option<&str>| {
        Outcome::Page(KeyPage {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            cursor: cursor.map(str::to_owned),
        })
    };
    // get-keys issued cursors 1 and 2; the first list-keys page issues 3.
    assert_eq!(outcomes[2], page(&["key-000", "key-001"], Some("3")));
    assert_eq!(outcomes[3], page(&["key-002", "key-003"], Some("4")));
    assert_eq!(outcomes[4..6], [Outcome::Opened, Outcome::Done]);
    assert_eq!(outcomes[6], page(&["key-002", "key-003"], Some("5")));
    assert!(is_script_error(&outcomes[7]), "{:?}", outcomes[7]);
    assert!(is_script_error(&outcomes[8]), "{:?}", outcomes[8]);
    assert!(is_other(&outcomes[9], "not issued"), "{:?}", outcomes[9]);
    assert!(is_other(&outcomes[10], "not issued"), "{:?}", outcomes[10]);
    assert_eq!(outcomes[11], Outcome::Opened);
    assert!(
        is_other(&outcomes[12], "another store") || is_other(&outcomes[12], "of the store"),
        "{:?}",
        outcomes[12]
    );
    assert_eq!(outcomes[13], page(&["c"], None));
}

#[test]
fn the_draft_driver_counts_in_u64_batches_by_position_and_has_no_cas() {
    let app = crate::proxy::app(&["default"], |_| {});
    let store = app.store("default").unwrap();
    // A counter made negative through draft2 (the shared encoding), and one at the top of the shared range.
    store.set("negative", b"-5").unwrap();
    store.set("top", b"9223372036854775807").unwrap();
    let outcomes = run(
        Version::WasiDraft,
        &app,
        vec![
            open(0, "default"),
            increment("n", 41),
            increment("n", 1),
            increment("n", 0),
            increment("n", -1),
            increment("negative", 3),
            increment("negative", 5),
            increment("top", 1),
            set(0, "text", b"hello"),
            increment("text", 1),
        ]
        .into_iter()
        .chain(batch_ops())
        .chain([
            Operation::CasNew(CasOp {
                slot: 0,
                key: "n".to_owned(),
                cas: 0,
            }),
            Operation::CasCurrent(0),
            Operation::CasSwap(SwapOp {
                cas: 0,
                value: b"x".to_vec(),
            }),
        ])
        .collect(),
    );
    assert_eq!(outcomes[0], Outcome::Opened);
    assert_eq!(
        outcomes[1..4],
        [
            Outcome::Counter(41),
            Outcome::Counter(42),
            Outcome::Counter(42)
        ]
    );
    assert!(is_script_error(&outcomes[4]), "{:?}", outcomes[4]);
    assert!(is_other(&outcomes[5], "below zero"), "{:?}", outcomes[5]);
    assert_eq!(outcomes[6], Outcome::Counter(0), "-5 + 5");
    assert!(is_other(&outcomes[7], "overflow"), "{:?}", outcomes[7]);
    assert_eq!(outcomes[8], Outcome::Done);
    assert!(is_other(&outcomes[9], "not a counter"), "{:?}", outcomes[9]);
    assert_eq!(outcomes[11], batch_entries());
    assert_eq!(outcomes[13], Outcome::Value(None));
    assert!(outcomes[14..].iter().all(is_script_error), "{outcomes:?}");
    // Refusals change nothing.
    assert_eq!(
        store.get("top").unwrap(),
        Some(b"9223372036854775807".to_vec())
    );
    assert_eq!(store.get("text").unwrap(), Some(b"hello".to_vec()));
    assert_eq!(store.get("n").unwrap(), Some(b"42".to_vec()));
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

/// A memory store whose `exists` and `get` of the key "trap", whose listings and whose compare-and-swap make the
/// guest trap ([`Error::Trap`]); everything else is the memory store's.
struct Trapping(kvhost::memory::MemoryStore);

impl StoreWrapper for Trapping {
    fn inner(&self) -> &dyn kvhost::Store {
        &self.0
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        if key == "trap" {
            return Err(Error::Trap("deliberate trap in get".to_owned()));
        }
        self.0.get(key)
    }
    fn exists(&self, key: &str) -> Result<bool, Error> {
        if key == "trap" {
            return Err(Error::Trap("deliberate trap in exists".to_owned()));
        }
        self.0.exists(key)
    }
    fn list_keys(&self, _after: Option<&str>, _limit: usize) -> Result<Vec<String>, Error> {
        Err(Error::Trap("deliberate trap listing keys".to_owned()))
    }
    fn compare_and_swap(&self, _: &str, _: Option<&[u8]>, _: &[u8]) -> Result<bool, Error> {
        Err(Error::Trap(
            "deliberate trap in compare-and-swap".to_owned(),
        ))
    }
}

/// Serves one [`Trapping`] store for every label.
struct OneTrapping(Arc<Trapping>);

impl StoreManager for OneTrapping {
    fn get(&self, _label: &str) -> Result<Arc<dyn kvhost::Store>, Error> {
        Ok(Arc::clone(&self.0) as Arc<dyn kvhost::Store>)
    }
    fn is_defined(&self, _label: &str) -> bool {
        true
    }
}

/// Runs `script` with a [`Trapping`] store as "default" and returns the trap, with its causes.
fn trap_of(version: Version, script: Vec<Operation>) -> String {
    let manager = OneTrapping(Arc::new(Trapping(kvhost::memory::MemoryStore::new())));
    let state = KeyValueState::new(Arc::new(manager), ["default".to_owned()], None);
    match try_run(version, state, script) {
        Ok(outcomes) => panic!("the {version:?} driver did not trap: {outcomes:?}"),
        Err(trap) => format!("{trap:?}"),
    }
}

#[test]
fn a_backend_trap_traps_the_guest_through_every_version_with_its_message() {
    for version in [
        Version::V1,
        Version::V2,
        Version::V3,
        Version::Wasi,
        Version::WasiDraft,
    ] {
        let trap = trap_of(
            version,
            vec![open(0, "default"), Operation::Exists(key(0, "trap"))],
        );
        assert!(
            trap.contains("deliberate trap in exists"),
            "{version:?}: {trap}"
        );
    }
}

#[test]
fn a_backend_trap_in_a_v3_key_stream_or_a_wasi_swap_traps_the_guest() {
    let trap = trap_of(Version::V3, vec![open(0, "default"), Operation::GetKeys(0)]);
    assert!(trap.contains("deliberate trap listing keys"), "{trap}");
    for (operation, says) in [
        (
            Operation::CasSwap(SwapOp {
                cas: 0,
                value: b"new".to_vec(),
            }),
            "deliberate trap in compare-and-swap",
        ),
        (
            Operation::CasNew(CasOp {
                slot: 0,
                key: "trap".to_owned(),
                cas: 1,
            }),
            "deliberate trap in get",
        ),
    ] {
        let script = vec![
            open(0, "default"),
            Operation::CasNew(CasOp {
                slot: 0,
                key: "k".to_owned(),
                cas: 0,
            }),
            operation,
        ];
        let trap = trap_of(Version::Wasi, script);
        assert!(trap.contains(says), "{trap}");
    }
}
