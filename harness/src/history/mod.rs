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
//!
//! The module by job: `generate` writes each instance's script, `execute` runs the instances together
//! (in-process, or as requests to a runtime) and records every operation's times, `check` searches each key's
//! operations for a linearisation and writes up a violation; this file holds the configuration, the verdicts and
//! the entry points ([`run_history`], [`run_histories`], [`check_histories`]).

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

mod check;
mod execute;
mod generate;

use check::*;

pub use execute::Recorded;

/// A route to a host that runs concurrent histories as well as cases: the in-process [`Runner`] and the
/// out-of-process [`crate::adapter::Session`]. [`run_history`] and [`check_histories`] take either.
pub trait Recorder: Executor {
    /// Runs the scripts of one concurrent history (each an `open` of [`LABEL`] into slot 0, then operations on it)
    /// as instances of one application at once, and records each operation with an interval that contains the
    /// moment it took effect. `seed` and `index` name the history (for its directory). An `Err` is a history that
    /// could not be run, with what went wrong.
    fn record_history(
        &self,
        interface: Interface,
        scripts: &[Vec<Operation>],
        seed: u64,
        index: u64,
    ) -> Result<Recorded, Violation>;
}

/// A shared recorder is one too.
impl<E: Recorder + Send + ?Sized> Recorder for Arc<E> {
    fn record_history(
        &self,
        interface: Interface,
        scripts: &[Vec<Operation>],
        seed: u64,
        index: u64,
    ) -> Result<Recorded, Violation> {
        (**self).record_history(interface, scripts, seed, index)
    }
}

/// In-process, each history runs in a fresh directory of its own, removed afterwards.
impl<H: HostUnderTest> Recorder for Runner<H> {
    fn record_history(
        &self,
        interface: Interface,
        scripts: &[Vec<Operation>],
        seed: u64,
        index: u64,
    ) -> Result<Recorded, Violation> {
        record_in_process(self, interface, scripts, seed, index)
    }
}
pub(crate) use execute::{
    Answer, Event, InstanceRecord, record_in_process, record_requests, setup,
};
pub use generate::{counter_name, key_name, scripts, swapped_name};

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
pub fn run_histories<E: Recorder + ?Sized>(
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
pub fn check_histories<E: Recorder + ?Sized>(
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
pub fn run_history<E: Recorder + ?Sized>(
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
