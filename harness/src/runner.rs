//! Running cases against a host: one case at a time, each with fresh isolated stores, each guarded so that a
//! host that traps, panics or hangs fails that case and nothing else.
//!
//! [`Executor`] is what the generated checks need of a route to a host: run one case and judge it, and record
//! one concurrent history. [`Runner`] is the in-process route; [`crate::adapter::Session`] the out-of-process
//! one. [`crate::fuzz::fuzz`] and [`crate::history`] are written against the trait, so both routes run the same
//! generated sequences and histories through the same code as their suite.

use crate::case::{Case, LoadExpectation, Plan, PlannedStep};
use crate::driver::{Driver, complete};
use crate::host::{AppSpec, HostUnderTest};
use crate::interface::Interface;
use crate::outcome::Outcome;
use crate::profile::Profile;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// A case's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "kebab-case")]
pub enum Verdict {
    /// Every outcome was what the spec requires.
    Pass,
    /// Something differed; the detail says what, operation by operation.
    Fail(String),
    /// The case does not apply to what the host claims; never counted as a pass.
    Skip(String),
}

/// The result of one case on one interface version and backend.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// The case ID.
    pub id: String,
    /// The case title.
    pub title: String,
    /// The interface version.
    pub interface: Interface,
    /// The backend (host configuration) it ran on.
    pub backend: String,
    /// The statements the case checks.
    pub statements: Vec<String>,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The transcript: each operation and what the host gave (empty for a skip).
    #[serde(skip)]
    pub transcript: String,
    /// How long it took, in milliseconds.
    pub millis: u64,
    /// The first operation whose outcome differed, as (step, operation) indices from 0, if one did.
    #[serde(skip)]
    pub first_difference: Option<(usize, usize)>,
}

impl CaseResult {
    /// The result of `case` on `interface` and `backend`, judged as `judgement`, started at `start`.
    pub(crate) fn new(
        case: &Case,
        interface: Interface,
        backend: &str,
        judgement: Judgement,
        start: Instant,
    ) -> CaseResult {
        let (verdict, transcript, first_difference) = judgement;
        CaseResult {
            id: case.id().to_string(),
            title: case.file.title.clone(),
            interface,
            backend: backend.to_string(),
            statements: case.file.statements.clone(),
            verdict,
            transcript,
            millis: start.elapsed().as_millis() as u64,
            first_difference,
        }
    }

    /// A result of case `id` on v2 and the backend "mine", for unit tests of what consumes results.
    #[cfg(test)]
    pub(crate) fn for_test(id: &str, verdict: Verdict) -> CaseResult {
        CaseResult {
            id: id.into(),
            title: "t".into(),
            interface: Interface::V2,
            backend: "mine".into(),
            statements: vec![],
            verdict,
            transcript: String::new(),
            millis: 0,
            first_difference: None,
        }
    }

    /// The trial name, `<interface>/<backend>/<case-id>`.
    pub fn trial_name(&self) -> String {
        format!("{}/{}/{}", self.interface, self.backend, self.id)
    }
}

/// A route to a host: how cases reach it. Implemented by [`Runner`] (in-process) and
/// [`crate::adapter::Session`] (a runtime started from an adapter file, over HTTP); [`crate::fuzz::fuzz`] takes
/// either, and both also run concurrent histories ([`crate::history::Recorder`]). An executor is shared between
/// threads: the search runs generated sequences on threads of its own while it writes the next ones.
pub trait Executor: Sync {
    /// The host's name in trial names and reports: the backend in-process, the adapter's name out-of-process.
    fn host_name(&self) -> &str;

    /// What the host claims.
    fn profile(&self) -> &Profile;

    /// The command-line flags that reach this host again (`--backend sqlite`, `--adapter FILE`), for the
    /// `reproduce:` lines and the comments of saved cases.
    fn command_flags(&self) -> String;

    /// Runs one case on one interface version and judges it, as the suite does on this route.
    fn run_case(&self, case: &Case, interface: Interface) -> CaseResult;

    /// How many cases with different IDs may run at once on this route ([`crate::fuzz::fuzz`] runs that many
    /// generated sequences at a time). One by default: out-of-process, cases share the runtime's stores.
    fn concurrent_cases(&self) -> usize {
        1
    }
}

