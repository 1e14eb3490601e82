//! Running a history: its instances released together, in-process or as requests to a runtime, every operation
//! recorded with when it was invoked and when it returned.

use super::*;

/// One operation as it ran.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub(super) instance: usize,
    pub(super) index: usize,
    pub(super) op: Operation,
    pub(super) outcome: Outcome,
    /// It was invoked no earlier than this, counted from the release of the instances.
    pub(super) invoked: Duration,
    /// It returned no later than this; `None` when it never returned.
    pub(super) returned: Option<Duration>,
}

/// One instance as it ran.
#[derive(Clone, Debug, Default)]
pub(crate) struct InstanceRecord {
    pub(super) events: Vec<Event>,
    pub(super) stderr: String,
    /// It had not finished when the runner's timeout passed.
    pub(super) timed_out: bool,
}

/// A recorded history: each instance's operations, outcomes and intervals, as [`Recorder::record_history`]
/// gives it to the check. Made only by kvconf's own routes.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    pub(crate) instances: Vec<InstanceRecord>,
}

/// Releases waiting threads all at once. (A [`std::sync::Barrier`] would do, but would leave the threads
/// already started waiting for ever if starting a later one failed; a gate can be opened regardless.)
#[derive(Default)]
pub(super) struct Gate {
    pub(super) open: Mutex<bool>,
    pub(super) opened: Condvar,
}

impl Gate {
    pub(super) fn wait(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = self.opened.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub(super) fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.opened.notify_all();
    }
}

/// Holds the instances after their `open` until every one has opened (or stopped), so that their key operations
/// overlap instead of being staggered by how long each took to instantiate. The waiting instances spin (yielding
/// the processor) rather than sleep, so that they all go on the moment the last one arrives: a thread woken from a
/// sleep takes longer to start again than a whole script takes to run. Waiting is bounded by a deadline.
#[derive(Default)]
pub(super) struct Lineup {
    pub(super) arrived: AtomicUsize,
}

impl Lineup {
    pub(super) fn arrive(&self) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn wait(&self, expected: usize, until: Instant) {
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

/// The in-process route's [`Recorder::record_history`]: runs the scripts in a fresh directory of their own,
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
pub(super) type Finished = (usize, Vec<Outcome>, String);

pub(super) fn execute_in<H: HostUnderTest>(
    host: &H,
    driver: Arc<crate::driver::Driver<H>>,
    scripts: &[Vec<Operation>],
    dir: &Path,
    timeout: Duration,
) -> Result<Recorded, Violation> {
    let (app, data) = load_instances(host, scripts.len(), dir)?;
    let gate = Arc::new(Gate::default());
    let lineup = Arc::new(Lineup::default());
    let (done_tx, done_rx) = mpsc::channel::<Finished>();
    let mut observed = Vec::new();
    let mut times = Vec::new();
    for (instance, (ops, data)) in scripts.iter().zip(data).enumerate() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let when = Arc::new(Mutex::new(Vec::new()));
        observed.push(seen.clone());
        times.push(when.clone());
        let thread = InstanceThread {
            instance,
            instances: scripts.len(),
            ops: ops.clone(),
            data,
            driver: driver.clone(),
            app: app.clone(),
            gate: gate.clone(),
            lineup: lineup.clone(),
            done: done_tx.clone(),
            seen,
            when,
            timeout,
        };
        if let Err(e) = thread.spawn() {
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
        recorded.instances.push(record_instance(
            instance,
            ops,
            (&observed[instance], &times[instance]),
            finished[instance].take(),
            start,
            timeout,
        ));
    }
    Ok(recorded)
}

/// The application of a history loaded on `host` (component [`COMPONENT`] granted [`LABEL`], in `dir`), and the
/// state of its `instances` instances.
fn load_instances<H: HostUnderTest>(
    host: &H,
    instances: usize,
    dir: &Path,
) -> Result<Loaded<H>, Violation> {
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
    for _ in 0..instances {
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
    Ok((app, data))
}

/// A history's application, loaded, and the state of each of its instances.
type Loaded<H> = (
    Arc<<H as HostUnderTest>::App>,
    Vec<<H as HostUnderTest>::Data>,
);

/// One instance of a history, to run on a thread of its own.
struct InstanceThread<H: HostUnderTest> {
    instance: usize,
    instances: usize,
    ops: Vec<Operation>,
    data: H::Data,
    driver: Arc<crate::driver::Driver<H>>,
    app: Arc<H::App>,
    gate: Arc<Gate>,
    lineup: Arc<Lineup>,
    done: mpsc::Sender<Finished>,
    /// The outcomes as the driver observes them.
    seen: Arc<Mutex<Vec<Outcome>>>,
    /// When each operation returned.
    when: Arc<Mutex<Vec<Instant>>>,
    timeout: Duration,
}

impl<H: HostUnderTest> InstanceThread<H> {
    /// Starts the thread: it waits at the gate, runs the script (holding after its `open` until every instance
    /// has opened), and sends what it gave.
    fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        let InstanceThread {
            instance,
            instances,
            ops,
            data,
            driver,
            app,
            gate: gate_in,
            lineup,
            done,
            seen,
            when,
            timeout,
        } = self;
        std::thread::Builder::new()
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
            })
    }
}

/// What instance `instance` (running `ops`) did, from what its driver observed and when (`observed`), what its
/// thread sent if it finished in time (`finished`), and when the instances were released (`start`).
fn record_instance(
    instance: usize,
    ops: &[Operation],
    (observed, times): (&Mutex<Vec<Outcome>>, &Mutex<Vec<Instant>>),
    finished: Option<(Vec<Outcome>, String)>,
    start: Instant,
    timeout: Duration,
) -> InstanceRecord {
    // Outcomes before times: the observer records the time first, so every outcome read has its time.
    let so_far = observed.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let when: Vec<Duration> = times
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|t| t.saturating_duration_since(start))
        .collect();
    let (outcomes, stderr, timed_out) = match finished {
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
    InstanceRecord {
        events,
        stderr,
        timed_out,
    }
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
    let ran = std::thread::scope(|scope| {
        let threads: Vec<_> = scripts
            .iter()
            .enumerate()
            .map(|(instance, ops)| {
                let (gate, start) = (&gate, &start);
                scope.spawn(move || -> Ran {
                    gate.wait();
                    let start = *start.get().expect("set before the gate opens");
                    run_requests(instance, ops, start, send)
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

/// Per instance: its record, and the first request whose `open` failed (the operation's index and the open's
/// event).
type Ran = (InstanceRecord, Option<Event>);

/// Instance `instance`'s operations `ops` (its `open` first), each sent as a request of its own through `send`
/// (a `cas.new` with the operations up to its `swap`), timed from `start`; after a trap the rest are not run.
fn run_requests(
    instance: usize,
    ops: &[Operation],
    start: Instant,
    send: &(dyn Fn(&[Operation]) -> Answer + Sync),
) -> Ran {
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
        let script: Vec<Operation> = std::iter::once(open).chain(ops).cloned().collect();
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
}
