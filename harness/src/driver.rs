//! Running scripts in the driver fixtures: one wasmtime engine per process, each fixture compiled once, each
//! script in a fresh store instantiated from an [`InstancePre`](wasmtime::component::InstancePre).

use crate::host::HostUnderTest;
use crate::interface::{Calls, Interface};
use crate::outcome::{ErrorKind, KvError, Operation, Outcome};
use anyhow::Context;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "kvconf:driver/driver",
        // The HTTP drivers' protocol (wit/http-driver.wit) is these types in serde's JSON form, derived the same
        // way inside the guests.
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

/// The v3 driver's world: the same types and observer, and an async `run` called through `run_concurrent`.
mod async_bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "kvconf:driver/async-driver",
        exports: { default: async | store },
        with: {
            "kvconf:driver/types": super::bindings::kvconf::driver::types,
            "kvconf:driver/observer": super::bindings::kvconf::driver::observer,
        },
    });
}

use bindings::kvconf::driver::types as wit;

pub use crate::interface::Fixture;

/// Every driver fixture this build carries, one per interface version ([`crate::interface::SPECS`]).
pub fn fixtures() -> impl Iterator<Item = &'static Fixture> {
    crate::interface::SPECS.iter().map(|spec| &spec.driver)
}

/// The fixture for `interface`.
pub fn fixture(interface: Interface) -> &'static Fixture {
    &interface.spec().driver
}

/// How much of each instance's linear memory (and table) stays resident for the next instance in its slot.
const KEEP_RESIDENT: usize = 2 << 20;

/// How often the engine's epoch advances; a guest's deadline is counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine `interface`'s driver runs in, one per process for each kind of [`Calls`]: the synchronous
/// versions' runs without the component model's concurrency, whose task bookkeeping on every host call was
/// about a tenth of a generated v2 sequence's time (BENCHMARKS.md), and v3's with it. Epoch interruption lets
/// a guest stuck in a loop be stopped; a ticker thread advances the epoch. Instances come from wasmtime's
/// pooling allocator where the process can reserve its pool.
pub fn engine(interface: Interface) -> &'static Engine {
    static SYNC: OnceLock<Engine> = OnceLock::new();
    static ASYNC: OnceLock<Engine> = OnceLock::new();
    match interface.spec().calls {
        Calls::Sync => SYNC.get_or_init(|| new_engine(Calls::Sync)),
        Calls::Async => ASYNC.get_or_init(|| new_engine(Calls::Async)),
    }
}

fn new_engine(calls: Calls) -> Engine {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    match calls {
        Calls::Sync => config.concurrency_support(false),
        Calls::Async => config.wasm_component_model_async(true),
    };
    // Every script runs in a fresh instance, thousands a second while fuzzing. The pooling allocator reuses
    // instance slots instead of mapping and unmapping a linear memory for each, and keeping the first mebibytes
    // of a slot's memory resident (zeroed when the instance goes) spares the page faults of touching them
    // again: together with the binary's allocator, a third of a generated sequence's time was the kernel's
    // (BENCHMARKS.md). Where Linux offers it (6.7 and later), the pool asks the kernel which of those pages the
    // instance wrote (`PAGEMAP_SCAN`) and zeroes only them; a script touches far less than 2 MiB, and zeroing
    // all of it was a few per cent of a generated sequence. The pool's counts are wasmtime's defaults (a
    // thousand instances at once, far more than any run holds); a driver's memory starts at about 1 MiB. The
    // pool reserves its address space up front (6 GiB a memory); where the process may not reserve that much,
    // the engine allocates each instance on demand as before.
    let mut pool = PoolingAllocationConfig::default();
    pool.linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&pooled)
        .or_else(|_| Engine::new(&config))
        .expect("the engine configuration is valid");
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("kvconf-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
    engine
}

