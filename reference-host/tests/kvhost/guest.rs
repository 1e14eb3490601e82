//! The v2 interface end to end: the suite's own driver component (`guest-fixtures/prebuilt/driver-v2.wasm`)
//! runs scripts against kvhost's `add_to_linker`, so the bindings, the resource mapping and the error variants
//! are checked from the guest's side, not only through the Rust API.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use kvhost::{Application, HostConfig, KeyValueState, Limits};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "kvconf:driver/driver-v2",
        additional_derives: [PartialEq],
    });
}

use bindings::kvconf::driver::types::{KeyOp, KvError, OpenOp, Operation, Outcome, SetOp};

struct Guest {
    wasi: WasiCtx,
    table: ResourceTable,
    key_value: KeyValueState,
    observed: Vec<(u32, Outcome)>,
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
    fn observe(&mut self, index: u32, outcome: Outcome) {
        self.observed.push((index, outcome));
    }
}

fn engine_and_driver() -> &'static (Engine, Component) {
    static COMPILED: OnceLock<(Engine, Component)> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../guest-fixtures/prebuilt/driver-v2.wasm");
        let engine = Engine::default();
        let component = Component::from_file(&engine, &path)
            .unwrap_or_else(|e| panic!("the prebuilt driver {} loads: {e:?}", path.display()));
        (engine, component)
    })
}

/// Runs `script` in a fresh instance of the driver whose key-value state comes from `app` for component "driver".
fn run(app: &Application, script: Vec<Operation>) -> Vec<Outcome> {
    let (engine, component) = engine_and_driver();
    let mut linker = Linker::<Guest>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    bindings::kvconf::driver::types::add_to_linker::<_, HasSelf<Guest>>(&mut linker, |guest| guest)
        .unwrap();
    bindings::kvconf::driver::observer::add_to_linker::<_, HasSelf<Guest>>(&mut linker, |guest| {
        guest
    })
    .unwrap();
    kvhost::add_to_linker(&mut linker, |guest: &mut Guest| &mut guest.key_value).unwrap();
    let guest = Guest {
        wasi: WasiCtx::builder().inherit_stderr().build(),
        table: ResourceTable::new(),
        key_value: app.instance_state("driver").unwrap(),
        observed: Vec::new(),
    };
    let mut store = Store::new(engine, guest);
    let driver = bindings::DriverV2::instantiate(&mut store, component, &linker).unwrap();
    let outcomes = driver.call_run(&mut store, &script).unwrap();
    let observed: Vec<Outcome> = store
        .data()
        .observed
        .iter()
        .map(|(_, outcome)| outcome.clone())
        .collect();
    assert_eq!(
        observed, outcomes,
        "the driver observed every outcome it returned"
    );
    outcomes
}

