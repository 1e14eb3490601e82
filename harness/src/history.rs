//! Concurrent histories: `CONCURRENT-VISIBLE` and `CONCURRENT-ATOMIC` checked as the linearisability of one
//! register per key.
//!
//! No scripted case can check these statements, since no single outcome of a concurrent read can be predicted.
//! Instead a history is generated, run, recorded and judged:
//!
//! - **Generation** ([`scripts`]): from a seed and a history index, a seeded proptest strategy makes the scripts
//!   of [`HistoryConfig::instances`] instances of one application (component `"main"` granted `["default"]`).
//!   Each script opens `"default"` into slot 0, then does [`HistoryConfig::ops_per_instance`] operations (`set`,
//!   `get`, `exists`, `delete`) on a few keys (`"c0"`, `"c1"`, …) so that the instances contend. Every `set` writes
//!   a value unique in the whole history (`"i{instance}.{n}:"` and some filler), so a read names the write it saw.
//!   Through the wasi editions the scripts also `increment` counters (`"n0"`, `"n1"`, …: keys of their own, which
//!   nothing else writes) by 1 to 3; through wasi draft2 (the older draft has no compare-and-swap) they also
//!   compare-and-swap keys of their own (`"s0"`, `"s1"`, …): `cas.new`, `current` (what the cas read) and `swap`
//!   of a value as unique as a `set`'s. The same (seed, index, interface) always gives the same scripts.
//! - **Execution** ([`run_history`]): the application is loaded once, in a fresh directory; then every instance
//!   runs its script on its own thread. The threads are released at once, lined up again once every instance has
//!   opened its store (so that their key operations overlap instead of being staggered by instantiation), and
//!   yield the processor between two operations (so that instances sharing a processor interleave operation by
//!   operation). The driver records when each outcome was observed
//!   ([`Driver::run_timed`](crate::driver::Driver::run_timed)); since it reports each outcome right after the
//!   host call returns and before the next one starts, operation `i` was invoked no earlier than the observation
//!   of `i - 1` and returned no later than the observation of `i`. These intervals contain the true ones, so they
//!   never make a correct host look wrong; they only make the check a little more lenient.
//! - **Execution out-of-process** ([`crate::adapter::Session`]): a runtime kvconf reaches only over HTTP makes a
//!   fresh instance per request, and a v1 handle or a wasi bucket opened in one request is gone in the next. So
//!   each operation is one request of its own, whose script is the instance's `open` and then that operation,
//!   sent through the same code as the suite's scripts. Each instance is a thread issuing its operations' requests
//!   one after another, all instances at once (released together); the event recorded is the operation's outcome
//!   (every request's `open` must succeed, or the history fails saying which did not), timed at the client: the
//!   request was sent no earlier than the operation took effect and its answer read no earlier. Those intervals
//!   also contain the true ones, only wider, so the check stays sound. A cas does not outlive its request either,
//!   so a `cas.new`, its `current` and its `swap` go in one request, and share its interval.
//! - **Checking**: first, every operation must have succeeded (an error, trap, panic or timeout is a failure of
//!   the history, reported with the operation). Then, per key:
//!   - a read returning bytes that no `set` of that key wrote breaks `CONCURRENT-ATOMIC` (a torn or invented
//!     value);
//!   - the key's operations must be linearisable as a register that starts absent: there must be an order of
//!     them, consistent with each instance's program order and with real time (an operation that returned before
//!     another was invoked comes first), in which every read returns the last value written (`delete` writes
//!     "absent"; `get` of a missing key, and v1's `no-such-key`, read "absent"; `exists` reads present or
//!     absent). If there is none, the history breaks `CONCURRENT-VISIBLE`; the report shows the key's operations
//!     with their intervals and names the culprits it can: a stale read (one that returned `v` although another
//!     write started after the write of `v` returned, and returned before the read was invoked), a read from the
//!     future (of a value whose write began after the read returned), or two reads that saw different values
//!     while no write was in progress;
//!   - a counter's increments must be linearisable as a counter that starts at 0: an order of them, consistent
//!     with program order and real time, in which each returns the previous value plus its delta. So the final
//!     counter is the sum of the acknowledged increments and every answer is a value the counter passed through;
//!     two increments that return the same value (a read-then-write increment losing an update) break
//!     `CONCURRENT-ATOMIC`, and the report names them;
//!   - a swapped key's operations must be linearisable as a register with compare-and-swap: `cas.new` reads the
//!     register (what `current` says it read, at a point within the `cas.new`), and a `swap` writes its value if
//!     the register still holds what its cas read, and otherwise fails with `cas-failed` leaving it alone. Only
//!     swaps write these keys, each a value of its own, so the register never returns to a value it left and
//!     "still holds what the cas read" is exactly "nothing was written since" (the WIT's `swap`: "writes `value`
//!     if the key still holds what `cas` remembered"). So of several swaps from cas handles that read one value at
//!     most one succeeds; two that both do (a swap that checks only presence, or reads then writes) break
//!     `CONCURRENT-ATOMIC`, and the report names them.
//!
//! Linearisability is local (Herlihy and Wing), so checking each key on its own is exact. The search is Wing and
//! Gong's, with Lowe's memoisation: a depth-first search that repeatedly linearises a *minimal* operation (one
//! that no pending operation of another instance returned before), never visiting a (set of linearised
//! operations, register value) configuration twice. Because each instance runs its script in order, the set of
//! linearised operations is one prefix per instance, and the register then holds either its initial absence or
//! the value of the last write in one of those prefixes. So for a key with `n_i` operations from instance `i`
//! there are at most `Π(n_i + 1) · (K + 1)` configurations for `K` instances, each costing `O(K²)` time and
//! `O(K)` memory: with the default 3 instances of 24 operations, under 63,000 even if every operation were on
//! one key. A correct history is usually linearised at the first try, in about as many steps as it has
//! operations; the full space is explored only to prove that no linearisation exists. The search gives up after
//! [`SEARCH_BUDGET`] configurations (about 100 bytes of memory each) and reports the history as [`INCONCLUSIVE`]
//! rather than guessing.

use crate::driver::{Timing, complete};
use crate::host::{AppSpec, HostUnderTest};
use crate::interface::Interface;
use crate::outcome::{ErrorKind, Operation, Outcome, render_bytes, render_key};
use crate::runner::{Executor, Runner, panic_message};
use proptest::collection::vec;
use proptest::prop_oneof;
use proptest::strategy::{Just, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// The statement a history breaks when some key's operations have no linearisation (a write that has returned
/// is not seen by a later read, or reads disagree on the order of writes).
pub const VISIBLE: &str = "CONCURRENT-VISIBLE";
/// The statement a history breaks when a read returns bytes that no `set` of that key wrote.
pub const ATOMIC: &str = "CONCURRENT-ATOMIC";
/// The nature of a failed history in which an operation returned an error.
pub const HOST_ERROR: &str = "host-error";
/// The nature of a failed history in which an instance trapped, or the host panicked.
pub const TRAP: &str = "trap";
/// The nature of a failed history in which an instance did not finish within the runner's timeout.
pub const TIMEOUT: &str = "timeout";
/// The nature of a failed history in which the driver could not attempt an operation.
pub const SCRIPT_ERROR: &str = "script-error";
/// The nature of a failed history in which an operation gave an outcome of the wrong kind (a `get` answering
/// `exists`, say).
pub const UNEXPECTED_OUTCOME: &str = "unexpected-outcome";
/// The nature of a failed history that could not be run at all (the host refused the application, or cannot
/// link the driver).
pub const SETUP: &str = "setup";
/// The nature of a history whose linearisability search gave up after [`SEARCH_BUDGET`] configurations.
pub const INCONCLUSIVE: &str = "inconclusive";

/// The most configurations the linearisability search visits for one key before it gives up.
pub const SEARCH_BUDGET: usize = 1_000_000;

/// The component every instance of a history is an instance of.
pub const COMPONENT: &str = "main";
/// The label every instance opens.
pub const LABEL: &str = "default";

/// The longest filler after a value's unique prefix, in bytes.
const FILLER_MAX: usize = 24;

/// How long to wait past the runner's timeout for the guests' own epoch deadline to stop them, so that a guest
/// stuck in WebAssembly is reported with its trap rather than as a hung host.
const GRACE: Duration = Duration::from_millis(500);

/// The shape of the generated histories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryConfig {
    /// How many instances run at once.
    pub instances: usize,
    /// How many key operations each instance does after its `open`.
    pub ops_per_instance: usize,
    /// How many keys the operations share (at least one).
    pub keys: usize,
}

impl Default for HistoryConfig {
    /// 3 instances of 24 operations each on 3 keys.
    fn default() -> Self {
        HistoryConfig {
            instances: 3,
            ops_per_instance: 24,
            keys: 3,
        }
    }
}

/// What running one history gave.
#[derive(Clone, Debug)]
pub struct HistoryRun {
    /// How many instances ran.
    pub instances: usize,
    /// How many operations the instances' scripts held in all, `open`s included.
    pub operations: usize,
    /// What the history broke, if anything.
    pub violation: Option<Violation>,
}

/// What a history broke, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// [`VISIBLE`] or [`ATOMIC`]; or, for a history that failed otherwise, the nature of the failure
    /// ([`HOST_ERROR`], [`TRAP`], [`TIMEOUT`], [`SCRIPT_ERROR`], [`UNEXPECTED_OUTCOME`], [`SETUP`],
    /// [`INCONCLUSIVE`]).
    pub statement: &'static str,
    /// A readable account over several lines: the seed and history index, the interface and backend, and the
    /// operations involved with their outcomes and time intervals.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.statement, self.detail)
    }
}

/// The name of key number `n` of a history.
pub fn key_name(n: usize) -> String {
    format!("c{n}")
}

/// The kind of one generated operation.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Set,
    Get,
    Exists,
    Delete,
    Increment,
    Swap,
}

/// The name of swapped key number `n` of a history (wasi draft2 only): a key only compare-and-swap writes.
pub fn swapped_name(n: usize) -> String {
    format!("s{n}")
}