/// The compiled component of a fixture; compiled once per process.
pub fn component(fixture: &'static Fixture) -> anyhow::Result<Component> {
    static COMPILED: OnceLock<Mutex<Vec<(&'static str, Component)>>> = OnceLock::new();
    let cache = COMPILED.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = cache.iter().find(|(n, _)| *n == fixture.name) {
        return Ok(c.clone());
    }
    let component = Component::new(engine(fixture.interface), fixture.bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling the {} fixture", fixture.name))?;
    cache.push((fixture.name, component.clone()));
    Ok(component)
}

/// The store data of every driver instance: WASI for the guest's std, the observed outcomes, and the host's
/// own state.
pub struct Ctx<D> {
    wasi: WasiCtx,
    table: ResourceTable,
    observed: Arc<Mutex<Vec<Outcome>>>,
    /// For a timed run ([`Driver::run_timed`]): where to record when each outcome was observed.
    timing: Option<Timing>,
    /// The host's per-instance state.
    pub host: D,
}

impl<D: Send> WasiView for Ctx<D> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl<D> bindings::kvconf::driver::observer::Host for Ctx<D> {
    fn observe(&mut self, index: u32, outcome: wit::Outcome) {
        if let Some(timing) = &self.timing {
            if let Some(pause) = &timing.pause {
                pause(index);
            }
            // The time before anything else: the guest calls this right after the host call returned.
            let now = Instant::now();
            timing
                .times
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(now);
        }
        let mut observed = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        observed.push(from_wit(outcome));
    }
}

impl<D> bindings::kvconf::driver::types::Host for Ctx<D> {}

/// What a timed run ([`Driver::run_timed`]) records, and where it may hold its instance.
#[derive(Clone)]
pub struct Timing {
    /// Receives the [`Instant`] at which each outcome was observed, one per outcome, in order.
    pub times: Arc<Mutex<Vec<Instant>>>,
    /// Called with each outcome's index as it is observed, before its time is taken; it may block to hold the
    /// instance between two operations (to line several instances up), which only moves that observation later.
    pub pause: Option<Arc<dyn Fn(u32) + Send + Sync>>,
}

/// A driver fixture linked to one host, ready to instantiate.
pub struct Driver<H: HostUnderTest> {
    pre: Pre<Ctx<H::Data>>,
    /// The engine it was compiled and linked in ([`engine`]).
    engine: &'static Engine,
}

/// The pre-instantiated driver: a sync `run` ([`Calls::Sync`]) or an async one ([`Calls::Async`]).
enum Pre<T: 'static> {
    Sync(bindings::DriverPre<T>),
    Async(async_bindings::AsyncDriverPre<T>),
}

/// What running one script gave.
#[derive(Debug)]
pub struct ScriptRun {
    /// One outcome per operation: [`Outcome::Trapped`] where the instance trapped, [`Outcome::NotRun`] after.
    pub outcomes: Vec<Outcome>,
    /// What the guest wrote to stderr (a guest panic message, for instance).
    pub stderr: String,
}

impl<H: HostUnderTest> Driver<H> {
    /// Links the fixture for `interface` against `host`.
    pub fn new(host: &H, interface: Interface) -> anyhow::Result<Self> {
        let fixture = fixture(interface);
        let component = component(fixture)?;
        let engine = engine(interface);
        let mut linker: Linker<Ctx<H::Data>> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        bindings::kvconf::driver::observer::add_to_linker::<_, HasSelf<_>>(&mut linker, |c| c)
            .map_err(anyhow::Error::from)
            .context("linking the observer")?;
        host.add_to_linker(interface, &mut linker, |c| &mut c.host)
            .with_context(|| format!("linking the host's {}", interface.wit_name()))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("the host does not provide every import of {}", fixture.name)
            })?;
        const NO_EXPORT: &str = "the fixture lacks the driver's `run` export";
        let pre = match interface.spec().calls {
            Calls::Async => Pre::Async(
                async_bindings::AsyncDriverPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .context(NO_EXPORT)?,
            ),
            Calls::Sync => Pre::Sync(
                bindings::DriverPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .context(NO_EXPORT)?,
            ),
        };
        Ok(Driver { pre, engine })
    }

    /// Runs `ops` in a fresh instance whose host state is `data`. `observed` receives each outcome as it
    /// happens, so a caller that gives up waiting still knows how far the script got. A guest still running
    /// after `deadline` is interrupted.
    pub fn run(
        &self,
        data: H::Data,
        ops: &[Operation],
        observed: Arc<Mutex<Vec<Outcome>>>,
        deadline: Duration,
    ) -> ScriptRun {
        self.run_inner(data, ops, observed, None, deadline)
    }

    /// Like [`Driver::run`], and also records in `timing.times` the [`Instant`] at which each outcome was
    /// observed (one per outcome in `observed`, in the same order). The driver reports an outcome right after the
    /// host call returns and before the next operation starts, so operation `i` was invoked no earlier than
    /// `times[i - 1]` (the start of the run for `i = 0`) and returned no later than `times[i]`.
    pub fn run_timed(
        &self,
        data: H::Data,
        ops: &[Operation],
        observed: Arc<Mutex<Vec<Outcome>>>,
        timing: Timing,
        deadline: Duration,
    ) -> ScriptRun {
        self.run_inner(data, ops, observed, Some(timing), deadline)
    }

    fn run_inner(
        &self,
        data: H::Data,
        ops: &[Operation],
        observed: Arc<Mutex<Vec<Outcome>>>,
        timing: Option<Timing>,
        deadline: Duration,
    ) -> ScriptRun {
        let stderr = MemoryOutputPipe::new(64 * 1024);
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .build();
        let ctx = Ctx {
            wasi,
            table: ResourceTable::new(),
            observed: observed.clone(),
            timing,
            host: data,
        };
        let mut store = Store::new(self.engine, ctx);
        store.set_epoch_deadline((deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64);
        let script: Vec<wit::Operation> = ops.iter().map(to_wit).collect();
        let result = match &self.pre {
            Pre::Sync(pre) => pre
                .instantiate(&mut store)
                .and_then(|driver| driver.call_run(&mut store, &script))
                .map_err(anyhow::Error::from),
            Pre::Async(pre) => run_async(pre, &mut store, script),
        };
        let stderr_text = String::from_utf8_lossy(&stderr.contents()).into_owned();
        // Compared in place: a passing run's outcomes (mebibyte values among them) are not copied.
        let seen = observed.lock().unwrap_or_else(|e| e.into_inner());
        let outcomes = match result {
            Ok(returned) => {
                let returned: Vec<Outcome> = returned.into_iter().map(from_wit).collect();
                if returned != *seen {
                    complete(seen.clone(), ops.len(), Some(
                        "the driver returned outcomes that differ from those it reported as it went: the fixture is broken".to_string(),
                    ))
                } else {
                    returned
                }
            }
            // The root cause (the host's own message, a panic, an epoch interruption) first; wasmtime's
            // context and the wasm backtrace after it.
            Err(e) => complete(
                seen.clone(),
                ops.len(),
                Some(format!("{}\n{e:?}", e.root_cause())),
            ),
        };
        drop(seen);
        ScriptRun {
            outcomes,
            stderr: stderr_text,
        }
    }
}