fn app(config: HostConfig, labels: &[&str]) -> Application {
    let grants = BTreeMap::from([(
        "driver".to_owned(),
        labels.iter().map(|label| (*label).to_owned()).collect(),
    )]);
    Application::load(config, grants).unwrap()
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

fn key_op(slot: u32, key: &str) -> KeyOp {
    KeyOp {
        slot,
        key: key.to_owned(),
    }
}

#[test]
fn a_guest_reads_writes_lists_and_deletes_through_v2() {
    let app = app(HostConfig::memory(), &["default"]);
    let outcomes = run(
        &app,
        vec![
            open(0, "default"),
            Operation::Get(key_op(0, "missing")),
            set(0, "k", &[0, 255, 1]),
            set(0, "empty", b""),
            Operation::Get(key_op(0, "k")),
            Operation::Get(key_op(0, "empty")),
            Operation::Exists(key_op(0, "empty")),
            Operation::GetKeys(0),
            Operation::Delete(key_op(0, "k")),
            Operation::Delete(key_op(0, "k")),
            Operation::Exists(key_op(0, "k")),
            Operation::Close(0),
        ],
    );
    let mut outcomes = outcomes.into_iter();
    assert_eq!(outcomes.next(), Some(Outcome::Opened));
    assert_eq!(outcomes.next(), Some(Outcome::Value(None)));
    assert_eq!(outcomes.next(), Some(Outcome::Done));
    assert_eq!(outcomes.next(), Some(Outcome::Done));
    assert_eq!(outcomes.next(), Some(Outcome::Value(Some(vec![0, 255, 1]))));
    assert_eq!(outcomes.next(), Some(Outcome::Value(Some(Vec::new()))));
    assert_eq!(outcomes.next(), Some(Outcome::Exists(true)));
    match outcomes.next() {
        Some(Outcome::Keys(mut keys)) => {
            keys.sort();
            assert_eq!(keys, ["empty", "k"]);
        }
        other => panic!("expected keys, got {other:?}"),
    }
    assert_eq!(outcomes.next(), Some(Outcome::Done));
    assert_eq!(outcomes.next(), Some(Outcome::Done));
    assert_eq!(outcomes.next(), Some(Outcome::Exists(false)));
    assert_eq!(outcomes.next(), Some(Outcome::Done));
    assert_eq!(outcomes.next(), None);
}

#[test]
fn a_second_handle_survives_the_first_being_dropped_and_data_outlives_the_instance() {
    let app = app(HostConfig::memory(), &["default"]);
    let outcomes = run(
        &app,
        vec![
            open(0, "default"),
            open(1, "default"),
            set(0, "k", b"through slot 0"),
            Operation::Close(0),
            Operation::Get(key_op(1, "k")),
        ],
    );
    assert_eq!(
        outcomes[4],
        Outcome::Value(Some(b"through slot 0".to_vec()))
    );
    let later = run(
        &app,
        vec![open(0, "default"), Operation::Get(key_op(0, "k"))],
    );
    assert_eq!(later[1], Outcome::Value(Some(b"through slot 0".to_vec())));
}

#[test]
fn a_guest_sees_access_denied_and_store_table_full_as_error_variants() {
    let mut config = HostConfig::memory();
    config.max_open_stores = Some(1);
    let app = app(config, &["default"]);
    let outcomes = run(
        &app,
        vec![
            open(0, "secret"),
            open(0, "default"),
            open(1, "default"),
            Operation::Close(0),
            open(1, "default"),
        ],
    );
    assert_eq!(
        outcomes,
        [
            Outcome::Failed(KvError::AccessDenied),
            Outcome::Opened,
            Outcome::Failed(KvError::StoreTableFull),
            Outcome::Done,
            Outcome::Opened,
        ]
    );
}

#[test]
fn a_guest_sees_a_limit_refusal_as_other_with_the_hosts_message() {
    let mut config = HostConfig::memory();
    config.limits = Limits {
        max_value_bytes: Some(4),
        ..Limits::none()
    };
    let app = app(config, &["default"]);
    let outcomes = run(
        &app,
        vec![
            open(0, "default"),
            set(0, "k", b"old"),
            set(0, "k", b"too long"),
            Operation::Get(key_op(0, "k")),
        ],
    );
    assert_eq!(
        outcomes[2],
        Outcome::Failed(KvError::Other(
            "value of 8 bytes exceeds this host's limit of 4 bytes".to_owned()
        ))
    );
    assert_eq!(outcomes[3], Outcome::Value(Some(b"old".to_vec())));
}

#[test]
fn a_guest_on_sqlite_reads_back_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(HostConfig::sqlite(dir.path()), &["default"]);
    let all_bytes: Vec<u8> = (0..=255).collect();
    let outcomes = run(
        &app,
        vec![
            open(0, "default"),
            set(0, "all", &all_bytes),
            Operation::Get(key_op(0, "all")),
        ],
    );
    assert_eq!(outcomes[2], Outcome::Value(Some(all_bytes)));
}
