//! kvconf against a real third-party host: wasmtime's own `wasmtime-wasi-keyvalue` 48.0.8, which implements
//! `wasi:keyvalue@0.2.0-draft` with an in-memory provider, run in-process through kvconf's draft driver.
//!
//! Two kinds of trials, run by `cargo test --test wasmtime_wasi_keyvalue`:
//! - `wasi-keyvalue-draft/wasmtime-in-memory/<case-id>` (and the concurrent histories): the whole suite
//!   ([`kvconf::libtest::Suite`]), judged by `expectations/wasmtime-wasi-keyvalue.toml`, where everything the crate
//!   does differently from the spec is listed with the reason read in its source. A listed trial that stops
//!   failing fails as a stale expectation, and an unlisted failure fails.
//! - `wasmtime-wasi-keyvalue/<fact>`: the facts those reasons rest on, each shown through the same driver with
//!   the one identifier the crate serves (`""`), so that a new release of the crate that changes one of them
//!   fails here and sends the reader to the expectations and the README.
//!
//! Two more paths, for maintainers, each writing into the repository only when asked:
//! - `cargo test --test wasmtime_wasi_keyvalue -- --bless` rewrites the expectations file from a run (every
//!   failure and skip, keeping the reasons already written), as `kvconf run --bless` does;
//! - `cargo test --test wasmtime_wasi_keyvalue -- --write-report results/wasmtime-wasi-keyvalue.md` writes the
//!   Markdown conformance matrix of a run ([`Report::markdown`], as `kvconf run --format markdown` builds it),
//!   only when that run passes under the expectations. The matrix shows the crate's failures as failures: judged
//!   by the expectations, as `kvconf run --expectations` shows them, each would be a skip, and a matrix of
//!   nothing but skips says nothing of the crate (the reasons are in the expectations file).
//!
//! # What the host is
//!
//! A [`HostUnderTest`] around the crate exactly as its documentation wires it: a [`WasiKeyValueCtx`] and a
//! [`ResourceTable`] per instance, linked with `wasmtime_wasi_keyvalue::add_to_linker`. The crate has no notion
//! of an application, a grant or a runtime configuration, so loading does nothing with them: the identifiers
//! it serves are its own business. What the crate does, read in `src/lib.rs` of the 48.0.8 release:
//! - `open` serves exactly one identifier, `""` (the in-memory provider), and answers `no-such-store` for any
//!   other; it never answers `access-denied`.
//! - Each `open("")` pushes a new bucket holding a *clone* of the context's preset data, so a second bucket does
//!   not see the first's writes, and whatever a bucket wrote is gone when it is dropped.
//! - `list-keys` returns every key from the cursor's offset in `HashMap` order, with cursor `none`; a cursor past
//!   the end gives an empty page.
//! - `increment` parses the value as decimal UTF-8 text of a `u64` (a missing key starts at `"0"`), adds with
//!   overflow checked, and writes the decimal text back; anything else is `other`.
//! - `get-many` answers `none` for a missing key, in request order; `set-many` and `delete-many` loop.
//! - Keys and values are whatever a `HashMap<String, Vec<u8>>` holds: no limits, the empty key included.

use kvconf::case::{self, Case};
use kvconf::catalogue::Catalogue;
use kvconf::driver::Driver;
use kvconf::expectations::{self, Expectations};
use kvconf::fuzz::{self, FuzzConfig};
use kvconf::history::{self, HistoryConfig};
use kvconf::host::{AppSpec, HostUnderTest};
use kvconf::interface::Interface;
use kvconf::outcome::{ErrorKind, KvError, Operation, Outcome};
use kvconf::profile::{InvalidHandle, Limits, Profile, UnconfiguredLabel};
use kvconf::report::{Meta, Report};
use kvconf::runner::{CaseResult, Runner};
use libtest_mimic::{Arguments, Failed, Trial};
use std::any::{Any, TypeId};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi_keyvalue::{WasiKeyValue, WasiKeyValueCtx, WasiKeyValueCtxBuilder};