/// Runs the v3 driver's async `run` to completion on a single-threaded executor of its own: each case runs on
/// its own thread, so nothing is shared between cases.
fn run_async<D: Send + 'static>(
    pre: &async_bindings::AsyncDriverPre<Ctx<D>>,
    store: &mut Store<Ctx<D>>,
    script: Vec<wit::Operation>,
) -> anyhow::Result<Vec<wit::Outcome>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("starting an executor for the v3 driver")?;
    runtime.block_on(async {
        let driver = pre.instantiate_async(&mut *store).await?;
        let outcomes = store
            .run_concurrent(async move |accessor| driver.call_run(accessor, script).await)
            .await??;
        Ok(outcomes)
    })
}

/// A script as the HTTP drivers take it: the JSON array of operations (wit/http-driver.wit).
pub fn script_json(ops: &[Operation]) -> Vec<u8> {
    let script: Vec<wit::Operation> = ops.iter().map(to_wit).collect();
    serde_json::to_vec(&script).expect("the script types serialise to JSON")
}

/// One line of an HTTP driver's answer: an outcome in JSON.
pub fn outcome_from_json(line: &[u8]) -> Result<Outcome, serde_json::Error> {
    serde_json::from_slice::<wit::Outcome>(line).map(from_wit)
}

/// Fills in a trap (or the given fault) after the last observed outcome, and `NotRun` for the rest.
pub fn complete(mut seen: Vec<Outcome>, len: usize, fault: Option<String>) -> Vec<Outcome> {
    if seen.len() < len
        && let Some(fault) = fault
    {
        seen.push(Outcome::Trapped(fault));
    }
    seen.resize(len.max(seen.len()), Outcome::NotRun);
    seen
}