/// A shared executor is one too (callers that keep their [`Runner`] in an [`Arc`] pass it as before).
impl<E: Executor + Send + ?Sized> Executor for Arc<E> {
    fn host_name(&self) -> &str {
        (**self).host_name()
    }

    fn profile(&self) -> &Profile {
        (**self).profile()
    }

    fn command_flags(&self) -> String {
        (**self).command_flags()
    }

    fn run_case(&self, case: &Case, interface: Interface) -> CaseResult {
        (**self).run_case(case, interface)
    }

    fn concurrent_cases(&self) -> usize {
        (**self).concurrent_cases()
    }
}

impl<H: HostUnderTest> Executor for Runner<H> {
    fn host_name(&self) -> &str {
        self.host.backend()
    }

    fn profile(&self) -> &Profile {
        self.host.profile()
    }

    fn command_flags(&self) -> String {
        format!("--backend {}", self.host.backend())
    }

    fn run_case(&self, case: &Case, interface: Interface) -> CaseResult {
        Runner::run_case(self, case, interface)
    }

    /// Twice the cores (at least two, at most eight): each case has stores of its own (in its own directory),
    /// and a host's cases already run at once (libtest runs trials on several threads). A generated sequence's
    /// thread waits while the runner's worker runs it and the hand-offs leave a core idle; with one sequence
    /// at a time per core a quarter of the two cores went unused (BENCHMARKS.md).
    fn concurrent_cases(&self) -> usize {
        std::thread::available_parallelism().map_or(2, |n| (2 * n.get()).clamp(2, 8))
    }
}

/// A driver linked to the host, or why linking failed (remembered so every case reports it).
type DriverSlot<H> = Result<Arc<Driver<H>>, String>;

/// The drivers a case's steps need, by interface version.
type Drivers<H> = BTreeMap<Interface, Arc<Driver<H>>>;

/// Runs cases against one host.
pub struct Runner<H: HostUnderTest> {
    host: Arc<H>,
    drivers: Mutex<BTreeMap<Interface, DriverSlot<H>>>,
    work_dir: PathBuf,
    timeout: Duration,
    /// Worker threads waiting for a case.
    idle: Mutex<Vec<Worker>>,
    /// Case directories left empty by their case, kept for the case's next run and removed with the runner.
    kept_dirs: Mutex<BTreeSet<PathBuf>>,
}

/// A job for a [`Worker`].
type Job = Box<dyn FnOnce() + Send>;

/// A thread that runs cases one after another: starting a thread for every case cost more than a short case
/// (a generated sequence) on a loaded machine. A worker whose case timed out is left behind with it, as a
/// thread of its own was.
struct Worker {
    jobs: mpsc::Sender<Job>,
}

impl Worker {
    fn start() -> std::io::Result<Worker> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("kvconf-case".into())
            .spawn(move || {
                // Ends when the runner drops its worker (or leaves it behind and the hung case returns).
                for job in queue {
                    job();
                }
            })?;
        Ok(Worker { jobs })
    }
}