/// The name of counter number `n` of a history (wasi only): a key only `increment` touches.
pub fn counter_name(n: usize) -> String {
    format!("n{n}")
}

/// The 32-byte ChaCha seed of history `index` of `seed`.
fn seed_bytes(seed: u64, index: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&index.to_le_bytes());
    bytes[16..].copy_from_slice(b"kvconf history\0\0");
    bytes
}

/// The `n`th value (from 1) instance `instance` writes, with `filler` bytes after its unique prefix.
fn value_bytes(instance: usize, n: usize, filler: usize) -> Vec<u8> {
    let fill = (b'a' + ((instance * 7 + n) % 26) as u8) as char;
    format!("i{instance}.{n}:{}", fill.to_string().repeat(filler)).into_bytes()
}

/// The scripts of history `index` of `seed` through `interface`: one per instance, each an `open` of [`LABEL`]
/// into slot 0 and then `config.ops_per_instance` operations on the keys [`key_name`]`(0..config.keys)` and,
/// through the wasi editions, increments of the counters [`counter_name`]`(0..config.keys)`. Deterministic: the
/// same arguments always give the same scripts.
pub fn scripts(
    seed: u64,
    index: u64,
    config: &HistoryConfig,
    interface: Interface,
) -> Vec<Vec<Operation>> {
    let keys = config.keys.max(1);
    let increments = if interface.is_wasi() { 3 } else { 0 };
    // wasi:keyvalue@0.2.0-draft has no compare-and-swap.
    let swaps = if interface == Interface::WasiKeyvalue {
        3
    } else {
        0
    };
    let kind = prop_oneof![
        4 => Just(Kind::Set),
        3 => Just(Kind::Get),
        2 => Just(Kind::Exists),
        1 => Just(Kind::Delete),
        increments => Just(Kind::Increment),
        swaps => Just(Kind::Swap),
    ];
    let strategy = vec(
        vec((kind, 0..keys, 0..=FILLER_MAX), config.ops_per_instance),
        config.instances,
    );
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed, index));
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    // These strategies never reject, so a tree is always made.
    let plan = strategy
        .new_tree(&mut runner)
        .map(|tree| tree.current())
        .unwrap_or_default();
    plan.into_iter()
        .enumerate()
        .map(|(instance, steps)| {
            let mut sets = 0;
            let mut ops = vec![Operation::Open {
                slot: 0,
                label: LABEL.to_string(),
            }];
            for (kind, n, filler) in steps {
                let key = key_name(n);
                if matches!(kind, Kind::Set | Kind::Swap) {
                    sets += 1;
                }
                let value = || value_bytes(instance, sets, filler);
                match kind {
                    Kind::Set => ops.push(Operation::Set {
                        slot: 0,
                        key,
                        value: value(),
                    }),
                    Kind::Get => ops.push(Operation::Get { slot: 0, key }),
                    Kind::Exists => ops.push(Operation::Exists { slot: 0, key }),
                    Kind::Delete => ops.push(Operation::Delete { slot: 0, key }),
                    Kind::Increment => ops.push(Operation::Increment {
                        slot: 0,
                        key: counter_name(n),
                        // 1 to 3, from the filler drawn anyway (the draft's delta is unsigned).
                        delta: 1 + (filler % 3) as i64,
                    }),
                    // Make a cas, read what it remembered, and swap in a value of this instance's own.
                    Kind::Swap => ops.extend([
                        Operation::CasNew {
                            slot: 0,
                            key: swapped_name(n),
                            cas: 0,
                        },
                        Operation::CasCurrent { cas: 0 },
                        Operation::CasSwap {
                            cas: 0,
                            value: value(),
                        },
                    ]),
                }
            }
            ops
        })
        .collect()
}

/// The ID of the trial [`check_histories`] gives, in reports.
pub const TRIAL_ID: &str = "generated/concurrent-histories";

/// What [`run_histories`] found.
#[derive(Debug)]
pub struct Histories {
    /// Histories run (up to and including the first that broke a statement).
    pub histories: u64,
    /// Operations they ran.
    pub operations: u64,
    /// The first violation, if any.
    pub violation: Option<Violation>,
}

/// Runs histories `0..count` of `seed` on `interface`, one at a time, calling `progress` with the operations of
/// each, and stops at the first violation.
pub fn run_histories<E: Executor + ?Sized>(
    runner: &E,
    interface: Interface,
    seed: u64,
    count: u64,
    config: &HistoryConfig,
    progress: &dyn Fn(u64),
) -> Histories {
    let mut checked = Histories {
        histories: 0,
        operations: 0,
        violation: None,
    };
    for index in 0..count {
        let run = run_history(runner, interface, seed, index, config);
        checked.histories += 1;
        checked.operations += run.operations as u64;
        progress(run.operations as u64);
        if run.violation.is_some() {
            checked.violation = run.violation;
            break;
        }
    }
    checked
}

/// Runs `count` histories on `interface` (seed `seed`, indices `0..count`) and reports them as one trial citing
/// both concurrency statements, for the suite's report: a pass when every history is linearisable, a failure
/// with the first violation otherwise, a skip when the host does not provide `interface`. In-process (a
/// [`Runner`]) or out-of-process (an [`adapter::Session`](crate::adapter::Session)), the trial is the same.
pub fn check_histories<E: Executor + ?Sized>(
    runner: &E,
    interface: Interface,
    seed: u64,
    count: u64,
    config: &HistoryConfig,
) -> crate::runner::CaseResult {
    use crate::runner::{CaseResult, Verdict};
    let start = Instant::now();
    let mut verdict = Verdict::Pass;
    let mut operations = 0;
    if !runner.profile().interfaces.contains(&interface) {
        verdict = Verdict::Skip(format!(
            "the host does not provide {}",
            interface.wit_name()
        ));
    } else {
        let checked = run_histories(runner, interface, seed, count, config, &|_| {});
        operations = checked.operations;
        if let Some(v) = checked.violation {
            verdict = Verdict::Fail(format!("  {v}"));
        }
    }
    CaseResult {
        id: TRIAL_ID.to_string(),
        title: format!(
            "{count} generated histories of {} instances interleaving {} operations each on {} shared keys are \
             linearisable, every read a value actually written{}",
            config.instances,
            config.ops_per_instance,
            config.keys,
            match interface {
                Interface::WasiKeyvalue => {
                    ", every counter's increments adding up, at most one swap from a value succeeding"
                }
                Interface::WasiKeyvalueDraft => ", every counter's increments adding up",
                _ => "",
            }
        ),
        interface,
        backend: runner.host_name().to_string(),
        statements: vec![VISIBLE.to_string(), ATOMIC.to_string()],
        transcript: format!("{count} histories, {operations} operations\n"),
        verdict,
        millis: start.elapsed().as_millis() as u64,
        first_difference: None,
    }
}

/// Generates history `index` of `seed`, runs it against the host through `interface` (in-process with a
/// [`Runner`], out-of-process with an [`adapter::Session`](crate::adapter::Session)), and checks it.
///
/// Never panics because of the host: a host that panics, traps or hangs (past [`Runner::timeout`], or the
/// adapter's request timeout) fails the history. In-process, a hung instance's thread is left behind, as the
/// runner does with a hung case.
pub fn run_history<E: Executor + ?Sized>(
    runner: &E,
    interface: Interface,
    seed: u64,
    index: u64,
    config: &HistoryConfig,
) -> HistoryRun {
    let scripts = scripts(seed, index, config, interface);
    let operations = scripts.iter().map(Vec::len).sum();
    let violation = match runner.record_history(interface, &scripts, seed, index) {
        Err(v) => Some(v),
        Ok(recorded) => check(&recorded, interface),
    };
    let violation = violation.map(|v| Violation {
        statement: v.statement,
        detail: format!(
            "history {index} of seed {seed} ({} instances × {} operations on {} keys, through {interface}, \
             against {}; the same seed and index give the same scripts, not the same timing)\n{}",
            scripts.len(),
            config.ops_per_instance,
            config.keys.max(1),
            runner.host_name(),
            v.detail.trim_end()
        ),
    });
    HistoryRun {
        instances: scripts.len(),
        operations,
        violation,
    }
}

/// One operation as it ran.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    instance: usize,
    index: usize,
    op: Operation,
    outcome: Outcome,
    /// It was invoked no earlier than this, counted from the release of the instances.
    invoked: Duration,
    /// It returned no later than this; `None` when it never returned.
    returned: Option<Duration>,
}

/// One instance as it ran.
#[derive(Clone, Debug, Default)]
pub(crate) struct InstanceRecord {
    events: Vec<Event>,
    stderr: String,
    /// It had not finished when the runner's timeout passed.
    timed_out: bool,
}

/// A recorded history: each instance's operations, outcomes and intervals, as [`Executor::record_history`]
/// gives it to the check. Made only by kvconf's own routes.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    pub(crate) instances: Vec<InstanceRecord>,
}

/// Releases waiting threads all at once. (A [`std::sync::Barrier`] would do, but would leave the threads
/// already started waiting for ever if starting a later one failed; a gate can be opened regardless.)
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = self.opened.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.opened.notify_all();
    }
}

/// Holds the instances after their `open` until every one has opened (or stopped), so that their key operations
/// overlap instead of being staggered by how long each took to instantiate. The waiting instances spin (yielding
/// the processor) rather than sleep, so that they all go on the moment the last one arrives: a thread woken from a
/// sleep takes longer to start again than a whole script takes to run. Waiting is bounded by a deadline.
#[derive(Default)]
struct Lineup {
    arrived: AtomicUsize,
}

impl Lineup {
    fn arrive(&self) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
    }

    fn wait(&self, expected: usize, until: Instant) {
        while self.arrived.load(Ordering::SeqCst) < expected && Instant::now() < until {
            std::thread::yield_now();
        }
    }
}

/// A history that could not be run: [`SETUP`], with what went wrong.
pub(crate) fn setup(detail: String) -> Violation {
    Violation {
        statement: SETUP,
        detail,
    }
}