/// The expectations file, relative to the repository root (cargo runs the test there).
const EXPECTATIONS: &str = "expectations/wasmtime-wasi-keyvalue.toml";
/// The backend part of the trial names.
const BACKEND: &str = "wasmtime-in-memory";
/// The host, as reports name it.
const HOST: &str = "wasmtime-wasi-keyvalue 48.0.8 (its in-memory provider, in-process)";
/// Concurrent histories in the trial `generated/concurrent-histories`, and their seed (and that of the generated
/// sequences, `generated/sequences`).
const HISTORIES: u64 = 8;
const SEED: u64 = 1;
/// The one edition the crate provides.
const DRAFT: Interface = Interface::WasiKeyvalueDraft;

/// wasmtime-wasi-keyvalue as a host under test.
struct WasmtimeWasiKeyvalue {
    profile: Profile,
}

impl WasmtimeWasiKeyvalue {
    fn new() -> Self {
        WasmtimeWasiKeyvalue {
            profile: Profile {
                name: "wasmtime-wasi-keyvalue".into(),
                interfaces: vec![DRAFT],
                // An in-memory `HashMap<String, Vec<u8>>` per bucket: the source checks no size and no count.
                limits: Limits::default(),
                // Each bucket is an entry of the instance's `ResourceTable`, whose default bound is 1,000,000
                // entries (wasmtime's `DEFAULT_MAX_CAPACITY`); past it `push` fails with `Full`, which the crate
                // turns into `other`. Here the crate has a table of its own, so the bound is exactly that.
                open_stores: Some(1_000_000),
                // It has no load step to refuse anything at, and answers `no-such-store` at `open` for every
                // identifier but "".
                unconfigured_label: UnconfiguredLabel::NoSuchStore,
                // No v1: this claim is never used.
                v1_invalid_handle: InvalidHandle::Error,
                // A `HashMap<String, _>` key like any other.
                empty_key: true,
                v1_fresh_handles: false,
                // Its one provider keeps data in memory, per bucket.
                durable: false,
                // `list-keys` returns every key in one page with cursor `none` (src/lib.rs list_keys).
                wasi_paging: Some(kvconf::profile::WasiPaging::SinglePage),
                wasi_page_keys: None,
            },
        }
    }
}

/// One instance's state, as the crate's documentation keeps it: the context and the resource table its
/// buckets live in.
struct CrateState {
    ctx: WasiKeyValueCtx,
    table: ResourceTable,
}

/// The suite's `get` for each store-data type `T` it links with.
///
/// wasmtime-wasi-keyvalue's `add_to_linker` takes a plain `fn(&mut T) -> WasiKeyValue<'_>`, and the suite hands
/// a host a plain `fn(&mut T) -> &mut CrateState`; a `fn` cannot capture another, so [`view`] finds the suite's
/// function here, by `T`.
fn getters() -> &'static Mutex<Vec<(TypeId, Getter)>> {
    static GETTERS: OnceLock<Mutex<Vec<(TypeId, Getter)>>> = OnceLock::new();
    GETTERS.get_or_init(Mutex::default)
}

/// A `fn(&mut T) -> &mut CrateState`, for the `T` it is kept with.
type Getter = Box<dyn Any + Send + Sync>;

fn remember_getter<T: 'static>(get: fn(&mut T) -> &mut CrateState) {
    let mut getters = getters().lock().unwrap_or_else(|e| e.into_inner());
    getters.retain(|(id, _)| *id != TypeId::of::<T>());
    getters.push((TypeId::of::<T>(), Box::new(get)));
}

/// The crate's view of an instance's state, found through the suite's `get` for `T`.
fn view<T: 'static>(data: &mut T) -> WasiKeyValue<'_> {
    let get = {
        let getters = getters().lock().unwrap_or_else(|e| e.into_inner());
        getters
            .iter()
            .find(|(id, _)| *id == TypeId::of::<T>())
            .and_then(|(_, get)| get.downcast_ref::<fn(&mut T) -> &mut CrateState>())
            .copied()
            .expect("add_to_linker remembers the suite's getter before the crate can call view")
    };
    let state = get(data);
    WasiKeyValue::new(&state.ctx, &mut state.table)
}