fn to_wit(op: &Operation) -> wit::Operation {
    let key_op = |slot: &u32, key: &String| wit::KeyOp {
        slot: *slot,
        key: key.clone(),
    };
    match op {
        Operation::Open { slot, label } => wit::Operation::Open(wit::OpenOp {
            slot: *slot,
            label: label.clone(),
        }),
        Operation::Get { slot, key } => wit::Operation::Get(key_op(slot, key)),
        Operation::Set { slot, key, value } => wit::Operation::Set(wit::SetOp {
            slot: *slot,
            key: key.clone(),
            value: value.clone(),
        }),
        Operation::Delete { slot, key } => wit::Operation::Delete(key_op(slot, key)),
        Operation::Exists { slot, key } => wit::Operation::Exists(key_op(slot, key)),
        Operation::GetKeys { slot } => wit::Operation::GetKeys(*slot),
        Operation::Close { slot } => wit::Operation::Close(*slot),
        Operation::ForgeHandle { slot, handle } => wit::Operation::ForgeHandle(wit::ForgeOp {
            slot: *slot,
            handle: *handle,
        }),
        Operation::GetKeysPartial { slot, take } => {
            wit::Operation::GetKeysPartial(wit::PartialOp {
                slot: *slot,
                take: *take,
            })
        }
        Operation::Concurrently { count } => wit::Operation::Concurrently(*count),
        Operation::ListKeys { slot, cursor } => wit::Operation::ListKeys(wit::ListOp {
            slot: *slot,
            cursor: cursor.clone(),
        }),
        Operation::Increment { slot, key, delta } => wit::Operation::Increment(wit::IncrementOp {
            slot: *slot,
            key: key.clone(),
            delta: *delta,
        }),
        Operation::CasNew { slot, key, cas } => wit::Operation::CasNew(wit::CasOp {
            slot: *slot,
            key: key.clone(),
            cas: *cas,
        }),
        Operation::CasCurrent { cas } => wit::Operation::CasCurrent(*cas),
        Operation::CasSwap { cas, value } => wit::Operation::CasSwap(wit::SwapOp {
            cas: *cas,
            value: value.clone(),
        }),
        Operation::GetMany { slot, keys } => wit::Operation::GetMany(wit::KeysOp {
            slot: *slot,
            keys: keys.clone(),
        }),
        Operation::SetMany { slot, entries } => wit::Operation::SetMany(wit::SetManyOp {
            slot: *slot,
            entries: entries.clone(),
        }),
        Operation::DeleteMany { slot, keys } => wit::Operation::DeleteMany(wit::KeysOp {
            slot: *slot,
            keys: keys.clone(),
        }),
    }
}