/// The in-process route's [`Executor::record_history`]: runs the scripts in a fresh directory of their own,
/// removed afterwards.
pub(crate) fn record_in_process<H: HostUnderTest>(
    runner: &Runner<H>,
    interface: Interface,
    scripts: &[Vec<Operation>],
    seed: u64,
    index: u64,
) -> Result<Recorded, Violation> {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let host = runner.host();
    if !host.profile().interfaces.contains(&interface) {
        return Err(setup(format!(
            "the host does not provide {}",
            interface.wit_name()
        )));
    }
    let driver = runner
        .driver(interface)
        .map_err(|e| setup(format!("the host cannot run the {interface} driver: {e}")))?;
    let backend: String = host
        .backend()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dir = runner
        .work_dir()
        .join("histories")
        .join(interface.name())
        .join(backend)
        .join(format!(
            "{seed}-{index}-{}",
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| {
        setup(format!(
            "cannot create the history's directory {}: {e}",
            dir.display()
        ))
    })?;
    let recorded = execute_in(host, driver, scripts, &dir, runner.timeout());
    let _ = std::fs::remove_dir_all(&dir);
    recorded
}

/// What one instance's thread sends when it is done: its index, outcomes and guest stderr.
type Finished = (usize, Vec<Outcome>, String);

fn execute_in<H: HostUnderTest>(
    host: &H,
    driver: Arc<crate::driver::Driver<H>>,
    scripts: &[Vec<Operation>],
    dir: &Path,
    timeout: Duration,
) -> Result<Recorded, Violation> {
    let grants = BTreeMap::from([(COMPONENT.to_string(), vec![LABEL.to_string()])]);
    let spec = AppSpec {
        grants: &grants,
        labels: &[],
        dir,
    };
    let app = catch_unwind(AssertUnwindSafe(|| host.load(&spec)))
        .map_err(|p| Violation {
            statement: TRAP,
            detail: format!(
                "the host panicked loading the application: {}",
                panic_message(&*p)
            ),
        })?
        .map_err(|e| {
            setup(format!(
                "the host refused to load the application ({COMPONENT:?} granted [{LABEL:?}]): {e:#}"
            ))
        })?;
    let app = Arc::new(app);
    let mut data = Vec::new();
    for _ in scripts {
        let made = catch_unwind(AssertUnwindSafe(|| host.instance_data(&app, COMPONENT)))
            .map_err(|p| Violation {
                statement: TRAP,
                detail: format!(
                    "the host panicked making an instance: {}",
                    panic_message(&*p)
                ),
            })?
            .map_err(|e| setup(format!("the host could not make an instance: {e:#}")))?;
        data.push(made);
    }

    let gate = Arc::new(Gate::default());
    let lineup = Arc::new(Lineup::default());
    let instances = scripts.len();
    let (done_tx, done_rx) = mpsc::channel::<Finished>();
    let mut observed = Vec::new();
    let mut times = Vec::new();
    for (instance, (ops, data)) in scripts.iter().zip(data).enumerate() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let when = Arc::new(Mutex::new(Vec::new()));
        observed.push(seen.clone());
        times.push(when.clone());
        let (gate_in, lineup, done, driver, app, ops) = (
            gate.clone(),
            lineup.clone(),
            done_tx.clone(),
            driver.clone(),
            app.clone(),
            ops.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("kvconf-history-{instance}"))
            .spawn(move || {
                // The application stays loaded while any of its instances runs.
                let _app = app;
                gate_in.wait();
                let until = Instant::now() + timeout;
                let arrived = Arc::new(AtomicBool::new(false));
                let here = arrived.clone();
                let held = lineup.clone();
                let pause = move |index: u32| {
                    // Observed right after the `open` returned: wait there for the other instances.
                    if index == 0 {
                        if !here.swap(true, Ordering::SeqCst) {
                            held.arrive();
                        }
                        held.wait(instances, until);
                    } else {
                        // Between two operations, let another instance waiting for this processor run, so
                        // that instances sharing one interleave operation by operation.
                        std::thread::yield_now();
                    }
                };
                let timing = Timing {
                    times: when,
                    pause: Some(Arc::new(pause)),
                };
                let run = catch_unwind(AssertUnwindSafe(|| {
                    driver.run_timed(data, &ops, seen.clone(), timing, timeout)
                }));
                // An instance that stopped before its `open` was observed must not hold the others up.
                if !arrived.swap(true, Ordering::SeqCst) {
                    lineup.arrive();
                }
                let (outcomes, stderr) = match run {
                    Ok(run) => (run.outcomes, run.stderr),
                    Err(panic) => {
                        let so_far = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        let fault = format!("the host panicked: {}", panic_message(&*panic));
                        (complete(so_far, ops.len(), Some(fault)), String::new())
                    }
                };
                let _ = done.send((instance, outcomes, stderr));
            });
        if let Err(e) = spawned {
            // Let the instances already started run to completion rather than wait for ever.
            gate.open();
            return Err(setup(format!("cannot start an instance's thread: {e}")));
        }
    }
    drop(done_tx);

    let start = Instant::now();
    gate.open();
    let deadline = start + timeout + GRACE;
    let mut finished: Vec<Option<(Vec<Outcome>, String)>> = vec![None; scripts.len()];
    let mut pending = scripts.len();
    while pending > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok((instance, outcomes, stderr)) => {
                finished[instance] = Some((outcomes, stderr));
                pending -= 1;
            }
            Err(_) => break,
        }
    }

    let mut recorded = Recorded::default();
    for (instance, ops) in scripts.iter().enumerate() {
        // Outcomes before times: the observer records the time first, so every outcome read has its time.
        let so_far = observed[instance]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let when: Vec<Duration> = times[instance]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|t| t.saturating_duration_since(start))
            .collect();
        let (outcomes, stderr, timed_out) = match finished[instance].take() {
            Some((outcomes, stderr)) => (outcomes, stderr, false),
            None => {
                let fault = format!(
                    "timed out after {:.1} s: the host did not return",
                    timeout.as_secs_f64()
                );
                (
                    complete(so_far, ops.len(), Some(fault)),
                    String::new(),
                    true,
                )
            }
        };
        let events = ops
            .iter()
            .zip(outcomes)
            .enumerate()
            .map(|(index, (op, outcome))| {
                let invoked = match index {
                    0 => Duration::ZERO,
                    _ => when
                        .get(index - 1)
                        .or(when.last())
                        .copied()
                        .unwrap_or_default(),
                };
                Event {
                    instance,
                    index,
                    op: op.clone(),
                    outcome,
                    invoked,
                    returned: when.get(index).copied(),
                }
            })
            .collect();
        recorded.instances.push(InstanceRecord {
            events,
            stderr,
            timed_out,
        });
    }
    Ok(recorded)
}

/// How one request of an out-of-process history ended: the outcomes of its script (the `open`, then the
/// operation), completed with the fault and `not run` where it stopped, and whether it stopped because the host did
/// not answer in time.
pub(crate) struct Answer {
    /// One outcome per operation of the request's script.
    pub(crate) outcomes: Vec<Outcome>,
    /// The host did not answer within the request timeout.
    pub(crate) timed_out: bool,
}

/// The out-of-process route's recording: each operation of each script (after its `open`) is one request, whose
/// script is that `open` and the operation, sent by `send`; a `cas.new` goes in one request with the operations up
/// to its `swap` (all of them then have the request's interval). One thread per instance issues its requests one after
/// another, every instance at once; each operation's interval is its request's, timed here at the client. An
/// instance stops at an operation that traps or times out (the rest are `not run`, as in-process); every request's
/// `open` must succeed, or the history fails naming the first that did not.
pub(crate) fn record_requests(
    scripts: &[Vec<Operation>],
    interface: Interface,
    send: &(dyn Fn(&[Operation]) -> Answer + Sync),
) -> Result<Recorded, Violation> {
    let gate = Gate::default();
    let start: OnceLock<Instant> = OnceLock::new();
    // Per instance: its record, and the first request whose `open` failed (the operation's index and the open's
    // event).
    type Ran = (InstanceRecord, Option<Event>);
    let ran = std::thread::scope(|scope| {
        let threads: Vec<_> = scripts
            .iter()
            .enumerate()
            .map(|(instance, ops)| {
                let (gate, start) = (&gate, &start);
                scope.spawn(move || -> Ran {
                    gate.wait();
                    let start = *start.get().expect("set before the gate opens");
                    let mut record = InstanceRecord::default();
                    let Some((open, rest)) = ops.split_first() else {
                        return (record, None);
                    };
                    let mut stopped = false;
                    let mut n = 0;
                    while n < rest.len() {
                        // A cas does not outlive its request either: a `cas.new` goes with the operations up to its
                        // `swap`, in one request.
                        let group = match &rest[n] {
                            Operation::CasNew { cas, .. } => rest[n..]
                                .iter()
                                .position(|op| matches!(op, Operation::CasSwap { cas: c, .. } if c == cas))
                                .map_or(rest.len() - n, |end| end + 1),
                            _ => 1,
                        };
                        let ops = &rest[n..n + group];
                        let first = n + 1;
                        n += group;
                        if stopped {
                            for (index, op) in (first..).zip(ops) {
                                record.events.push(Event {
                                    instance,
                                    index,
                                    op: op.clone(),
                                    outcome: Outcome::NotRun,
                                    invoked: start.elapsed(),
                                    returned: None,
                                });
                            }
                            continue;
                        }
                        let invoked = start.elapsed();
                        let script: Vec<Operation> =
                            std::iter::once(open).chain(ops).cloned().collect();
                        let answer = send(&script);
                        let returned = start.elapsed();
                        let mut outcomes = answer.outcomes.into_iter();
                        let opened = outcomes.next().unwrap_or(Outcome::NotRun);
                        let open_event = Event {
                            instance,
                            index: first,
                            op: open.clone(),
                            outcome: opened,
                            invoked,
                            returned: (!answer.timed_out).then_some(returned),
                        };
                        if open_event.outcome != Outcome::Opened {
                            record.timed_out = answer.timed_out;
                            return (record, Some(open_event));
                        }
                        if first == 1 {
                            // The instance's `open` as the check sees it: that of its first request.
                            record.events.push(Event {
                                index: 0,
                                ..open_event
                            });
                        }
                        record.timed_out |= answer.timed_out;
                        for (index, op) in (first..).zip(ops) {
                            let outcome = outcomes.next().unwrap_or(Outcome::NotRun);
                            stopped |= matches!(outcome, Outcome::Trapped(_) | Outcome::NotRun);
                            record.events.push(Event {
                                instance,
                                index,
                                op: op.clone(),
                                outcome,
                                invoked,
                                returned: (!answer.timed_out).then_some(returned),
                            });
                        }
                    }
                    (record, None)
                })
            })
            .collect();
        start.get_or_init(Instant::now);
        gate.open();
        threads
            .into_iter()
            .map(|t| t.join().map_err(|panic| panic_message(&*panic)))
            .collect::<Result<Vec<Ran>, String>>()
    })
    .map_err(|panic| {
        setup(format!(
            "kvconf's own thread for an instance panicked: {panic}"
        ))
    })?;
    if let Some((record, open)) = ran.iter().find_map(|(r, open)| Some((r, open.as_ref()?))) {
        let nature = match classify(open, record, interface) {
            Err((nature, _)) => nature,
            Ok(_) => UNEXPECTED_OUTCOME,
        };
        let op = &scripts[open.instance][open.index];
        return Err(Violation {
            statement: nature,
            detail: format!(
                "out-of-process, each operation is a request of its own that first opens the store (a handle does \
                 not outlive its request's instance), and that open must succeed; the request for instance {} op \
                 {} ({op}) did not open it:\n  {}",
                open.instance,
                open.index,
                describe(open)
            ),
        });
    }
    Ok(Recorded {
        instances: ran.into_iter().map(|(record, _)| record).collect(),
    })
}