impl<H: HostUnderTest> Drop for Runner<H> {
    fn drop(&mut self) {
        let kept = self.kept_dirs.get_mut().unwrap_or_else(|e| e.into_inner());
        for dir in std::mem::take(kept) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl<H: HostUnderTest> Runner<H> {
    /// A runner for `host`, keeping each case's files in its own directory under `work_dir`, and failing a
    /// case that has not finished after `timeout`.
    pub fn new(host: H, work_dir: PathBuf, timeout: Duration) -> Self {
        Runner {
            host: Arc::new(host),
            drivers: Mutex::new(BTreeMap::new()),
            work_dir,
            timeout,
            idle: Mutex::new(Vec::new()),
            kept_dirs: Mutex::new(BTreeSet::new()),
        }
    }

    /// The host under test.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The time a case may take before it fails as hung.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The directory under which each case's stores live.
    pub fn work_dir(&self) -> &std::path::Path {
        &self.work_dir
    }

    /// The driver for `interface` linked to the host: linked once per runner, and a failure to link is
    /// remembered, so every case that needs it reports the same reason.
    pub fn driver(&self, interface: Interface) -> Result<Arc<Driver<H>>, String> {
        let mut drivers = self.drivers.lock().unwrap_or_else(|e| e.into_inner());
        drivers
            .entry(interface)
            .or_insert_with(|| {
                Driver::new(&*self.host, interface)
                    .map(Arc::new)
                    .map_err(|e| format!("{e:#}"))
            })
            .clone()
    }

    /// Runs one case on one interface version.
    pub fn run_case(&self, case: &Case, interface: Interface) -> CaseResult {
        let start = Instant::now();
        let judgement = self.verdict(case, interface);
        CaseResult::new(case, interface, self.host.backend(), judgement, start)
    }

    fn verdict(&self, case: &Case, interface: Interface) -> Judgement {
        let plan = match plan_case(case, interface, self.host.profile()) {
            Ok(plan) => plan,
            Err(judgement) => return judgement,
        };
        let mut drivers = BTreeMap::new();
        for step_interface in plan.steps.iter().map(|s| s.interface) {
            match self.driver(step_interface) {
                Ok(d) => drivers.insert(step_interface, d),
                Err(e) => {
                    return (
                        Verdict::Fail(format!(
                            "the host cannot run the {step_interface} driver: {e}"
                        )),
                        String::new(),
                        None,
                    );
                }
            };
        }
        let dir = self
            .work_dir
            .join(interface.name())
            .join(self.host.backend())
            .join(case.id().replace('/', "__"));
        if let Err(e) = empty_dir(&dir) {
            return (
                Verdict::Fail(format!(
                    "cannot create the case directory {}: {e}",
                    dir.display()
                )),
                String::new(),
                None,
            );
        }
        // Shared with the worker, not copied: a plan holds every operation's bytes (a fill's thousand keys, a
        // mebibyte value).
        let plan = Arc::new(plan);
        let execution = self.execute_guarded(drivers, plan.clone(), dir.clone());
        // Removing a directory costs milliseconds on some file systems (ext4 mounted with `discard`, under
        // load), more than a generated sequence takes to run: one the case left empty is kept for its next run
        // (every generated sequence is a run of the case `fuzz/sequence` or `fuzz/sequence-N`) and removed with
        // the runner.
        if is_empty_dir(&dir) {
            self.kept_dirs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(dir);
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
        judge(&plan, &execution)
    }

    /// Executes the plan on a worker thread and waits at most the timeout; a host that never returns leaves
    /// its thread behind, and the case fails with what was observed until then.
    fn execute_guarded(&self, drivers: Drivers<H>, plan: Arc<Plan>, dir: PathBuf) -> Execution {
        let progress: Arc<Mutex<Execution>> = Arc::new(Mutex::new(Execution::default()));
        let (done_tx, done_rx) = mpsc::channel();
        let host = self.host.clone();
        let shared = progress.clone();
        let timeout = self.timeout;
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                execute(&*host, &drivers, &plan, &dir, &shared, timeout)
            }));
            if let Err(panic) = outcome {
                let message = panic_message(&*panic);
                let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                state.fault = Some(format!("the host panicked: {message}"));
            }
            let _ = done_tx.send(());
        });
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let worker = match idle {
            Some(worker) => Ok(worker),
            None => Worker::start(),
        };
        let worker = match worker {
            Ok(worker) => worker,
            Err(e) => {
                return Execution {
                    fault: Some(format!("cannot start a worker thread: {e}")),
                    ..Execution::default()
                };
            }
        };
        if worker.jobs.send(job).is_err() {
            return Execution {
                fault: Some("the worker thread has gone".into()),
                ..Execution::default()
            };
        }
        let finished = done_rx.recv_timeout(self.timeout).is_ok();
        if finished {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(worker);
        }
        let mut state = progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !finished {
            state.fault = Some(format!(
                "timed out after {:.1} s: the host did not return",
                self.timeout.as_secs_f64()
            ));
        }
        state
    }
}

/// Makes `dir` an empty directory: one already empty (kept from an earlier run of the same case) as it is.
fn empty_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if is_empty_dir(dir) {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)
}