fn from_wit(outcome: wit::Outcome) -> Outcome {
    let error = |kind, text| Outcome::Failed(KvError { kind, text });
    match outcome {
        wit::Outcome::Opened => Outcome::Opened,
        wit::Outcome::Done => Outcome::Done,
        wit::Outcome::Value(v) => Outcome::Value(v),
        wit::Outcome::Exists(b) => Outcome::Exists(b),
        wit::Outcome::Keys(k) => Outcome::Keys(k),
        wit::Outcome::Page(p) => Outcome::Page {
            keys: p.keys,
            cursor: p.cursor,
        },
        wit::Outcome::Counter(n) => Outcome::Counter(n),
        wit::Outcome::Entries(e) => Outcome::Entries(e),
        wit::Outcome::ScriptError(t) => Outcome::ScriptError(t),
        wit::Outcome::Failed(e) => match e {
            wit::KvError::StoreTableFull => error(ErrorKind::StoreTableFull, None),
            wit::KvError::NoSuchStore => error(ErrorKind::NoSuchStore, None),
            wit::KvError::AccessDenied => error(ErrorKind::AccessDenied, None),
            wit::KvError::InvalidStore => error(ErrorKind::InvalidStore, None),
            wit::KvError::NoSuchKey => error(ErrorKind::NoSuchKey, None),
            wit::KvError::Other(t) | wit::KvError::Io(t) => error(ErrorKind::Other, Some(t)),
            wit::KvError::CasFailed => error(ErrorKind::CasFailed, None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{ErrorKind, KvError};

    #[test]
    fn a_run_cut_short_ends_with_its_fault_and_the_rest_not_run() {
        let seen = vec![Outcome::Opened, Outcome::Done];
        assert_eq!(
            complete(seen.clone(), 4, Some("the host trapped".into())),
            [
                Outcome::Opened,
                Outcome::Done,
                Outcome::Trapped("the host trapped".into()),
                Outcome::NotRun
            ]
        );
        // Without a fault, the missing outcomes are only not run.
        assert_eq!(
            complete(seen.clone(), 3, None),
            [Outcome::Opened, Outcome::Done, Outcome::NotRun]
        );
        // A whole run is left as it is, fault or not.
        assert_eq!(complete(seen.clone(), 2, Some("late".into())), seen);
    }

    #[test]
    fn a_script_and_its_outcome_lines_cross_the_http_protocol_unchanged() {
        let ops = [
            Operation::Open {
                slot: 0,
                label: "default".into(),
            },
            Operation::Set {
                slot: 0,
                key: "k".into(),
                value: vec![0, 255],
            },
        ];
        let json = String::from_utf8(script_json(&ops)).unwrap();
        assert_eq!(
            json,
            r#"[{"Open":{"slot":0,"label":"default"}},{"Set":{"slot":0,"key":"k","value":[0,255]}}]"#
        );
        for (line, outcome) in [
            (r#""Opened""#, Outcome::Opened),
            (r#"{"Value":[1,2]}"#, Outcome::Value(Some(vec![1, 2]))),
            (r#"{"Value":null}"#, Outcome::Value(None)),
            (
                r#"{"Keys":["a","b"]}"#,
                Outcome::Keys(vec!["a".into(), "b".into()]),
            ),
            (
                r#"{"Failed":{"Other":"no"}}"#,
                Outcome::Failed(KvError {
                    kind: ErrorKind::Other,
                    text: Some("no".into()),
                }),
            ),
            (
                r#"{"Failed":"NoSuchStore"}"#,
                Outcome::Failed(KvError {
                    kind: ErrorKind::NoSuchStore,
                    text: None,
                }),
            ),
        ] {
            assert_eq!(
                outcome_from_json(line.as_bytes()).unwrap(),
                outcome,
                "{line}"
            );
        }
        assert!(outcome_from_json(b"{\"Value\":").is_err());
    }
}