impl HostUnderTest for WasmtimeWasiKeyvalue {
    type Data = CrateState;
    /// Nothing outlives an instance: the crate keeps every bucket's data in the bucket.
    type App = ();

    fn backend(&self) -> &str {
        BACKEND
    }

    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn add_to_linker<T: Send + 'static>(
        &self,
        interface: Interface,
        linker: &mut Linker<T>,
        get: fn(&mut T) -> &mut CrateState,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            interface == DRAFT,
            "wasmtime-wasi-keyvalue provides only {}, not {}",
            DRAFT.wit_name(),
            interface.wit_name()
        );
        remember_getter(get);
        wasmtime_wasi_keyvalue::add_to_linker(linker, view::<T>)?;
        Ok(())
    }

    fn load(&self, _app: &AppSpec<'_>) -> anyhow::Result<()> {
        Ok(())
    }

    fn instance_data(&self, _app: &(), _component: &str) -> anyhow::Result<CrateState> {
        Ok(CrateState {
            ctx: WasiKeyValueCtxBuilder::new().build(),
            table: ResourceTable::new(),
        })
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let bless = take_flag(&mut args, "--bless");
    let report = take_option(&mut args, "--write-report");
    let outcome = match (bless, report) {
        (true, _) => bless_expectations(),
        (false, Some(path)) => write_report(&path),
        (false, None) => {
            let args = Arguments::from_iter(args);
            let trials = kvconf::libtest::Suite::new(WasmtimeWasiKeyvalue::new())
                .expectations(EXPECTATIONS)
                .histories(HISTORIES)
                .seed(SEED)
                .trials();
            match trials {
                Ok(mut trials) => {
                    trials.extend(facts());
                    libtest_mimic::run(&args, trials).exit()
                }
                Err(message) => Err(message),
            }
        }
    };
    if let Err(message) = outcome {
        eprintln!("{message}");
        std::process::exit(101);
    }
}

fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

fn take_option(args: &mut Vec<String>, option: &str) -> Option<PathBuf> {
    let at = args.iter().position(|a| a == option)?;
    args.remove(at);
    (at < args.len()).then(|| PathBuf::from(args.remove(at)))
}

fn cases() -> Result<Vec<Case>, String> {
    case::load_dir(&case::default_dir(), Catalogue::builtin()).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        format!("kvconf cannot load its cases:\n{}", list.join("\n"))
    })
}