/// Whether `dir` is a directory with nothing in it.
fn is_empty_dir(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

/// The plan of `case` on `interface` for a host claiming `profile`, or the verdict it gets without running: a
/// skip when it needs what the host does not claim, a failure when it cannot be expanded.
pub(crate) fn plan_case(
    case: &Case,
    interface: Interface,
    profile: &Profile,
) -> Result<Plan, Judgement> {
    let skip = |reason: String| (Verdict::Skip(reason), String::new(), None);
    if !profile.interfaces.contains(&interface) {
        return Err(skip(format!(
            "the host does not provide {}",
            interface.wit_name()
        )));
    }
    if let Some(reason) = case.unmet(profile) {
        return Err(skip(reason));
    }
    let plan = case.plan(interface, profile).map_err(|e| {
        (
            Verdict::Fail(format!("the case cannot be expanded: {e}")),
            String::new(),
            None,
        )
    })?;
    // Steps may speak other versions than the case runs for (data written through one version is read through
    // another): the host must provide each of them.
    if let Some(missing) = plan
        .steps
        .iter()
        .map(|s| s.interface)
        .find(|i| !profile.interfaces.contains(i))
    {
        return Err(skip(format!(
            "the host does not provide {}",
            missing.wit_name()
        )));
    }
    Ok(plan)
}

/// What the worker observed: the load, then each step's outcomes as far as it got.
#[derive(Clone, Debug, Default)]
pub(crate) struct Execution {
    /// Whether the host loaded the application, or its refusal.
    pub(crate) load: Option<Result<(), String>>,
    /// Each step's outcomes, as far as they were observed.
    pub(crate) steps: Vec<Arc<Mutex<Vec<Outcome>>>>,
    /// What the guests wrote to stderr.
    pub(crate) stderr: String,
    /// A fault that ended the last step (a trap, a panic, a timeout, a lost connection).
    pub(crate) fault: Option<String>,
}

fn execute<H: HostUnderTest>(
    host: &H,
    drivers: &Drivers<H>,
    plan: &Plan,
    dir: &std::path::Path,
    progress: &Mutex<Execution>,
    timeout: Duration,
) {
    let spec = AppSpec {
        grants: &plan.grants,
        labels: &plan.labels,
        dir,
    };
    let app = host.load(&spec);
    let lock = || progress.lock().unwrap_or_else(|e| e.into_inner());
    lock().load = Some(app.as_ref().map(|_| ()).map_err(|e| format!("{e:#}")));
    let Ok(mut app) = app else { return };
    for step in &plan.steps {
        if step.restart {
            // The application's stores close with it, and load again on the same state directory.
            drop(app);
            app = match host.load(&spec) {
                Ok(app) => app,
                Err(e) => {
                    lock().fault = Some(format!(
                        "the host could not load the application again after the restart: {e:#}"
                    ));
                    return;
                }
            };
        }
        let observed = Arc::new(Mutex::new(Vec::new()));
        lock().steps.push(observed.clone());
        let data = match host.instance_data(&app, &step.component) {
            Ok(d) => d,
            Err(e) => {
                lock().fault = Some(format!(
                    "the host could not make an instance of {:?}: {e:#}",
                    step.component
                ));
                return;
            }
        };
        let Some(driver) = drivers.get(&step.interface) else {
            lock().fault = Some(format!("no {} driver was linked", step.interface));
            return;
        };
        let run = driver.run(data, &step.ops, observed.clone(), timeout);
        *observed.lock().unwrap_or_else(|e| e.into_inner()) = run.outcomes;
        if !run.stderr.is_empty() {
            lock().stderr.push_str(&run.stderr);
        }
        // A trap ends that instance only: the next step is a fresh instance of the application, as on a host
        // serving requests, and a declared trap (HANDLE-V1-INVALID) is followed by checks that the store is
        // intact.
    }
}

/// The message a panic carried.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

/// A verdict, the transcript, and the first operation that differed.
pub(crate) type Judgement = (Verdict, String, Option<(usize, usize)>);

/// Compares an execution with the plan; returns the verdict, the transcript and the first difference.
pub(crate) fn judge(plan: &Plan, execution: &Execution) -> Judgement {
    let mut problems: Vec<String> = Vec::new();
    let mut first_difference = None;
    let mut transcript = String::new();
    let undefined = undefined_labels(plan);
    match (&execution.load, plan.load) {
        (None, _) => problems.push("the application was never loaded".into()),
        (Some(Ok(())), LoadExpectation::Loads) => {}
        (Some(Err(msg)), LoadExpectation::Loads) => {
            problems.push(format!("the host refused to load the application: {msg}"))
        }
        (Some(Ok(())), LoadExpectation::Refused) => problems.push(format!(
            "the host loaded an application granted the undefined label(s) {undefined:?}; its profile says it refuses such an application"
        )),
        (Some(Err(msg)), LoadExpectation::Refused) => {
            if let Some(label) = undefined.iter().find(|l| !msg.contains(l.as_str())) {
                problems.push(format!(
                    "the host refused the application but its message does not name the undefined label {label:?}: {msg}"
                ));
            }
            let _ = writeln!(transcript, "load -> refused, naming {undefined:?}");
        }
    }
    for (n, step) in plan.steps.iter().enumerate() {
        let observed = execution
            .steps
            .get(n)
            .map(|o| o.lock().unwrap_or_else(|e| e.into_inner()));
        let observed: &[Outcome] = observed.as_deref().map_or(&[], Vec::as_slice);
        // Every operation observed (as when the case passes) is judged as observed, not copied first.
        let outcomes = if observed.len() >= step.ops.len() {
            Cow::Borrowed(observed)
        } else {
            let fault = (n + 1 == execution.steps.len())
                .then(|| execution.fault.clone())
                .flatten();
            Cow::Owned(complete(observed.to_vec(), step.ops.len(), fault))
        };
        let matched: Vec<bool> = step
            .expected
            .iter()
            .zip(outcomes.iter())
            .map(|(expected, actual)| expected.matches(actual))
            .collect();
        if step.restart {
            let _ = writeln!(transcript, "(the host restarts)");
        }
        if step.interface == plan.interface {
            let _ = writeln!(transcript, "step {} ({})", n + 1, step.component);
        } else {
            let _ = writeln!(
                transcript,
                "step {} ({}, through {})",
                n + 1,
                step.component,
                step.interface
            );
        }
        render_step(step, &outcomes, &matched, &mut transcript);
        for (m, (expected, actual)) in step.expected.iter().zip(outcomes.iter()).enumerate() {
            if !matched[m] {
                first_difference.get_or_insert((n, m));
                let detail = expected.mismatch(actual);
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                };
                problems.push(format!(
                    "step {} op {}: {}\n    expected: {}\n    actual:   {}{detail}",
                    n + 1,
                    m + 1,
                    step.ops[m],
                    expected,
                    actual.render(None),
                ));
            }
        }
    }
    if let Some(fault) = &execution.fault
        && execution.steps.is_empty()
    {
        problems.push(fault.clone());
    }
    if problems.is_empty() {
        return (Verdict::Pass, transcript, None);
    }
    const SHOWN: usize = 20;
    let mut detail = String::new();
    for p in problems.iter().take(SHOWN) {
        let _ = writeln!(detail, "  {p}");
    }
    if problems.len() > SHOWN {
        let _ = writeln!(
            detail,
            "  … and {} more differences",
            problems.len() - SHOWN
        );
    }
    let trap = execution.steps.iter().find_map(|o| {
        let observed = o.lock().unwrap_or_else(|e| e.into_inner());
        observed.iter().find_map(|x| match x {
            Outcome::Trapped(text) => Some(text.clone()),
            _ => None,
        })
    });
    if let Some(trap) = trap.or_else(|| execution.fault.clone()) {
        let _ = writeln!(detail, "  fault:\n{}", indent(&trap, "    "));
    }
    if !execution.stderr.is_empty() {
        let _ = writeln!(
            detail,
            "  guest stderr:\n{}",
            indent(&execution.stderr, "    ")
        );
    }
    let _ = write!(detail, "  transcript:\n{}", indent(&transcript, "    "));
    (Verdict::Fail(detail), transcript, first_difference)
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

fn undefined_labels(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = plan
        .grants
        .values()
        .flatten()
        .filter(|l| l.as_str() != crate::model::DEFAULT_LABEL && !plan.labels.contains(l))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Appends a step's lines to a transcript: one line per case-file entry, a repeated entry summarised with
/// counts of each distinct outcome.
/// `matched[i]` is whether operation `i`'s outcome is the one expected.
fn render_step(step: &PlannedStep, outcomes: &[Outcome], matched: &[bool], out: &mut String) {
    for group in &step.groups {
        let range = group.start..group.start + group.len;
        let mark = |i: usize| if matched[i] { " " } else { "✗" };
        if group.len == 1 {
            let i = group.start;
            let shown = if group.declared && matched[i] {
                group.expect_text.clone()
            } else {
                outcomes[i].render(Some(&step.expected[i]))
            };
            let _ = writeln!(out, "{} {} -> {shown}", mark(i), step.ops[i]);
            continue;
        }
        let mut counts: Vec<(Cow<str>, usize)> = Vec::new();
        let mut bad = false;
        for i in range {
            bad |= !matched[i];
            // What matched is shown once, as the case wrote it; what differs, as the host answered.
            let text = if matched[i] {
                Cow::Borrowed(group.expect_text.as_str())
            } else {
                Cow::Owned(outcomes[i].render(None))
            };
            match counts.iter_mut().find(|(t, _)| *t == text) {
                Some((_, n)) => *n += 1,
                None => counts.push((text, 1)),
            }
        }
        let summary: Vec<String> = counts.iter().map(|(t, n)| format!("{t} ×{n}")).collect();
        let _ = writeln!(
            out,
            "{} {} ×{} -> {}",
            if bad { "✗" } else { " " },
            group.text,
            group.len,
            summary.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;
    use crate::reference::ReferenceHost;

    /// The plan of a case that opens "default", sets `k` and reads it back, on v2.
    fn plan() -> Plan {
        let text = r#"
id = "t/set-get"
title = "a set is read back"
statements = ["SET-GET-EXACT"]
interfaces = ["v2"]

[[step]]
ops = [
  { op = "open", label = "default", expect = "ok" },
  { op = "set", key = "k", value = "v", expect = "ok" },
  { op = "get", key = "k", expect = { value = "v" } },
]
"#;
        Case::parse(std::path::Path::new("t.toml"), text, Catalogue::builtin())
            .unwrap()
            .plan(Interface::V2, &ReferenceHost::sip010_profile())
            .unwrap()
    }

    fn execution(outcomes: Vec<Outcome>, fault: Option<&str>) -> Execution {
        Execution {
            load: Some(Ok(())),
            steps: vec![Arc::new(Mutex::new(outcomes))],
            stderr: String::new(),
            fault: fault.map(str::to_owned),
        }
    }

    #[test]
    fn outcomes_as_planned_pass() {
        let run = execution(
            vec![
                Outcome::Opened,
                Outcome::Done,
                Outcome::Value(Some(b"v".to_vec())),
            ],
            None,
        );
        let (verdict, transcript, first) = judge(&plan(), &run);
        assert_eq!(verdict, Verdict::Pass, "{transcript}");
        assert_eq!(first, None);
    }

    #[test]
    fn the_first_outcome_that_differs_fails_the_case_and_is_located() {
        let run = execution(
            vec![
                Outcome::Opened,
                Outcome::Done,
                Outcome::Value(Some(b"w".to_vec())),
            ],
            None,
        );
        let (verdict, _, first) = judge(&plan(), &run);
        assert!(matches!(verdict, Verdict::Fail(_)), "{verdict:?}");
        assert_eq!(first, Some((0, 2)));
    }

    #[test]
    fn a_run_cut_short_fails_naming_its_fault() {
        let run = execution(vec![Outcome::Opened], Some("the host trapped in set"));
        let (verdict, _, first) = judge(&plan(), &run);
        let Verdict::Fail(detail) = verdict else {
            panic!("a failure: {verdict:?}");
        };
        assert!(detail.contains("the host trapped in set"), "{detail}");
        assert_eq!(first, Some((0, 1)));
    }

    #[test]
    fn an_application_the_host_would_not_load_fails_the_case() {
        let mut run = execution(Vec::new(), None);
        run.load = Some(Err("no such label".into()));
        let (verdict, _, _) = judge(&plan(), &run);
        let Verdict::Fail(detail) = verdict else {
            panic!("a failure: {verdict:?}");
        };
        assert!(
            detail.contains("refused to load the application: no such label"),
            "{detail}"
        );
    }
}