/// What an operation did to its key's register, as far as the checker is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Access {
    Open,
    /// A `set` (`Some`) or `delete` (`None`).
    Write(Option<Vec<u8>>),
    /// A `get`: the value, or `None` for a missing key.
    Read(Option<Vec<u8>>),
    /// An `exists`.
    Exists(bool),
    /// An `increment` by `delta` that returned `result`.
    Increment {
        delta: i64,
        result: i64,
    },
    /// A `cas.new` that succeeded (its key, and what it read, come with the `current` and `swap` after it).
    CasMade,
    /// A cas's `current`: what its `cas.new` read.
    Remembered(Option<Vec<u8>>),
    /// A `swap`: whether it wrote.
    Swapped(bool),
    /// A `cas.new` as a read of its key: what `current` said it read, over the `cas.new`'s interval (the WIT:
    /// `new` "reads `key` and remembers its value").
    Snapshot {
        value: Option<Vec<u8>>,
        invoked: Duration,
        returned: Option<Duration>,
    },
    /// A `swap` of `value` from a cas that remembered `expected`, which wrote (`ok`) or failed with
    /// `cas-failed`.
    Swap {
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
        ok: bool,
    },
}

impl Access {
    /// The bytes it writes, or tries to (a swap that failed included).
    fn writes(&self) -> Option<&[u8]> {
        match self {
            Access::Write(Some(v)) | Access::Swap { value: v, .. } => Some(v),
            _ => None,
        }
    }
}

/// What an operation did, or the nature of its failure and what to say about it.
fn classify(
    event: &Event,
    record: &InstanceRecord,
    interface: Interface,
) -> Result<Access, (&'static str, String)> {
    match (&event.op, &event.outcome) {
        (Operation::Open { .. }, Outcome::Opened) => Ok(Access::Open),
        (Operation::Set { value, .. }, Outcome::Done) => Ok(Access::Write(Some(value.clone()))),
        (Operation::Delete { .. }, Outcome::Done) => Ok(Access::Write(None)),
        (Operation::Get { .. }, Outcome::Value(value)) => Ok(Access::Read(value.clone())),
        (Operation::Get { .. }, Outcome::Failed(e))
            if interface == Interface::V1 && e.kind == ErrorKind::NoSuchKey =>
        {
            Ok(Access::Read(None))
        }
        (Operation::Exists { .. }, Outcome::Exists(b)) => Ok(Access::Exists(*b)),
        (Operation::Increment { delta, .. }, Outcome::Counter(result)) => Ok(Access::Increment {
            delta: *delta,
            result: *result,
        }),
        (Operation::CasNew { .. }, Outcome::Opened) => Ok(Access::CasMade),
        (Operation::CasCurrent { .. }, Outcome::Value(value)) => {
            Ok(Access::Remembered(value.clone()))
        }
        (Operation::CasSwap { .. }, Outcome::Done) => Ok(Access::Swapped(true)),
        (Operation::CasSwap { .. }, Outcome::Failed(e)) if e.kind == ErrorKind::CasFailed => {
            Ok(Access::Swapped(false))
        }
        (_, Outcome::Failed(_)) => Err((
            HOST_ERROR,
            format!("the host returned {}", event.outcome.render(None)),
        )),
        (_, Outcome::Trapped(text)) if record.timed_out => Err((TIMEOUT, text.clone())),
        (_, Outcome::Trapped(text)) => Err((TRAP, text.clone())),
        (_, Outcome::NotRun) => Err((
            TRAP,
            "never ran: the instance stopped at an earlier operation".into(),
        )),
        (_, Outcome::ScriptError(text)) => Err((SCRIPT_ERROR, text.clone())),
        _ => Err((
            UNEXPECTED_OUTCOME,
            "an outcome of the wrong kind for this operation".into(),
        )),
    }
}

fn micros(d: Duration) -> u128 {
    d.as_micros()
}

/// One line about an event: where it ran, its interval, the operation and its outcome.
fn describe(event: &Event) -> String {
    describe_at(event, event.invoked, event.returned)
}

/// [`describe`] with the interval given.
fn describe_at(event: &Event, invoked: Duration, returned: Option<Duration>) -> String {
    let returned = match returned {
        Some(r) => format!("{:>7}", micros(r)),
        None => "      …".into(),
    };
    format!(
        "[{:>7} – {returned}] µs  instance {} op {:>2}: {} -> {}",
        micros(invoked),
        event.instance,
        event.index,
        event.op,
        event.outcome.render(None)
    )
}

/// Checks a recorded history: every operation succeeded, no read invented a value, every key linearisable.
fn check(recorded: &Recorded, interface: Interface) -> Option<Violation> {
    let mut failures = Vec::new();
    let mut accesses = Vec::new();
    for record in &recorded.instances {
        for event in &record.events {
            match classify(event, record, interface) {
                Ok(access) => accesses.push((event, access)),
                Err(failure) => failures.push((event, record, failure)),
            }
        }
    }
    if !failures.is_empty() {
        return Some(failed(&failures));
    }
    let keys = by_key(accesses);
    for (key, ops) in &keys {
        if let Some(v) = invented(key, ops, &keys) {
            return Some(v);
        }
    }
    for (key, ops) in &keys {
        let history = KeyHistory::new(ops, recorded.instances.len());
        match history.search(SEARCH_BUDGET) {
            Search::Linearisable => {}
            Search::NotLinearisable { deepest } => {
                return Some(not_linearisable(key, &history, deepest));
            }
            Search::Exhausted => {
                return Some(Violation {
                    statement: INCONCLUSIVE,
                    detail: format!(
                        "the linearisability search for key {} gave up after {SEARCH_BUDGET} configurations: \
                         use fewer instances or operations per key\n{}",
                        render_key(key),
                        excerpt(&history, &[])
                    ),
                });
            }
        }
    }
    None
}

/// A cas made in one instance: its `cas.new`, and what its `current` said it read (a swap from a cas whose
/// `current` was not asked cannot be judged, and is left out; kvconf's scripts always ask).
struct MadeCas<'e> {
    key: &'e str,
    new: &'e Event,
    remembered: Option<Option<Vec<u8>>>,
}

/// The accesses of a history by key, in order. A cas's `current` becomes its `cas.new`'s read of the key
/// ([`Access::Snapshot`]), and its `swap` a swap of that key from what it read ([`Access::Swap`]).
fn by_key(accesses: Vec<(&Event, Access)>) -> BTreeMap<&str, Vec<(&Event, Access)>> {
    let mut keys: BTreeMap<&str, Vec<(&Event, Access)>> = BTreeMap::new();
    // Per instance, the cas in each cas slot: its `cas.new`, and what its `current` said it read.
    let mut made: HashMap<(usize, u32), MadeCas<'_>> = HashMap::new();
    for (event, access) in accesses {
        let (key, access) = match (&event.op, access) {
            (Operation::CasNew { cas, key, .. }, _) => {
                made.insert(
                    (event.instance, *cas),
                    MadeCas {
                        key,
                        new: event,
                        remembered: None,
                    },
                );
                continue;
            }
            (Operation::CasCurrent { cas }, Access::Remembered(value)) => {
                let Some(MadeCas {
                    key,
                    new,
                    remembered,
                }) = made.get_mut(&(event.instance, *cas))
                else {
                    continue;
                };
                *remembered = Some(value.clone());
                let snapshot = Access::Snapshot {
                    value,
                    invoked: new.invoked,
                    returned: new.returned,
                };
                (*key, snapshot)
            }
            (Operation::CasSwap { cas, value }, Access::Swapped(ok)) => {
                let Some(MadeCas {
                    key,
                    remembered: Some(expected),
                    ..
                }) = made.remove(&(event.instance, *cas))
                else {
                    continue;
                };
                let swap = Access::Swap {
                    expected,
                    value: value.clone(),
                    ok,
                };
                (key, swap)
            }
            (op, access) => match key_of(op) {
                Some(key) => (key, access),
                None => continue,
            },
        };
        keys.entry(key).or_default().push((event, access));
    }
    keys
}

fn key_of(op: &Operation) -> Option<&str> {
    match op {
        Operation::Set { key, .. }
        | Operation::Get { key, .. }
        | Operation::Delete { key, .. }
        | Operation::Exists { key, .. }
        | Operation::Increment { key, .. } => Some(key),
        _ => None,
    }
}