/// Every trial of the suite against the crate, as the libtest trials run them.
fn run_suite(cases: &[Case]) -> Result<Vec<CaseResult>, String> {
    let work = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let runner = Runner::new(
        WasmtimeWasiKeyvalue::new(),
        work.path().to_path_buf(),
        Duration::from_secs(60),
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    let mut results = runner.run_all(cases, &[DRAFT], threads);
    results.push(history::check_histories(
        &runner,
        DRAFT,
        SEED,
        HISTORIES,
        &HistoryConfig::default(),
    ));
    let sequences = FuzzConfig {
        seed: SEED,
        ..FuzzConfig::default()
    };
    results.push(fuzz::check_sequences(&runner, DRAFT, &sequences, None));
    Ok(results)
}

/// `-- --bless`: rewrites the expectations file from a run, keeping the reasons already written.
fn bless_expectations() -> Result<(), String> {
    let cases = cases()?;
    let existing = Expectations::load(Path::new(EXPECTATIONS), &cases, &[BACKEND]).ok();
    let results = run_suite(&cases)?;
    let text = expectations::bless(existing.as_ref(), &results, "wasmtime-wasi-keyvalue 48.0.8");
    std::fs::write(EXPECTATIONS, &text).map_err(|e| format!("writing {EXPECTATIONS}: {e}"))?;
    eprintln!(
        "wrote {} expectation(s) to {EXPECTATIONS}",
        text.matches("[[expect]]").count()
    );
    Ok(())
}

/// `-- --write-report PATH`: the Markdown conformance matrix of a run, its failures shown as failures (see the
/// module docs). Refused when the run does not pass under the expectations, so the report is always of a run
/// the test accepts.
fn write_report(path: &Path) -> Result<(), String> {
    let cases = cases()?;
    let expectations = Expectations::load(Path::new(EXPECTATIONS), &cases, &[BACKEND])
        .map_err(|e| e.to_string())?;
    let results = run_suite(&cases)?;
    let applied = expectations.apply(&results);
    if !applied.passed(false) {
        return Err(format!(
            "the run does not pass under its expectations, so no report is written:\n{}",
            applied.summary(&expectations.path, false)
        ));
    }
    let host = WasmtimeWasiKeyvalue::new();
    let report = Report::new(HOST, host.profile(), &[DRAFT], results);
    // Not judged by the expectations (its failures are shown as failures), so the header names none.
    let meta = Meta::new(SEED, None);
    std::fs::write(path, report.markdown(&meta))
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Runs `ops` through the draft driver in one fresh instance of the crate's host.
fn script(ops: &[Operation]) -> Result<Vec<Outcome>, Failed> {
    let host = WasmtimeWasiKeyvalue::new();
    let driver = Driver::new(&host, DRAFT).map_err(|e| format!("{e:#}"))?;
    let data = host
        .instance_data(&(), "main")
        .map_err(|e| format!("{e:#}"))?;
    let run = driver.run(
        data,
        ops,
        Arc::new(Mutex::new(Vec::new())),
        Duration::from_secs(30),
    );
    Ok(run.outcomes)
}

/// What an outcome must be, in [`check`].
type Check<'a> = &'a dyn Fn(&Outcome) -> bool;

/// Runs `ops` and checks each outcome with its check, in order.
fn check(ops: &[(Operation, Check<'_>)]) -> Result<(), Failed> {
    let script_ops: Vec<Operation> = ops.iter().map(|(op, _)| op.clone()).collect();
    let outcomes = script(&script_ops)?;
    for (n, ((op, ok), outcome)) in ops.iter().zip(&outcomes).enumerate() {
        if !ok(outcome) {
            return Err(format!(
                "operation {} ({op}) gave {}; the crate no longer does what the expectations and the README \
                 say: read its source again and update them",
                n + 1,
                outcome.render(None)
            )
            .into());
        }
    }
    Ok(())
}

fn open(slot: u32, label: &str) -> Operation {
    Operation::Open {
        slot,
        label: label.into(),
    }
}

fn set(slot: u32, key: &str, value: &[u8]) -> Operation {
    Operation::Set {
        slot,
        key: key.into(),
        value: value.to_vec(),
    }
}

fn get(slot: u32, key: &str) -> Operation {
    Operation::Get {
        slot,
        key: key.into(),
    }
}

fn increment(key: &str, delta: i64) -> Operation {
    Operation::Increment {
        slot: 0,
        key: key.into(),
        delta,
    }
}

fn list(cursor: Option<&str>) -> Operation {
    Operation::ListKeys {
        slot: 0,
        cursor: cursor.map(str::to_owned),
    }
}

fn opened(o: &Outcome) -> bool {
    *o == Outcome::Opened
}

fn done(o: &Outcome) -> bool {
    *o == Outcome::Done
}

fn none(o: &Outcome) -> bool {
    *o == Outcome::Value(None)
}

fn failed(kind: ErrorKind) -> impl Fn(&Outcome) -> bool {
    move |o| matches!(o, Outcome::Failed(KvError { kind: k, .. }) if *k == kind)
}

fn value(bytes: &'static [u8]) -> impl Fn(&Outcome) -> bool {
    move |o| *o == Outcome::Value(Some(bytes.to_vec()))
}

fn counter(n: i64) -> impl Fn(&Outcome) -> bool {
    move |o| *o == Outcome::Counter(n)
}

/// A page of exactly `count` keys, as a set, with cursor `none`.
fn whole_page(count: usize) -> impl Fn(&Outcome) -> bool {
    move |o| matches!(o, Outcome::Page { keys, cursor: None } if keys.len() == count)
}

/// The facts the expectations' reasons rest on, each a trial.
fn facts() -> Vec<Trial> {
    let fact = |name: &str, body: fn() -> Result<(), Failed>| {
        Trial::test(format!("wasmtime-wasi-keyvalue/{name}"), body)
    };
    vec![
        fact("open-serves-only-the-empty-identifier", || {
            check(&[
                (open(0, ""), &opened),
                (open(1, "default"), &failed(ErrorKind::NoSuchStore)),
                (open(2, "cache"), &failed(ErrorKind::NoSuchStore)),
                (open(3, "Default"), &failed(ErrorKind::NoSuchStore)),
            ])
        }),
        fact("a-second-open-does-not-see-the-firsts-writes", || {
            check(&[
                (open(0, ""), &opened),
                (set(0, "k", b"v"), &done),
                (open(1, ""), &opened),
                (get(1, "k"), &none),
                (set(1, "k", b"w"), &done),
                (get(0, "k"), &value(b"v")),
            ])
        }),
        fact("a-buckets-data-is-gone-when-it-is-dropped", || {
            check(&[
                (open(0, ""), &opened),
                (set(0, "k", b"v"), &done),
                (Operation::Close { slot: 0 }, &done),
                (open(0, ""), &opened),
                (get(0, "k"), &none),
                (
                    Operation::Exists {
                        slot: 0,
                        key: "k".into(),
                    },
                    &|o| *o == Outcome::Exists(false),
                ),
            ])
        }),
        fact(
            "list-keys-returns-every-key-at-once-and-reads-a-cursor-as-an-offset",
            || {
                let keys = |n: usize| move |o: &Outcome| matches!(o, Outcome::Page { keys, cursor: None } if keys.len() == n);
                check(&[
                    (open(0, ""), &opened),
                    (
                        Operation::SetMany {
                            slot: 0,
                            entries: (0..250).map(|i| (format!("k{i}"), vec![1])).collect(),
                        },
                        &done,
                    ),
                    (list(None), &whole_page(250)),
                    (list(Some("0")), &keys(250)),
                    (list(Some("100")), &keys(150)),
                    (list(Some("18446744073709551615")), &keys(0)),
                ])
            },
        ),
        fact("increment-counts-in-decimal-u64-text", || {
            check(&[
                (open(0, ""), &opened),
                (increment("n", 41), &counter(41)),
                (increment("n", 1), &counter(42)),
                (get(0, "n"), &value(b"42")),
                (set(0, "text", b"hello"), &done),
                (increment("text", 1), &failed(ErrorKind::Other)),
                (get(0, "text"), &value(b"hello")),
                // A value written with set in that form is a counter too.
                (set(0, "five", b"5"), &done),
                (increment("five", 1), &counter(6)),
                // Past i64::MAX the u64 keeps counting; the driver's s64 counter cannot carry the answer.
                (increment("big", i64::MAX), &counter(i64::MAX)),
                (
                    increment("big", i64::MAX),
                    &|o| matches!(o, Outcome::ScriptError(text) if text.contains("18446744073709551614")),
                ),
                (get(0, "big"), &value(b"18446744073709551614")),
                (
                    increment("big", 1),
                    &|o| matches!(o, Outcome::ScriptError(text) if text.contains("18446744073709551615")),
                ),
                (increment("big", 1), &failed(ErrorKind::Other)),
            ])
        }),
        fact(
            "get-many-answers-none-for-a-missing-key-in-request-order",
            || {
                check(&[
                    (open(0, ""), &opened),
                    (
                        Operation::SetMany {
                            slot: 0,
                            entries: vec![("a".into(), b"1".to_vec()), ("".into(), b"".to_vec())],
                        },
                        &done,
                    ),
                    (
                        Operation::GetMany {
                            slot: 0,
                            keys: vec!["missing".into(), "a".into(), "".into()],
                        },
                        &|o| {
                            *o == Outcome::Entries(vec![
                                ("missing".into(), None),
                                ("a".into(), Some(b"1".to_vec())),
                                ("".into(), Some(Vec::new())),
                            ])
                        },
                    ),
                    (
                        Operation::DeleteMany {
                            slot: 0,
                            keys: vec!["a".into(), "never".into()],
                        },
                        &done,
                    ),
                    (get(0, "a"), &none),
                ])
            },
        ),
    ]
}