/// The account of a history in which operations failed: the first failure's nature, and every failure.
fn failed(failures: &[(&Event, &InstanceRecord, (&'static str, String))]) -> Violation {
    // A `not run` only follows the failure that stopped its instance; name that failure.
    let first = failures
        .iter()
        .find(|(e, _, _)| e.outcome != Outcome::NotRun)
        .unwrap_or(&failures[0]);
    let mut detail = format!(
        "operations failed, so the history cannot be judged; the first: {}\n",
        first.2.1.lines().next().unwrap_or("")
    );
    const SHOWN: usize = 12;
    for (event, _, (nature, _)) in failures
        .iter()
        .filter(|(e, _, _)| e.outcome != Outcome::NotRun)
        .take(SHOWN)
    {
        let _ = writeln!(detail, "  {nature}: {}", describe(event));
    }
    let not_run = failures
        .iter()
        .filter(|(e, _, _)| e.outcome == Outcome::NotRun)
        .count();
    if not_run > 0 {
        let _ = writeln!(detail, "  ({not_run} operations after those never ran)");
    }
    let mut instances: Vec<usize> = failures.iter().map(|(e, _, _)| e.instance).collect();
    instances.dedup();
    for instance in instances {
        let in_it = || failures.iter().filter(|(e, _, _)| e.instance == instance);
        if let Some((_, _, (_, text))) =
            in_it().find(|(e, _, _)| matches!(e.outcome, Outcome::Trapped(_)))
        {
            let _ = writeln!(
                detail,
                "  instance {instance} fault:\n{}",
                indent(text, "    ")
            );
        }
        if let Some((_, record, _)) = in_it().find(|(_, r, _)| !r.stderr.is_empty()) {
            let _ = writeln!(
                detail,
                "  instance {instance} guest stderr:\n{}",
                indent(&record.stderr, "    ")
            );
        }
    }
    Violation {
        statement: first.2.0,
        detail,
    }
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

/// A read of `key` returning bytes no `set` of `key` wrote: a torn or invented value.
fn invented(
    key: &str,
    ops: &[(&Event, Access)],
    keys: &BTreeMap<&str, Vec<(&Event, Access)>>,
) -> Option<Violation> {
    let written: HashSet<&[u8]> = ops.iter().filter_map(|(_, a)| a.writes()).collect();
    let (event, bytes) = ops.iter().find_map(|(e, a)| match a {
        Access::Read(Some(v)) | Access::Snapshot { value: Some(v), .. }
            if !written.contains(v.as_slice()) =>
        {
            Some((e, v))
        }
        _ => None,
    })?;
    let elsewhere = keys.iter().find(|(k, ops)| {
        **k != key
            && ops
                .iter()
                .any(|(_, a)| a.writes() == Some(bytes.as_slice()))
    });
    let origin = match elsewhere {
        Some((other, _)) => format!(
            "they were written to key {}, never to this one",
            render_key(other)
        ),
        None => match torn(bytes, &written) {
            Some((head, tail)) => format!(
                "they are the start of {} followed by the end of {}",
                render_bytes(head),
                render_bytes(tail)
            ),
            None => "no operation of the history wrote them".to_string(),
        },
    };
    let mut writes: Vec<String> = written.iter().map(|v| render_bytes(v)).collect();
    writes.sort();
    Some(Violation {
        statement: ATOMIC,
        detail: format!(
            "a read of key {} returned {}, which no set of that key wrote ({origin}): a torn or invented value\n  \
             {}\n  the values written to {}: {}",
            render_key(key),
            render_bytes(bytes),
            describe(event),
            render_key(key),
            writes.join(", ")
        ),
    })
}

/// Whether `bytes` is the start of one written value followed by the rest of another (an overwrite that kept the
/// old tail, or two writes interleaved): the two values, the longest such start first.
fn torn<'v>(bytes: &[u8], written: &HashSet<&'v [u8]>) -> Option<(&'v [u8], &'v [u8])> {
    let mut heads: Vec<&[u8]> = written
        .iter()
        .copied()
        .filter(|w| !w.is_empty() && w.len() < bytes.len() && bytes.starts_with(w))
        .collect();
    heads.sort_by_key(|w| std::cmp::Reverse(w.len()));
    heads.into_iter().find_map(|head| {
        let rest = &bytes[head.len()..];
        written
            .iter()
            .copied()
            .find(|w| w.len() == bytes.len() && w.ends_with(rest))
            .map(|tail| (head, tail))
    })
}

/// One operation on a key, as the search sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Write a value (its number among the key's written values) or absent (`None`).
    Write(Option<u32>),
    /// Read a value or absent.
    Read(Option<u32>),
    /// Read present (`true`) or absent.
    Exists(bool),
    /// Add `delta` to a counter and return `result`. A counter's key holds nothing but its counter, so its
    /// register's `Some(n)` is the counter `n` (and `None` its start, 0): the value numbers of written values
    /// never meet it.
    Increment { delta: i64, result: i64 },
    /// Compare-and-swap: write value `new` if the register holds `expected` (`ok`), or find it holds something
    /// else and leave it (not `ok`). A swapped key holds nothing but swapped values, each written once, so the
    /// register never returns to a value it left, and "holds what the cas read" is "was not written since".
    Swap {
        expected: Option<u32>,
        new: u32,
        ok: bool,
    },
}

impl Step {
    /// What the step writes to the register, if it writes (a written value or absent).
    fn writes(self) -> Option<Option<u32>> {
        match self {
            Step::Write(v) => Some(v),
            Step::Swap { new, ok: true, .. } => Some(Some(new)),
            _ => None,
        }
    }
}

/// One operation on a key with its interval.
#[derive(Clone, Debug)]
struct KeyOp<'a> {
    event: &'a Event,
    step: Step,
    invoked: Duration,
    returned: Duration,
}

/// The operations on one key, per instance, in program order.
struct KeyHistory<'a> {
    per_instance: Vec<Vec<KeyOp<'a>>>,
}

/// What the linearisability search found.
#[derive(Debug, PartialEq, Eq)]
enum Search {
    Linearisable,
    /// No linearisation; the longest valid prefix of one linearised this many operations.
    NotLinearisable {
        deepest: usize,
    },
    /// The budget ran out.
    Exhausted,
}

impl<'a> KeyHistory<'a> {
    /// Every read of a value some `set` wrote (checked by [`invented`] first); a read of other bytes gets a
    /// value number no write has, so no linearisation satisfies it.
    fn new(ops: &[(&'a Event, Access)], instances: usize) -> Self {
        let mut values: HashMap<&[u8], u32> = HashMap::new();
        for (_, access) in ops {
            if let Some(v) = access.writes() {
                let next = values.len() as u32;
                values.entry(v).or_insert(next);
            }
        }
        let unknown = values.len() as u32;
        let number = |v: &Option<Vec<u8>>| {
            v.as_ref()
                .map(|v| values.get(v.as_slice()).copied().unwrap_or(unknown))
        };
        let mut per_instance: Vec<Vec<KeyOp<'a>>> = vec![Vec::new(); instances];
        for (event, access) in ops {
            let (mut invoked, mut returned) = (event.invoked, event.returned);
            let step = match access {
                Access::Write(v) => Step::Write(number(v)),
                Access::Read(v) => Step::Read(number(v)),
                Access::Exists(b) => Step::Exists(*b),
                Access::Increment { delta, result } => Step::Increment {
                    delta: *delta,
                    result: *result,
                },
                Access::Snapshot {
                    value,
                    invoked: made,
                    returned: made_returned,
                } => {
                    (invoked, returned) = (*made, *made_returned);
                    Step::Read(number(value))
                }
                Access::Swap {
                    expected,
                    value,
                    ok,
                } => Step::Swap {
                    expected: number(expected),
                    new: values[value.as_slice()],
                    ok: *ok,
                },
                Access::Open | Access::CasMade | Access::Remembered(_) | Access::Swapped(_) => {
                    continue;
                }
            };
            if per_instance.len() <= event.instance {
                per_instance.resize(event.instance + 1, Vec::new());
            }
            per_instance[event.instance].push(KeyOp {
                event,
                step,
                invoked,
                returned: returned.unwrap_or(Duration::MAX),
            });
        }
        for ops in &mut per_instance {
            ops.sort_by_key(|op| op.event.index);
        }
        KeyHistory { per_instance }
    }

    fn all(&self) -> impl Iterator<Item = &KeyOp<'a>> {
        self.per_instance.iter().flatten()
    }

    /// Wing and Gong's search with memoisation of (linearised prefixes, register value); iterative, so the
    /// depth of a long history does not matter.
    fn search(&self, budget: usize) -> Search {
        let per = &self.per_instance;
        let k = per.len();
        let total: usize = per.iter().map(Vec::len).sum();
        let mut prefix = vec![0usize; k];
        let mut seen: HashSet<(Vec<usize>, Option<u32>)> = HashSet::new();
        seen.insert((prefix.clone(), None));
        // Each frame: the register's value in that configuration, and the next instance to try from it.
        let mut frames: Vec<(Option<u32>, usize)> = vec![(None, 0)];
        // The instance advanced to reach each frame after the first.
        let mut path: Vec<usize> = Vec::new();
        let mut deepest = 0;
        loop {
            if path.len() == total {
                return Search::Linearisable;
            }
            let Some(&(value, from)) = frames.last() else {
                return Search::NotLinearisable { deepest };
            };
            let mut next = None;
            for i in from..k {
                let Some(op) = per[i].get(prefix[i]) else {
                    continue;
                };
                // Minimal: no pending operation of another instance returned before this one was invoked.
                let preceded = (0..k).any(|j| {
                    j != i
                        && per[j]
                            .get(prefix[j])
                            .is_some_and(|other| other.returned < op.invoked)
                });
                if preceded {
                    continue;
                }
                let after = match op.step {
                    Step::Write(v) => v,
                    Step::Read(v) if v == value => value,
                    Step::Exists(b) if b == value.is_some() => value,
                    Step::Increment { delta, result } => {
                        let current = i64::from(value.unwrap_or(0));
                        match u32::try_from(result) {
                            Ok(after) if current.checked_add(delta) == Some(result) => Some(after),
                            _ => continue,
                        }
                    }
                    Step::Swap { expected, new, ok } if ok == (value == expected) => {
                        if ok {
                            Some(new)
                        } else {
                            value
                        }
                    }
                    _ => continue,
                };
                prefix[i] += 1;
                if seen.insert((prefix.clone(), after)) {
                    next = Some((i, after));
                    break;
                }
                prefix[i] -= 1;
            }
            if let Some(frame) = frames.last_mut() {
                frame.1 = next.map_or(k, |(i, _)| i + 1);
            }
            match next {
                Some((i, after)) => {
                    if seen.len() > budget {
                        return Search::Exhausted;
                    }
                    path.push(i);
                    deepest = deepest.max(path.len());
                    frames.push((after, 0));
                }
                None => {
                    frames.pop();
                    if let Some(i) = path.pop() {
                        prefix[i] -= 1;
                    }
                }
            }
        }
    }

    /// The reads that saw a value already overwritten when they began: (the read, the write of what it saw
    /// (`None`: the initial absence), a write that came wholly between).
    fn stale_reads(&self) -> Vec<(&KeyOp<'a>, Option<&KeyOp<'a>>, &KeyOp<'a>)> {
        let mut out = Vec::new();
        for read in self.all() {
            // Whether a write gives what the read saw.
            let gives = |w: Step| match (read.step, w.writes()) {
                (Step::Read(v), Some(x)) => v == x,
                (Step::Exists(b), Some(x)) => b == x.is_some(),
                _ => false,
            };
            let initial = match read.step {
                Step::Read(v) => v.is_none(),
                Step::Exists(b) => !b,
                Step::Write(_) | Step::Increment { .. } | Step::Swap { .. } => continue,
            };
            // The writes the read may have seen: those of what it saw that began before it returned.
            let writers: Vec<&KeyOp<'a>> = self
                .all()
                .filter(|w| gives(w.step) && w.invoked < read.returned)
                .collect();
            if writers.is_empty() && !initial {
                // A read from the future, named by `reads_from_the_future`.
                continue;
            }
            // For every write it may have seen (and the initial absence, before everything), a write of
            // something else started after that one returned and returned before the read began.
            let overwrite = |after: Duration| {
                self.all().find(|w| {
                    w.step.writes().is_some()
                        && !gives(w.step)
                        && after <= w.invoked
                        && w.returned <= read.invoked
                })
            };
            // The latest write of what the read saw, and a write that overwrote it.
            let mut witness: Option<(Duration, Option<&KeyOp<'a>>, &KeyOp<'a>)> = None;
            let mut stale = true;
            for writer in writers
                .iter()
                .map(|w| Some(*w))
                .chain(initial.then_some(None))
            {
                let returned = writer.map_or(Duration::ZERO, |w| w.returned);
                let Some(overwritten) = overwrite(returned) else {
                    stale = false;
                    break;
                };
                if witness.is_none_or(|(latest, _, _)| returned >= latest) {
                    witness = Some((returned, writer, overwritten));
                }
            }
            if stale && let Some((_, writer, overwritten)) = witness {
                out.push((read, writer, overwritten));
            }
        }
        out
    }

    /// Two reads that saw different things although no write of the key was in progress from the first one's
    /// invocation to the last one's return: the register could not change between them, so they must agree.
    fn disagreeing_reads(&self) -> Option<(&KeyOp<'a>, &KeyOp<'a>)> {
        let reads: Vec<&KeyOp<'a>> = self
            .all()
            .filter(|op| matches!(op.step, Step::Read(_) | Step::Exists(_)))
            .collect();
        let differ = |a: Step, b: Step| match (a, b) {
            (Step::Read(x), Step::Read(y)) => x != y,
            (Step::Read(x), Step::Exists(b)) | (Step::Exists(b), Step::Read(x)) => x.is_some() != b,
            (Step::Exists(a), Step::Exists(b)) => a != b,
            _ => false,
        };
        for (n, first) in reads.iter().enumerate() {
            for second in &reads[n + 1..] {
                if !differ(first.step, second.step) {
                    continue;
                }
                let start = first.invoked.min(second.invoked);
                let end = first.returned.max(second.returned);
                let quiet = self
                    .all()
                    .all(|w| w.step.writes().is_none() || w.returned <= start || w.invoked >= end);
                if quiet {
                    return Some((first, second));
                }
            }
        }
        None
    }

    /// Pairs of increments by a positive delta that returned the same counter: one of them was lost.
    fn lost_updates(&self) -> Vec<(&KeyOp<'a>, &KeyOp<'a>)> {
        let increments: Vec<&KeyOp<'a>> = self
            .all()
            .filter(|op| matches!(op.step, Step::Increment { delta, .. } if delta > 0))
            .collect();
        let result = |op: &KeyOp<'a>| match op.step {
            Step::Increment { result, .. } => Some(result),
            _ => None,
        };
        let mut out = Vec::new();
        for (n, first) in increments.iter().enumerate() {
            for second in &increments[n + 1..] {
                if result(first) == result(second) {
                    out.push((*first, *second));
                }
            }
        }
        out
    }

    /// Pairs of swaps that both wrote from a cas that read the same thing: one overwrote the other's write
    /// without having seen it (a swapped key never returns to a value it left, so only one can have found its
    /// cas's value still there).
    fn double_swaps(&self) -> Vec<(&KeyOp<'a>, &KeyOp<'a>)> {
        let swaps: Vec<(&KeyOp<'a>, Option<u32>)> = self
            .all()
            .filter_map(|op| match op.step {
                Step::Swap {
                    expected, ok: true, ..
                } => Some((op, expected)),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for (n, (first, from)) in swaps.iter().enumerate() {
            for (second, other) in &swaps[n + 1..] {
                if from == other {
                    out.push((*first, *second));
                }
            }
        }
        out
    }

    /// The reads that saw a value whose every write began after the read returned.
    fn reads_from_the_future(&self) -> Vec<&KeyOp<'a>> {
        self.all()
            .filter(|read| match read.step {
                Step::Read(Some(v)) => self
                    .all()
                    .filter(|w| w.step.writes() == Some(Some(v)))
                    .all(|w| w.invoked > read.returned),
                _ => false,
            })
            .collect()
    }
}

/// The key's operations in order of invocation, the `marked` ones flagged.
fn excerpt(history: &KeyHistory<'_>, marked: &[&Event]) -> String {
    let mut ops: Vec<&KeyOp<'_>> = history.all().collect();
    ops.sort_by_key(|op| (op.invoked, op.event.instance, op.event.index));
    let mut out = String::from(
        "  its operations, by time of invocation (µs since the instances were released):\n",
    );
    for op in ops {
        let mark = if marked.iter().any(|m| std::ptr::eq(*m, op.event)) {
            "✗"
        } else {
            " "
        };
        let returned = (op.returned != Duration::MAX).then_some(op.returned);
        let line = describe_at(op.event, op.invoked, returned);
        // A cas's `current` stands for the read its `cas.new` made, and has the `cas.new`'s interval.
        let made = if let Operation::CasCurrent { .. } = op.event.op {
            " (what its cas-new read)"
        } else {
            ""
        };
        let _ = writeln!(out, "  {mark} {line}{made}");
    }
    out
}

/// An operation as the account of a violation names it: `instance 1 op 3 (get[0] "c0" -> value "a")`.
fn named(op: &KeyOp<'_>) -> String {
    format!(
        "instance {} op {} ({} -> {})",
        op.event.instance,
        op.event.index,
        op.event.op,
        op.event.outcome.render(None)
    )
}

fn not_linearisable(key: &str, history: &KeyHistory<'_>, deepest: usize) -> Violation {
    let total = history.all().count();
    let mut detail = format!(
        "the operations on key {} have no linearisation: no order of them, consistent with each instance's order \
         and with real time, has every read return the last value written (the longest consistent order takes \
         {deepest} of its {total} operations)\n",
        render_key(key)
    );
    let mut marked: Vec<&Event> = Vec::new();
    let stale = history.stale_reads();
    for (read, writer, overwrite) in stale.iter().take(3) {
        let seen = match writer {
            Some(w) => format!(
                "what instance {} op {} ({}) wrote, returned at {} µs",
                w.event.instance,
                w.event.index,
                w.event.op,
                micros(w.returned)
            ),
            None => "the key's initial absence".into(),
        };
        let _ = writeln!(
            detail,
            "  stale read: {}, invoked at {} µs, saw {seen}, although {} overwrote it in [{}, {}] µs, before \
             the read began",
            named(read),
            micros(read.invoked),
            named(overwrite),
            micros(overwrite.invoked),
            micros(overwrite.returned),
        );
        marked.push(read.event);
    }
    if stale.len() > 3 {
        let _ = writeln!(detail, "  … and {} more stale reads", stale.len() - 3);
    }
    for read in history.reads_from_the_future().into_iter().take(3) {
        let _ = writeln!(
            detail,
            "  read from the future: {} returned at {} µs, before the write of that value began",
            named(read),
            micros(read.returned)
        );
        marked.push(read.event);
    }
    if marked.is_empty()
        && let Some((first, second)) = history.disagreeing_reads()
    {
        let _ = writeln!(
            detail,
            "  reads that disagree: {} and {} both ran within [{}, {}] µs, while no write of the key was in \
             progress, yet they saw different values",
            named(first),
            named(second),
            micros(first.invoked.min(second.invoked)),
            micros(first.returned.max(second.returned)),
        );
        marked.extend([first.event, second.event]);
    }
    let lost = history.lost_updates();
    for (first, second) in lost.iter().take(3) {
        let _ = writeln!(
            detail,
            "  lost update: {} and {} returned the same counter, so one increment was applied over a value the \
             other had already replaced",
            named(first),
            named(second),
        );
        marked.extend([first.event, second.event]);
    }
    let swapped = history.double_swaps();
    for (first, second) in swapped.iter().take(3) {
        let _ = writeln!(
            detail,
            "  lost update: {} and {} both swapped from a cas that read the same value, so one wrote over the \
             other's value without having seen it (a swap writes only if the key still holds what its cas read)",
            named(first),
            named(second),
        );
        marked.extend([first.event, second.event]);
    }
    if marked.is_empty() {
        let _ = writeln!(
            detail,
            "  no single read or pair of reads is wrong on its own: the reads together disagree on the order of \
             the writes"
        );
    }
    detail.push_str(&excerpt(history, &marked));
    Violation {
        // Increments that return one value, and swaps that both wrote from one value, are not atomic; anything
        // else is a visibility fault.
        statement: if lost.is_empty() && swapped.is_empty() {
            VISIBLE
        } else {
            ATOMIC
        },
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made operation: (instance, index, op, outcome, invoked µs, returned µs).
    fn event(
        instance: usize,
        index: usize,
        op: Operation,
        outcome: Outcome,
        invoked: u64,
        returned: u64,
    ) -> Event {
        Event {
            instance,
            index,
            op,
            outcome,
            invoked: Duration::from_micros(invoked),
            returned: Some(Duration::from_micros(returned)),
        }
    }

    fn set(key: &str, value: &str) -> Operation {
        Operation::Set {
            slot: 0,
            key: key.into(),
            value: value.as_bytes().to_vec(),
        }
    }

    fn get(key: &str) -> Operation {
        Operation::Get {
            slot: 0,
            key: key.into(),
        }
    }

    fn exists(key: &str) -> Operation {
        Operation::Exists {
            slot: 0,
            key: key.into(),
        }
    }

    fn delete(key: &str) -> Operation {
        Operation::Delete {
            slot: 0,
            key: key.into(),
        }
    }

    fn value(v: &str) -> Outcome {
        Outcome::Value(Some(v.as_bytes().to_vec()))
    }

    /// A history of instances, each given as its operations after an `open` at [0, 1] µs.
    fn history(instances: Vec<Vec<Event>>) -> Recorded {
        Recorded {
            instances: instances
                .into_iter()
                .enumerate()
                .map(|(i, events)| {
                    let mut all = vec![event(
                        i,
                        0,
                        Operation::Open {
                            slot: 0,
                            label: LABEL.into(),
                        },
                        Outcome::Opened,
                        0,
                        1,
                    )];
                    all.extend(events);
                    InstanceRecord {
                        events: all,
                        ..InstanceRecord::default()
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn a_linearisable_history_passes() {
        let h = history(vec![
            vec![
                event(0, 1, set("c0", "a"), Outcome::Done, 1, 10),
                event(0, 2, get("c0"), value("a"), 10, 20),
                event(0, 3, delete("c0"), Outcome::Done, 20, 30),
                event(0, 4, exists("c0"), Outcome::Exists(true), 30, 40),
            ],
            vec![
                event(1, 1, get("c0"), Outcome::Value(None), 1, 5),
                // Concurrent with the delete, before it takes effect.
                event(1, 2, set("c0", "b"), Outcome::Done, 22, 28),
                event(1, 3, get("c0"), value("b"), 45, 50),
            ],
        ]);
        assert_eq!(check(&h, Interface::V2), None);
    }

    #[test]
    fn a_stale_read_after_a_completed_write_fails_visible() {
        let h = history(vec![
            vec![
                event(0, 1, set("c0", "a"), Outcome::Done, 1, 10),
                event(0, 2, set("c0", "b"), Outcome::Done, 10, 20),
            ],
            vec![event(1, 1, get("c0"), value("a"), 25, 30)],
        ]);
        let v = check(&h, Interface::V2).expect("a stale read");
        assert_eq!(v.statement, VISIBLE, "{v}");
        assert!(v.detail.contains("stale read: instance 1 op 1"), "{v}");
        assert!(v.detail.contains("instance 0 op 2"), "{v}");
    }

    #[test]
    fn a_write_invisible_to_a_later_reader_fails_visible() {
        // The write-behind cache: a returned write, and another instance later still reads nothing.
        let h = history(vec![
            vec![event(0, 1, set("c0", "a"), Outcome::Done, 1, 10)],
            vec![
                event(1, 1, exists("c0"), Outcome::Exists(false), 20, 30),
                event(1, 2, get("c0"), Outcome::Value(None), 30, 40),
                // A later delete is not what those reads saw.
                event(1, 3, delete("c0"), Outcome::Done, 40, 50),
            ],
        ]);
        let v = check(&h, Interface::V2).expect("a lost write");
        assert_eq!(v.statement, VISIBLE, "{v}");
        assert!(v.detail.contains("stale read: instance 1 op 1"), "{v}");
        assert!(v.detail.contains("stale read: instance 1 op 2"), "{v}");
        assert!(v.detail.contains("initial absence"), "{v}");
        // v1 reads a missing key as no-such-key: the same history, read through v1.
        let mut h1 = h.clone();
        h1.instances[1].events[2].outcome = Outcome::Failed(crate::outcome::KvError {
            kind: ErrorKind::NoSuchKey,
            text: None,
        });
        assert_eq!(
            check(&h1, Interface::V1).map(|v| v.statement),
            Some(VISIBLE)
        );
        assert_eq!(
            check(&h1, Interface::V2).map(|v| v.statement),
            Some(HOST_ERROR)
        );
    }

    #[test]
    fn an_invented_value_fails_atomic() {
        let h = history(vec![
            vec![event(0, 1, set("c0", "abcd"), Outcome::Done, 1, 10)],
            vec![
                event(1, 1, set("c0", "xy"), Outcome::Done, 1, 10),
                event(1, 2, get("c0"), value("xycd"), 10, 20),
            ],
        ]);
        let v = check(&h, Interface::V2).expect("a torn value");
        assert_eq!(v.statement, ATOMIC, "{v}");
        assert!(v.detail.contains("\"xycd\""), "{v}");
        assert!(
            v.detail
                .contains("the start of \"xy\" followed by the end of \"abcd\""),
            "{v}"
        );
        // A value of another key is invented too, for this one.
        let h = history(vec![
            vec![event(0, 1, set("c1", "a"), Outcome::Done, 1, 10)],
            vec![event(1, 1, get("c0"), value("a"), 20, 30)],
        ]);
        let v = check(&h, Interface::V2).expect("a value of another key");
        assert_eq!(v.statement, ATOMIC, "{v}");
        assert!(v.detail.contains("written to key \"c1\""), "{v}");
    }

    #[test]
    fn overlapping_writes_allow_either_value() {
        for (first, second) in [("a", "b"), ("b", "a")] {
            let h = history(vec![
                vec![
                    event(0, 1, set("c0", "a"), Outcome::Done, 1, 20),
                    event(0, 2, get("c0"), value(first), 30, 40),
                ],
                vec![
                    event(1, 1, set("c0", "b"), Outcome::Done, 5, 25),
                    event(1, 2, get("c0"), value(first), 30, 40),
                    event(1, 3, get("c0"), value(first), 40, 50),
                ],
            ]);
            assert_eq!(check(&h, Interface::V2), None, "both read {first}");
            // But once one reader has seen the later write, no reader may go back to the earlier one.
            let h = history(vec![
                vec![
                    event(0, 1, set("c0", "a"), Outcome::Done, 1, 20),
                    event(0, 2, get("c0"), value(first), 30, 40),
                ],
                vec![
                    event(1, 1, set("c0", "b"), Outcome::Done, 5, 25),
                    event(1, 2, get("c0"), value(second), 45, 50),
                ],
            ]);
            let v = check(&h, Interface::V2).expect("reads in opposite orders");
            assert_eq!(v.statement, VISIBLE, "{v}");
        }
        // Two reads after both writes returned, with no write since, must agree.
        let h = history(vec![
            vec![
                event(0, 1, set("c0", "a"), Outcome::Done, 1, 20),
                event(0, 2, get("c0"), value("a"), 30, 40),
            ],
            vec![
                event(1, 1, set("c0", "b"), Outcome::Done, 5, 25),
                event(1, 2, get("c0"), value("b"), 35, 45),
            ],
        ]);
        let v = check(&h, Interface::V2).expect("reads that disagree");
        assert!(v.detail.contains("reads that disagree"), "{v}");
        // Unless a write was in progress between them.
        let h = history(vec![
            vec![
                event(0, 1, set("c0", "a"), Outcome::Done, 1, 20),
                event(0, 2, get("c0"), value("a"), 30, 40),
            ],
            vec![
                event(1, 1, set("c0", "b"), Outcome::Done, 5, 45),
                event(1, 2, get("c0"), value("b"), 50, 55),
            ],
        ]);
        assert_eq!(check(&h, Interface::V2), None);
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either() {
        for seen in [Outcome::Value(None), value("a")] {
            let h = history(vec![
                vec![event(0, 1, set("c0", "a"), Outcome::Done, 1, 20)],
                vec![event(1, 1, get("c0"), seen.clone(), 10, 15)],
            ]);
            assert_eq!(check(&h, Interface::V2), None, "{seen:?}");
        }
        // Not a value written after the read returned.
        let h = history(vec![
            vec![event(0, 1, set("c0", "a"), Outcome::Done, 20, 30)],
            vec![event(1, 1, get("c0"), value("a"), 1, 10)],
        ]);
        let v = check(&h, Interface::V2).expect("a read from the future");
        assert!(v.detail.contains("read from the future"), "{v}");
    }

    #[test]
    fn failed_operations_fail_the_history_with_their_nature() {
        let mut h = history(vec![vec![
            event(0, 1, set("c0", "a"), Outcome::Done, 1, 10),
            event(0, 2, get("c0"), Outcome::Trapped("boom".into()), 10, 20),
            event(0, 3, get("c0"), Outcome::NotRun, 20, 20),
        ]]);
        let v = check(&h, Interface::V2).expect("a trap");
        assert_eq!(v.statement, TRAP, "{v}");
        assert!(v.detail.contains("boom"), "{v}");
        h.instances[0].timed_out = true;
        assert_eq!(check(&h, Interface::V2).map(|v| v.statement), Some(TIMEOUT));
        let h = history(vec![vec![event(
            0,
            1,
            exists("c0"),
            Outcome::Value(None),
            1,
            10,
        )]]);
        assert_eq!(
            check(&h, Interface::V2).map(|v| v.statement),
            Some(UNEXPECTED_OUTCOME)
        );
    }

    #[test]
    fn the_search_stays_small_on_a_long_correct_history() {
        // Three instances each writing and reading one key 60 times, round-robin in real time.
        let mut instances = vec![Vec::new(), Vec::new(), Vec::new()];
        let mut t = 1;
        for n in 1..=60 {
            for (i, ops) in instances.iter_mut().enumerate() {
                let v = format!("i{i}.{n}");
                ops.push(event(i, 2 * n - 1, set("c0", &v), Outcome::Done, t, t + 5));
                t += 5;
                ops.push(event(i, 2 * n, get("c0"), value(&v), t, t + 5));
                t += 5;
            }
        }
        let h = history(instances);
        let (key_ops, n) = {
            let all: Vec<(&Event, Access)> = h
                .instances
                .iter()
                .flat_map(|r| &r.events[1..])
                .map(|e| (e, classify(e, &h.instances[0], Interface::V2).unwrap()))
                .collect();
            let n = all.len();
            (all, n)
        };
        assert_eq!(n, 360);
        let history = KeyHistory::new(&key_ops, 3);
        assert_eq!(history.search(10_000), Search::Linearisable);
    }

    fn increment(key: &str, delta: i64) -> Operation {
        Operation::Increment {
            slot: 0,
            key: key.into(),
            delta,
        }
    }

    #[test]
    fn increments_that_add_up_in_some_real_time_order_pass() {
        let h = history(vec![
            vec![
                event(0, 1, increment("n0", 1), Outcome::Counter(3), 1, 20),
                event(0, 2, increment("n0", 3), Outcome::Counter(6), 25, 30),
            ],
            // Overlapping the first: it may come first.
            vec![event(1, 1, increment("n0", 2), Outcome::Counter(2), 5, 15)],
        ]);
        assert_eq!(check(&h, Interface::WasiKeyvalue), None);
    }

    #[test]
    fn two_overlapping_increments_returning_one_value_are_a_lost_update() {
        // A read-then-write increment: both read 0 and wrote 1.
        let h = history(vec![
            vec![event(0, 1, increment("n0", 1), Outcome::Counter(1), 1, 20)],
            vec![event(1, 1, increment("n0", 1), Outcome::Counter(1), 5, 15)],
        ]);
        let v = check(&h, Interface::WasiKeyvalue).expect("a lost update");
        assert_eq!(v.statement, ATOMIC, "{v}");
        assert!(v.detail.contains("lost update: instance 0 op 1"), "{v}");
    }

    #[test]
    fn an_increment_answering_a_value_the_counter_never_held_fails() {
        // Sequential: 1 then 1 + 1, but the second answered 5.
        let h = history(vec![vec![
            event(0, 1, increment("n0", 1), Outcome::Counter(1), 1, 10),
            event(0, 2, increment("n0", 1), Outcome::Counter(5), 10, 20),
        ]]);
        let v = check(&h, Interface::WasiKeyvalue).expect("not a counter");
        assert_eq!(v.statement, VISIBLE, "{v}");
        // Increments that do not overlap must apply in real-time order.
        let h = history(vec![
            vec![event(0, 1, increment("n0", 1), Outcome::Counter(2), 1, 10)],
            vec![event(1, 1, increment("n0", 1), Outcome::Counter(1), 20, 30)],
        ]);
        assert!(check(&h, Interface::WasiKeyvalue).is_some());
    }

    /// An instance's compare-and-swap of `key` from `index`: `cas.new` over [t, t + 2] µs reading `seen`, its
    /// `current`, and a `swap` of `value` over [t + 3, t + 5] µs that wrote (`ok`) or failed.
    fn swap(
        instance: usize,
        index: usize,
        key: &str,
        seen: Option<&str>,
        value: &str,
        ok: bool,
        t: u64,
    ) -> Vec<Event> {
        let swapped = if ok {
            Outcome::Done
        } else {
            Outcome::Failed(crate::outcome::KvError {
                kind: ErrorKind::CasFailed,
                text: None,
            })
        };
        let new = Operation::CasNew {
            slot: 0,
            key: key.into(),
            cas: 0,
        };
        let current = Outcome::Value(seen.map(|v| v.as_bytes().to_vec()));
        let value = value.as_bytes().to_vec();
        vec![
            event(instance, index, new, Outcome::Opened, t, t + 2),
            event(
                instance,
                index + 1,
                Operation::CasCurrent { cas: 0 },
                current,
                t + 2,
                t + 3,
            ),
            event(
                instance,
                index + 2,
                Operation::CasSwap { cas: 0, value },
                swapped,
                t + 3,
                t + 5,
            ),
        ]
    }

    #[test]
    fn swaps_that_write_only_over_what_their_cas_read_pass() {
        let h = history(vec![
            // From absent to "a", then from "a" to "b" once the first swap returned.
            [
                swap(0, 1, "s0", None, "a", true, 1),
                swap(0, 4, "s0", Some("a"), "b", true, 10),
            ]
            .concat(),
            // Read absent alongside the first, so its swap, after "a" was written, fails.
            swap(1, 1, "s0", None, "c", false, 2),
            vec![event(2, 1, get("s0"), value("b"), 20, 25)],
        ]);
        assert_eq!(check(&h, Interface::WasiKeyvalue), None);
    }

    #[test]
    fn two_swaps_from_one_value_that_both_write_are_a_lost_update() {
        // A swap that checks only presence: both cases read "a", both swaps wrote.
        let h = history(vec![
            [
                swap(0, 1, "s0", None, "a", true, 1),
                swap(0, 4, "s0", Some("a"), "b", true, 10),
            ]
            .concat(),
            swap(1, 1, "s0", Some("a"), "c", true, 10),
        ]);
        let v = check(&h, Interface::WasiKeyvalue).expect("a lost swap");
        assert_eq!(v.statement, ATOMIC, "{v}");
        assert!(
            v.detail
                .contains("both swapped from a cas that read the same value"),
            "{v}"
        );
        assert!(
            v.detail.contains("instance 0 op 6") && v.detail.contains("instance 1 op 3"),
            "{v}"
        );
        assert!(v.detail.contains("(what its cas-new read)"), "{v}");
    }

    #[test]
    fn a_swap_that_fails_although_nothing_was_written_fails_visible() {
        let h = history(vec![swap(0, 1, "s0", None, "a", false, 1)]);
        let v = check(&h, Interface::WasiKeyvalue).expect("a spurious cas-failed");
        assert_eq!(v.statement, VISIBLE, "{v}");
        // And a cas that read a value nobody swapped in invented it.
        let h = history(vec![swap(0, 1, "s0", Some("z"), "a", true, 1)]);
        let v = check(&h, Interface::WasiKeyvalue).expect("an invented read");
        assert_eq!(v.statement, ATOMIC, "{v}");
    }

    #[test]
    fn a_search_past_its_budget_is_inconclusive() {
        let h = history(vec![
            vec![event(0, 1, set("c0", "a"), Outcome::Done, 1, 10)],
            vec![event(1, 1, set("c0", "b"), Outcome::Done, 1, 10)],
        ]);
        let ops: Vec<(&Event, Access)> = h
            .instances
            .iter()
            .flat_map(|r| &r.events[1..])
            .map(|e| (e, classify(e, &h.instances[0], Interface::V2).unwrap()))
            .collect();
        let history = KeyHistory::new(&ops, 2);
        assert_eq!(history.search(1), Search::Exhausted);
        assert_eq!(history.search(10), Search::Linearisable);
    }

    #[test]
    fn scripts_are_determined_by_seed_and_index() {
        let config = HistoryConfig::default();
        let a = scripts(7, 3, &config, Interface::V2);
        assert_eq!(a, scripts(7, 3, &config, Interface::V2));
        assert_ne!(a, scripts(7, 4, &config, Interface::V2));
        assert_ne!(a, scripts(8, 3, &config, Interface::V2));
        assert!(
            a.iter()
                .flatten()
                .all(|op| !matches!(op, Operation::Increment { .. }))
        );
        // Through wasi, counters of their own are incremented too.
        let wasi = scripts(7, 3, &config, Interface::WasiKeyvalue);
        let increments: Vec<&Operation> = wasi
            .iter()
            .flatten()
            .filter(|op| matches!(op, Operation::Increment { .. }))
            .collect();
        assert!(!increments.is_empty());
        assert!(increments.iter().all(|op| matches!(op,
            Operation::Increment { key, delta, .. } if key.starts_with('n') && (1..=3).contains(delta))));
        // Through draft2, keys of their own are compared and swapped: cas.new, current, swap, in that order.
        let cas_new =
            |op: &Operation| matches!(op, Operation::CasNew { key, .. } if key.starts_with('s'));
        let swaps = wasi.iter().flatten().filter(|op| cas_new(op)).count();
        assert!(swaps > 0);
        for script in &wasi {
            for (n, op) in script.iter().enumerate() {
                if cas_new(op) {
                    assert!(matches!(script[n + 1], Operation::CasCurrent { cas: 0 }));
                    assert!(matches!(script[n + 2], Operation::CasSwap { cas: 0, .. }));
                }
            }
        }
        // The older draft has no compare-and-swap.
        let draft = scripts(7, 3, &config, Interface::WasiKeyvalueDraft);
        assert!(
            draft
                .iter()
                .flatten()
                .all(|op| !matches!(op, Operation::CasNew { .. }))
        );
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|s| s.len() == 25));
        let mut values = HashSet::new();
        for script in &a {
            assert!(matches!(script[0], Operation::Open { .. }));
            for op in script {
                if let Operation::Set { value, key, .. } = op {
                    assert!(values.insert(value.clone()), "a value written twice");
                    assert!(["c0", "c1", "c2"].contains(&key.as_str()));
                }
            }
        }
        assert!(values.len() > 10);
    }
}
