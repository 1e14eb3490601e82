//! The out-of-process route: validating a running runtime (`spin up`, `kvhost serve`, a platform's local runtime)
//! that kvconf did not link, through HTTP.
//!
//! An adapter file says how to start the runtime for an application directory kvconf generates, and what the
//! runtime claims. For each distinct application configuration (the components' grants and the labels the runtime
//! config defines) kvconf writes a Spin application: a `spin.toml` with one HTTP component per case component and
//! interface version (`/<component>/<version>`, each an HTTP driver fixture with that component's
//! `key_value_stores`), a runtime config defining the labels, and the fixture files. It starts the runtime once
//! for that configuration, runs every case that needs it, one after another, and stops it. Each case's step is
//! one `POST` of its script to the step's route (the fresh instance a Spin runtime makes per request); the outcomes
//! come back one JSON line per operation as they happen (wit/http-driver.wit), so a trap part-way through still
//! leaves the outcomes before it. The results are judged exactly as in-process.
//!
//! Cases must not see each other's data, and the runtime is not restarted between them: before each case, kvconf
//! empties every store the configuration defines through the interface itself (a `kvconf-reset` component granted
//! every defined label lists each store's keys, deletes them, and lists again). When that fails (a previous case
//! left the host wedged), the runtime is started again on an emptied state directory and emptied once more, so
//! one case that breaks the host fails alone; when that fails too, the case fails saying so: a host whose listing
//! or delete is broken cannot be cleaned between cases.
//!
//! All of this is one executor, a [`Session`]: it keeps the runtime of each application configuration it has
//! started, executes one planned case at a time on it (the reset, the steps, a restart step stopping the runtime
//! and starting it again on the same state directory, an application that must be refused checked by the runtime
//! exiting before it serves), and gives the same `Execution` the in-process runner gives, judged by the same
//! code. [`Adapter::run`] runs the suite through one. As a [`crate::runner::Executor`] it also runs the generated
//! sequences of [`crate::fuzz::fuzz`] (`kvconf fuzz --adapter`: all of them share one application configuration,
//! so one runtime, emptied between sequences; shrinking reruns against it) and the concurrent histories of
//! [`crate::history`] (the trial `generated/concurrent-histories` of `kvconf run --adapter`): a handle does not
//! outlive the request's instance, so each operation of a history is a request of its own, the instance's `open`
//! and then the operation, the instances' requests sent from a thread each at once, each timed at the client.
//!
//! ```toml
//! name = "kvhost-serve"           # the host's name in trial names and reports
//! profile = "sip010"              # what it claims: a built-in profile, or a profile file (relative to this file)
//! # How to start it; {app} {manifest} {runtime_config} {state_dir} {port} {adapter_dir} are replaced (quoted for
//! # the shell). Run with `sh -c` in `workdir`; it must serve http://127.0.0.1:{port}/ until it is stopped.
//! command = "exec kvhost serve --listen 127.0.0.1:{port} --runtime-config-file {runtime_config} --state-dir {state_dir} {manifest}"
//! workdir = "."                   # relative to this file (default: this file's directory)
//! start-timeout = 60              # seconds until it must answer HTTP
//! request-timeout = 30            # seconds one script may take
//! stop-signal = "TERM"            # how it is asked to stop (TERM, INT, HUP or QUIT), sent to its process group
//! stop-timeout = 5                # seconds between that signal and SIGKILL
//! define-default = false          # true: "default" gets a [store] table too (else the runtime's own default)
//! [env]                           # extra environment for the command
//! RUST_LOG = "warn"
//! [store]                         # each defined label's [key_value_store.<label>] table; {label} {state_dir}
//! type = "spin"                   # {label_index} (0 for "default", then 1, 2, ... for the others) and ${NAME}
//! path = "{state_dir}/{label}.db" # (an environment variable, of kvconf's or [env]'s, required) are replaced
//! ```
//!
//! A store on a server (Redis: `type = "redis"`, `url = "${KVCONF_REDIS_URL}/{label_index}"`) gives each label a
//! database of its own through `{label_index}`, so labels stay apart as ISOLATION-LABEL asks; `adapters/spin-redis.toml`
//! is one.

use crate::case::{Case, LoadExpectation, Plan};
use crate::driver::{Fixture, complete, outcome_from_json, script_json};
use crate::history;
use crate::interface::Interface;
use crate::outcome::{Operation, Outcome};
use crate::profile::Profile;
use crate::runner::{CaseResult, Execution, Executor, judge, plan_case, trials};
use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every HTTP driver fixture this build carries (committed under `guest-fixtures/prebuilt/`): the driver of each
/// interface version as a Spin HTTP component.
pub const HTTP_FIXTURES: &[Fixture] = &[
    Fixture {
        interface: Interface::V1,
        name: "http-driver-v1",
        bytes: include_bytes!("../../guest-fixtures/prebuilt/http-driver-v1.wasm"),
    },
    Fixture {
        interface: Interface::V2,
        name: "http-driver-v2",
        bytes: include_bytes!("../../guest-fixtures/prebuilt/http-driver-v2.wasm"),
    },
    Fixture {
        interface: Interface::V3,
        name: "http-driver-v3",
        bytes: include_bytes!("../../guest-fixtures/prebuilt/http-driver-v3.wasm"),
    },
    Fixture {
        interface: Interface::WasiKeyvalue,
        name: "http-driver-wasi-keyvalue",
        bytes: include_bytes!("../../guest-fixtures/prebuilt/http-driver-wasi-keyvalue.wasm"),
    },
    Fixture {
        interface: Interface::WasiKeyvalueDraft,
        name: "http-driver-wasi-keyvalue-draft",
        bytes: include_bytes!("../../guest-fixtures/prebuilt/http-driver-wasi-keyvalue-draft.wasm"),
    },
];

/// The HTTP driver fixture for `interface`, if this build has one.
pub fn http_fixture(interface: Interface) -> Option<&'static Fixture> {
    HTTP_FIXTURES.iter().find(|f| f.interface == interface)
}

/// The adapter file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct AdapterFile {
    name: String,
    profile: String,
    command: String,
    #[serde(default)]
    workdir: Option<PathBuf>,
    #[serde(default = "default_start_timeout")]
    start_timeout: f64,
    #[serde(default = "default_request_timeout")]
    request_timeout: f64,
    #[serde(default = "default_stop_timeout")]
    stop_timeout: f64,
    #[serde(default = "default_stop_signal")]
    stop_signal: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default = "default_store")]
    store: toml::Table,
    #[serde(default)]
    define_default: bool,
}

fn default_start_timeout() -> f64 {
    60.0
}

fn default_request_timeout() -> f64 {
    30.0
}

fn default_stop_timeout() -> f64 {
    5.0
}

fn default_stop_signal() -> String {
    "TERM".into()
}

/// The signals a runtime may be asked to stop with.
const STOP_SIGNALS: &[&str] = &["TERM", "INT", "HUP", "QUIT"];

fn default_store() -> toml::Table {
    let mut table = toml::Table::new();
    table.insert("type".into(), "spin".into());
    table.insert("path".into(), "{state_dir}/{label}.db".into());
    table
}

/// The placeholders a command may use.
const PLACEHOLDERS: &[&str] = &[
    "app",
    "manifest",
    "runtime_config",
    "state_dir",
    "port",
    "adapter_dir",
];

/// A runtime kvconf can start, from an adapter file.
#[derive(Debug)]
pub struct Adapter {
    /// The host's name: trial names use it (`v2/<name>/<case>`).
    pub name: String,
    /// What the host claims.
    pub profile: Profile,
    /// The adapter file.
    pub path: PathBuf,
    file: AdapterFile,
    /// The adapter file's directory, absolute.
    dir: PathBuf,
}

impl Adapter {
    /// Reads an adapter file. `profile` resolves the file's `profile` (a built-in name, or a path relative to the
    /// adapter file's directory).
    pub fn load(
        path: &Path,
        profile: impl FnOnce(&str, &Path) -> anyhow::Result<Profile>,
    ) -> anyhow::Result<Adapter> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the adapter file {}", path.display()))?;
        let file: AdapterFile = toml::from_str(&text).with_context(|| {
            format!(
                "the adapter file {} is not valid (the module documentation of kvconf::adapter shows the format)",
                path.display()
            )
        })?;
        // A bare file name's parent is the empty path: the current directory.
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = std::path::absolute(parent.unwrap_or(Path::new(".")))
            .with_context(|| format!("resolving the directory of {}", path.display()))?;
        let problem =
            |message: String| anyhow::anyhow!("the adapter file {}: {message}", path.display());
        if file.name.is_empty() || file.name.contains('/') {
            return Err(problem(format!(
                "`name` must be a non-empty name without '/' (trial names use it), not {:?}",
                file.name
            )));
        }
        for (key, value) in [
            ("start-timeout", file.start_timeout),
            ("request-timeout", file.request_timeout),
            ("stop-timeout", file.stop_timeout),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(problem(format!(
                    "`{key}` must be a positive number of seconds, not {value}"
                )));
            }
        }
        let mut rest = file.command.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else { break };
            let name = &after[..close];
            if name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && !PLACEHOLDERS.contains(&name)
            {
                return Err(problem(format!(
                    "`command` uses the unknown placeholder {{{name}}}; known: {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )));
            }
            rest = &after[close + 1..];
        }
        if !STOP_SIGNALS.contains(&file.stop_signal.as_str()) {
            return Err(problem(format!(
                "`stop-signal` must be one of {}, not {:?}",
                STOP_SIGNALS.join(", "),
                file.stop_signal
            )));
        }
        if !file.command.contains("{port}") {
            return Err(problem(
                "`command` must use {port}: kvconf chooses the port the runtime listens on".into(),
            ));
        }
        if !file.store.contains_key("type") {
            return Err(problem(
                "the [store] table must set `type`, as a runtime config does".into(),
            ));
        }
        let profile = profile(&file.profile, &dir)
            .with_context(|| format!("the profile of the adapter file {}", path.display()))?;
        if let Some(missing) = profile
            .interfaces
            .iter()
            .find(|i| http_fixture(**i).is_none())
        {
            return Err(problem(format!(
                "the profile claims {}, for which kvconf has no HTTP driver",
                missing.wit_name()
            )));
        }
        Ok(Adapter {
            name: file.name.clone(),
            profile,
            path: path.to_path_buf(),
            file,
            dir,
        })
    }

    /// The same adapter with `key=value` added to the command's environment (over the file's `[env]`).
    pub fn with_env(mut self, key: &str, value: &str) -> Adapter {
        self.file.env.insert(key.to_string(), value.to_string());
        self
    }

    /// The `[store]` table with its `${NAME}` variables replaced from the file's `[env]` or kvconf's environment.
    ///
    /// # Errors
    ///
    /// When a variable it uses is set in neither: the message names it.
    pub fn store(&self) -> anyhow::Result<toml::Table> {
        let mut store = self.file.store.clone();
        for (key, value) in store.iter_mut() {
            if let toml::Value::String(text) = value {
                *text = expand_env(text, &self.file.env).map_err(|e| {
                    anyhow::anyhow!(
                        "the adapter file {}: [store] {key}: {e}",
                        self.path.display()
                    )
                })?;
            }
        }
        Ok(store)
    }

    fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.file.request_timeout)
    }

    /// How many trials a run of `cases` on `interfaces` has.
    pub fn trials(&self, cases: &[Case], interfaces: &[Interface]) -> usize {
        trials(cases, interfaces).len()
    }

    /// Runs `cases` on `interfaces` (those the profile claims run; the others are skipped), starting the runtime
    /// once per application configuration, in `work_dir`. `progress` is told each result as it is known. The same
    /// as [`Session::run`] on a session of its own.
    pub fn run(
        &self,
        cases: &[Case],
        interfaces: &[Interface],
        work_dir: &Path,
        progress: &dyn Fn(&CaseResult),
    ) -> Vec<CaseResult> {
        self.session(work_dir).run(cases, interfaces, progress)
    }

    /// A session of this adapter: the route through which cases, generated sequences and concurrent histories
    /// reach the runtime, writing its applications under `work_dir`.
    pub fn session(&self, work_dir: &Path) -> Session<'_> {
        Session {
            adapter: self,
            work_dir: work_dir.to_path_buf(),
            state: Mutex::new(SessionState::default()),
        }
    }
}

/// The out-of-process route to a runtime: the one executor of `kvconf run --adapter`, `kvconf fuzz --adapter` and
/// the concurrent histories.
///
/// It keeps a runtime started per application configuration (the components' grants and the labels the runtime
/// config defines) and reuses it for every case, generated sequence or history of that configuration, emptying
/// its stores between two of them; a runtime that must be refused, that hangs or that exits is dealt with as
/// [`Session::run`] says. The runtimes are stopped, and their applications removed, when the session is dropped
/// (or, in [`Session::run`], after a configuration's last case).
///
/// The stores are emptied before every case, sequence or history; when they cannot be, the runtime is stopped,
/// its state directory emptied, and it is started and emptied again, so that what one case left (or a host it
/// wedged) never counts against the next; only a host that cannot be emptied even then fails the next case, saying
/// so.
///
/// As an [`Executor`] it runs one case at a time: its calls take turns (the stores are shared between them).
pub struct Session<'a> {
    adapter: &'a Adapter,
    work_dir: PathBuf,
    state: Mutex<SessionState>,
}

/// The runtimes of a session, by application configuration.
#[derive(Default)]
struct SessionState {
    groups: BTreeMap<AppConfig, Group>,
    /// Applications written so far (each gets its own directory, `app-<n>`).
    written: usize,
    /// Runtime starts of the groups already retired.
    retired_starts: u64,
}

impl<'a> Session<'a> {
    /// The adapter this session starts runtimes with.
    pub fn adapter(&self) -> &'a Adapter {
        self.adapter
    }

    /// How many times the session has started a runtime so far (restarts included): once per application
    /// configuration, plus one per restart step (PERSIST-RESTART) and per start after a runtime stopped answering.
    pub fn starts(&self) -> u64 {
        let state = self.lock();
        state.retired_starts + state.groups.values().map(|g| g.starts).sum::<u64>()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `cases` on `interfaces` (those the profile claims run; the others are skipped), the cases of one
    /// application configuration one after another on one runtime, which is stopped after the configuration's
    /// last case. `progress` is told each result as it is known.
    pub fn run(
        &self,
        cases: &[Case],
        interfaces: &[Interface],
        progress: &dyn Fn(&CaseResult),
    ) -> Vec<CaseResult> {
        let mut results = Vec::new();
        let mut groups: BTreeMap<AppConfig, Vec<(&Case, Interface, Plan)>> = BTreeMap::new();
        for (case, interface) in trials(cases, interfaces) {
            match plan_case(case, interface, &self.adapter.profile) {
                Ok(plan) => groups
                    .entry(AppConfig::of(&plan))
                    .or_default()
                    .push((case, interface, plan)),
                Err(judgement) => {
                    let result = CaseResult::new(
                        case,
                        interface,
                        &self.adapter.name,
                        judgement,
                        Instant::now(),
                    );
                    progress(&result);
                    results.push(result);
                }
            }
        }
        for (config, members) in groups {
            for (case, interface, plan) in members {
                let start = Instant::now();
                let execution = self.execute(&plan);
                let result = CaseResult::new(
                    case,
                    interface,
                    &self.adapter.name,
                    judge(&plan, &execution),
                    start,
                );
                progress(&result);
                results.push(result);
            }
            self.retire(&config);
        }
        results.sort_by_key(|r| r.trial_name());
        results
    }

    /// Executes one planned case on the runtime of its application configuration (started, or reused with its
    /// stores emptied), for the judgement.
    fn execute(&self, plan: &Plan) -> Execution {
        let mut state = self.lock();
        self.group(&mut state, AppConfig::of(plan))
            .execute(self.adapter, plan)
    }

    /// The group of `config`, its application written on first use.
    fn group<'s>(&self, state: &'s mut SessionState, config: AppConfig) -> &'s mut Group {
        let SessionState {
            groups, written, ..
        } = state;
        groups.entry(config).or_insert_with_key(|config| {
            let dir = self.work_dir.join(format!("app-{written}"));
            *written += 1;
            let app = self
                .adapter
                .store()
                .and_then(|store| {
                    App::write(
                        &dir,
                        config,
                        &self.adapter.profile,
                        &store,
                        self.adapter.file.define_default,
                    )
                })
                .map_err(|e| format!("{e:#}"));
            Group {
                dir,
                app,
                runtime: None,
                unstartable: None,
                starts: 0,
            }
        })
    }

    /// Stops the runtime of `config` and removes its application.
    fn retire(&self, config: &AppConfig) {
        let mut state = self.lock();
        if let Some(mut group) = state.groups.remove(config) {
            group.stop(self.adapter);
            state.retired_starts += group.starts;
            let _ = std::fs::remove_dir_all(&group.dir);
        }
    }
}

impl Drop for Session<'_> {
    /// Stops every runtime still running and removes the applications.
    fn drop(&mut self) {
        let configs: Vec<AppConfig> = self.lock().groups.keys().cloned().collect();
        for config in configs {
            self.retire(&config);
        }
    }
}

impl Executor for Session<'_> {
    fn host_name(&self) -> &str {
        &self.adapter.name
    }

    fn profile(&self) -> &Profile {
        &self.adapter.profile
    }

    fn command_flags(&self) -> String {
        format!("--adapter {}", self.adapter.path.display())
    }

    fn run_case(&self, case: &Case, interface: Interface) -> CaseResult {
        let start = Instant::now();
        let judgement = match plan_case(case, interface, &self.adapter.profile) {
            Ok(plan) => judge(&plan, &self.execute(&plan)),
            Err(judgement) => judgement,
        };
        CaseResult::new(case, interface, &self.adapter.name, judgement, start)
    }

    /// Each operation is a request of its own (`open`, then the operation) to the route of the history's
    /// component on `interface`, sent through `Runtime::post` like a case's script, from one thread per instance
    /// at once (`history::record_requests`), on the runtime of the histories' application (component
    /// [`history::COMPONENT`] granted [`history::LABEL`]), its stores emptied first.
    fn record_history(
        &self,
        interface: Interface,
        scripts: &[Vec<Operation>],
        _seed: u64,
        _index: u64,
    ) -> Result<history::Recorded, history::Violation> {
        if !self.adapter.profile.interfaces.contains(&interface) {
            return Err(history::setup(format!(
                "the host does not provide {}",
                interface.wit_name()
            )));
        }
        let config = AppConfig {
            grants: BTreeMap::from([(
                history::COMPONENT.to_string(),
                vec![history::LABEL.to_string()],
            )]),
            labels: Vec::new(),
        };
        let mut state = self.lock();
        let group = self.group(&mut state, config);
        if let Err(execution) = group.prepare(self.adapter, LoadExpectation::Loads) {
            let why = match (execution.load, execution.fault) {
                (Some(Err(refusal)), _) => {
                    format!("the runtime refused the application: {refusal}")
                }
                (_, Some(fault)) => fault,
                _ => "the runtime could not be prepared".to_string(),
            };
            return Err(history::setup(why));
        }
        let app = group.app.as_ref().expect("prepared above");
        let Some(route) = app.routes.get(&(history::COMPONENT.to_string(), interface)) else {
            return Err(history::setup(format!(
                "kvconf generated no route for component {:?} on {interface}",
                history::COMPONENT
            )));
        };
        let runtime = group.runtime.as_ref().expect("prepared above");
        let timeout = self.adapter.request_timeout();
        let lost = AtomicBool::new(false);
        let send = |ops: &[Operation]| -> history::Answer {
            let observed = Mutex::new(Vec::new());
            let result = runtime.post(route, ops, &observed, timeout);
            let seen = observed.into_inner().unwrap_or_else(|e| e.into_inner());
            let (fault, timed_out) = match result {
                Ok(()) => (None, false),
                Err(PostError::Ended(fault)) => (Some(fault), false),
                Err(PostError::Fatal(fault)) => {
                    lost.store(true, Ordering::SeqCst);
                    (Some(fault), false)
                }
                Err(PostError::TimedOut(fault)) => {
                    lost.store(true, Ordering::SeqCst);
                    (Some(fault), true)
                }
            };
            history::Answer {
                outcomes: complete(seen, ops.len(), fault),
                timed_out,
            }
        };
        let recorded = history::record_requests(scripts, interface, &send);
        if lost.load(Ordering::SeqCst) {
            // The runtime stopped answering: the next use starts it again.
            group.stop(self.adapter);
        }
        recorded
    }
}

/// What the application of a case must be: cases with equal configurations share one running runtime.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct AppConfig {
    grants: BTreeMap<String, Vec<String>>,
    labels: Vec<String>,
}

impl AppConfig {
    /// The configuration `plan` needs.
    fn of(plan: &Plan) -> AppConfig {
        AppConfig {
            grants: plan.grants.clone(),
            labels: plan.labels.clone(),
        }
    }
}

/// A generated application directory.
struct App {
    dir: PathBuf,
    manifest: PathBuf,
    runtime_config: PathBuf,
    state_dir: PathBuf,
    /// (case component, interface) -> route.
    routes: BTreeMap<(String, Interface), String>,
    /// The reset component's route, and the labels it empties.
    reset: Option<(String, Interface)>,
    labels: Vec<String>,
    /// Where the runtime's output goes.
    log: PathBuf,
}

/// How many times the reset deletes what a listing gave before it gives up on a store.
const RESET_ROUNDS: usize = 4;

/// The name of the component that empties the stores between cases.
const RESET: &str = "kvconf-reset";

impl App {
    fn write(
        dir: &Path,
        config: &AppConfig,
        profile: &Profile,
        store: &toml::Table,
        define_default: bool,
    ) -> anyhow::Result<App> {
        let _ = std::fs::remove_dir_all(dir);
        let app_dir = dir.join("app");
        let state_dir = dir.join("state");
        std::fs::create_dir_all(&app_dir)?;
        std::fs::create_dir_all(&state_dir)?;
        let app_dir = std::path::absolute(&app_dir)?;
        let state_dir = std::path::absolute(&state_dir)?;
        let interfaces: Vec<Interface> = profile
            .interfaces
            .iter()
            .copied()
            .filter(|i| http_fixture(*i).is_some())
            .collect();
        for interface in &interfaces {
            let fixture = http_fixture(*interface).expect("filtered above");
            std::fs::write(
                app_dir.join(format!("{}.wasm", fixture.name)),
                fixture.bytes,
            )?;
        }
        let mut defined = vec!["default".to_string()];
        defined.extend(config.labels.iter().cloned());
        let mut manifest = String::from(
            "# Written by kvconf: one HTTP driver per case component and interface version.\n\
             spin_manifest_version = 2\n\n[application]\nname = \"kvconf-driver\"\n",
        );
        let mut routes = BTreeMap::new();
        let mut components: Vec<(String, String, Interface, Vec<String>)> = Vec::new();
        for (n, (component, labels)) in config.grants.iter().enumerate() {
            let id = if is_spin_id(component) && !component.starts_with(RESET) {
                component.clone()
            } else {
                format!("component-{n}")
            };
            for interface in &interfaces {
                let route = format!("/{id}/{}", interface.name());
                routes.insert((component.clone(), *interface), route.clone());
                components.push((
                    format!("{id}-{}", interface.name()),
                    route,
                    *interface,
                    labels.clone(),
                ));
            }
        }
        // Preferred for the reset: a version whose listing is one call.
        let reset_interface = [
            Interface::V2,
            Interface::V1,
            Interface::V3,
            Interface::WasiKeyvalue,
            Interface::WasiKeyvalueDraft,
        ]
        .into_iter()
        .find(|i| interfaces.contains(i));
        if let Some(interface) = reset_interface {
            components.push((
                format!("{RESET}-{}", interface.name()),
                format!("/{RESET}/{}", interface.name()),
                interface,
                defined.clone(),
            ));
        }
        for (id, route, interface, labels) in &components {
            let fixture = http_fixture(*interface).expect("filtered above");
            let _ = write!(
                manifest,
                "\n[[trigger.http]]\nroute = {route:?}\ncomponent = {id:?}\n\n[component.{id}]\nsource = \"{}.wasm\"\nkey_value_stores = {}\n",
                fixture.name,
                toml::Value::Array(labels.iter().map(|l| l.as_str().into()).collect())
            );
        }
        let manifest_path = app_dir.join("spin.toml");
        std::fs::write(&manifest_path, manifest)?;
        let mut runtime = toml::Table::new();
        let mut stores = toml::Table::new();
        // "default" is defined[0]: its index is 0 whether or not it gets a table.
        for (index, label) in defined
            .iter()
            .enumerate()
            .skip(usize::from(!define_default))
        {
            let mut table = toml::Table::new();
            for (key, value) in store {
                let value = match value {
                    toml::Value::String(s) => toml::Value::String(
                        s.replace("{label}", label)
                            .replace("{label_index}", &index.to_string())
                            .replace("{state_dir}", &state_dir.to_string_lossy()),
                    ),
                    other => other.clone(),
                };
                table.insert(key.clone(), value);
            }
            stores.insert(label.clone(), toml::Value::Table(table));
        }
        runtime.insert("key_value_store".into(), toml::Value::Table(stores));
        let runtime_config = app_dir.join("runtime-config.toml");
        std::fs::write(
            &runtime_config,
            format!("# Written by kvconf: the labels the suite defines.\n{runtime}"),
        )?;
        Ok(App {
            dir: app_dir,
            manifest: manifest_path,
            runtime_config,
            state_dir,
            routes,
            reset: reset_interface.map(|i| (format!("/{RESET}/{}", i.name()), i)),
            labels: defined,
            log: dir.join("runtime.log"),
        })
    }
}

/// Spin's rule for component IDs: lowercase letters, digits and single hyphens, starting with a letter.
fn is_spin_id(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// One application configuration of a session: its application, and the runtime serving it.
struct Group {
    /// The directory of its application, state and log (removed when the group is retired).
    dir: PathBuf,
    /// The application kvconf wrote, or why it could not.
    app: Result<App, String>,
    runtime: Option<Runtime>,
    /// Why the runtime could not be started for this configuration, once it could not: the group's other cases
    /// fail at once with the same reason rather than each waiting out the start timeout again.
    unstartable: Option<String>,
    /// How many times its runtime was started.
    starts: u64,
}

impl Group {
    /// Gets the runtime ready for a case expecting `load`: started if it is not running, and its stores emptied.
    /// `Err` is the execution to judge instead: the application was not written, the runtime refused it (or loaded
    /// it when `load` says it must refuse), could not start, or could not be emptied.
    ///
    /// The stores are emptied before every case, the first of a configuration too: they need not live in the
    /// state directory (a Redis store outlives it). When they cannot be emptied (a previous case left the host
    /// wedged, as a panic holding a lock does), the runtime is stopped, its state directory emptied, and it is
    /// started and emptied once more: one case that breaks the host fails alone, and only a host that cannot be
    /// emptied even then fails the case, saying so.
    fn prepare(&mut self, adapter: &Adapter, load: LoadExpectation) -> Result<(), Execution> {
        let mut execution = Execution::default();
        let app = match &self.app {
            Ok(app) => app,
            Err(e) => {
                execution.load = Some(Ok(()));
                execution.fault = Some(format!("kvconf could not write the application: {e}"));
                return Err(execution);
            }
        };
        if let Some(reason) = &self.unstartable {
            execution.load = Some(Ok(()));
            execution.fault = Some(reason.clone());
            return Err(execution);
        }
        if self.runtime.is_none() {
            self.starts += 1;
            match Runtime::start(adapter, app) {
                Ok(runtime) => self.runtime = Some(runtime),
                Err(StartError::Exited(text)) => {
                    execution.load = Some(Err(text));
                    return Err(execution);
                }
                Err(StartError::Failed(text)) => {
                    self.unstartable = Some(text.clone());
                    execution.load = Some(Ok(()));
                    execution.fault = Some(text);
                    return Err(execution);
                }
            }
        }
        execution.load = Some(Ok(()));
        if load == LoadExpectation::Refused {
            // The runtime started: it loaded an application it should have refused; the judgement says so.
            return Err(execution);
        }
        let runtime = self.runtime.as_ref().expect("started above");
        if let Err(e) = runtime.reset(app, adapter.request_timeout()) {
            // The runtime may be wedged: started again on an emptied state directory, and emptied again.
            stop_runtime(&mut self.runtime, adapter);
            let _ = std::fs::remove_dir_all(&app.state_dir);
            let _ = std::fs::create_dir_all(&app.state_dir);
            self.starts += 1;
            let again = match Runtime::start(adapter, app) {
                Ok(runtime) => {
                    let reset = runtime.reset(app, adapter.request_timeout());
                    self.runtime = Some(runtime);
                    reset.map_err(|again| {
                        format!("{e}; started again on an emptied state directory: {again}")
                    })
                }
                Err(StartError::Exited(text) | StartError::Failed(text)) => Err(format!(
                    "{e}; it did not start again on an emptied state directory: {text}"
                )),
            };
            if let Err(e) = again {
                execution.fault = Some(format!(
                    "kvconf could not empty the stores before this case, so it cannot run on clean stores: {e}"
                ));
                stop_runtime(&mut self.runtime, adapter);
                return Err(execution);
            }
        }
        Ok(())
    }

    /// Runs one planned case: each step one `POST` of its script to its route, a restart step stopping the runtime
    /// and starting it again on the same state directory.
    fn execute(&mut self, adapter: &Adapter, plan: &Plan) -> Execution {
        if let Err(execution) = self.prepare(adapter, plan.load) {
            return execution;
        }
        let app = self.app.as_ref().expect("prepared above");
        let mut execution = Execution {
            load: Some(Ok(())),
            ..Execution::default()
        };
        for step in &plan.steps {
            if step.restart {
                // Stopped and started again on the same state directory (PERSIST-RESTART). The step is recorded
                // first, so a failed restart is this step's fault, not the previous one's.
                execution.steps.push(Arc::new(Mutex::new(Vec::new())));
                stop_runtime(&mut self.runtime, adapter);
                self.starts += 1;
                match Runtime::start(adapter, app) {
                    Ok(runtime) => {
                        self.runtime = Some(runtime);
                        execution.steps.pop();
                    }
                    Err(StartError::Exited(e) | StartError::Failed(e)) => {
                        execution.fault = Some(format!(
                            "the runtime did not start again after the restart: {e}"
                        ));
                        return execution;
                    }
                }
            }
            let observed = Arc::new(Mutex::new(Vec::new()));
            execution.steps.push(observed.clone());
            let Some(route) = app.routes.get(&(step.component.clone(), step.interface)) else {
                execution.fault = Some(format!(
                    "kvconf generated no route for component {:?} on {}",
                    step.component, step.interface
                ));
                return execution;
            };
            let runtime = self.runtime.as_ref().expect("started above");
            match runtime.post(route, &step.ops, &observed, adapter.request_timeout()) {
                Ok(()) => {}
                Err(PostError::Ended(fault)) => {
                    // The instance ended part-way (a trap, a panic): like in-process, that ends this instance
                    // only, and the next step is a fresh one.
                    let mut seen = observed.lock().unwrap_or_else(|e| e.into_inner());
                    let outcomes =
                        complete(std::mem::take(&mut *seen), step.ops.len(), Some(fault));
                    *seen = outcomes;
                }
                Err(PostError::Fatal(fault) | PostError::TimedOut(fault)) => {
                    execution.fault = Some(fault);
                    stop_runtime(&mut self.runtime, adapter);
                    return execution;
                }
            }
        }
        execution
    }

    fn stop(&mut self, adapter: &Adapter) {
        stop_runtime(&mut self.runtime, adapter);
    }
}

/// Stops `runtime`, if it runs, as the adapter says.
fn stop_runtime(runtime: &mut Option<Runtime>, adapter: &Adapter) {
    if let Some(runtime) = runtime.take() {
        runtime.stop(
            &adapter.file.stop_signal,
            Duration::from_secs_f64(adapter.file.stop_timeout),
        );
    }
}

/// Why a runtime did not start.
enum StartError {
    /// It exited before answering: how a runtime refuses an application (its output says why).
    Exited(String),
    /// It could not be started, or did not answer in time.
    Failed(String),
}

/// Why a script did not give all its outcomes.
enum PostError {
    /// The instance ended part-way; the runtime still serves.
    Ended(String),
    /// The runtime is gone, or cannot be reached: it must be started again.
    Fatal(String),
    /// The runtime did not answer within the request timeout: it must be started again.
    TimedOut(String),
}

/// A running runtime. Its requests may be sent from several threads at once (a concurrent history's instances).
struct Runtime {
    /// The shell running the command (locked only to ask whether it has exited).
    child: Mutex<Child>,
    /// Its process ID, which is also its process group's.
    pid: u32,
    base: String,
    agent: ureq::Agent,
    log: PathBuf,
    /// Where this start's output begins in the log (which every start of the group appends to).
    log_start: u64,
}

impl Runtime {
    fn start(adapter: &Adapter, app: &App) -> Result<Runtime, StartError> {
        let port = free_port()
            .map_err(|e| StartError::Failed(format!("kvconf found no free port: {e}")))?;
        let quote = |p: &Path| shell_quote(&p.to_string_lossy());
        let command = adapter
            .file
            .command
            .replace("{app}", &quote(&app.dir))
            .replace("{manifest}", &quote(&app.manifest))
            .replace("{runtime_config}", &quote(&app.runtime_config))
            .replace("{state_dir}", &quote(&app.state_dir))
            .replace("{adapter_dir}", &quote(&adapter.dir))
            .replace("{port}", &port.to_string());
        let workdir = match &adapter.file.workdir {
            Some(w) => adapter.dir.join(w),
            None => adapter.dir.clone(),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&app.log)
            .map_err(|e| {
                StartError::Failed(format!("kvconf cannot write {}: {e}", app.log.display()))
            })?;
        let log_start = log.metadata().map_or(0, |m| m.len());
        let log_err = log.try_clone().map_err(|e| {
            StartError::Failed(format!("kvconf cannot write {}: {e}", app.log.display()))
        })?;
        let mut spawn = Command::new("sh");
        spawn
            .arg("-c")
            .arg(&command)
            .current_dir(&workdir)
            .envs(&adapter.file.env)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // Its own process group, so stopping it stops whatever the shell started.
        std::os::unix::process::CommandExt::process_group(&mut spawn, 0);
        let child = spawn.spawn().map_err(|e| {
            StartError::Failed(format!(
                "kvconf could not start `{command}` in {}: {e}",
                workdir.display()
            ))
        })?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let mut runtime = Runtime {
            pid: child.id(),
            child: Mutex::new(child),
            base: format!("http://127.0.0.1:{port}"),
            agent,
            log: app.log.clone(),
            log_start,
        };
        let deadline = Instant::now() + Duration::from_secs_f64(adapter.file.start_timeout);
        loop {
            if let Ok(Some(status)) = runtime.child_mut().try_wait() {
                return Err(StartError::Exited(format!(
                    "`{command}` exited ({status}) before serving; its output:\n{}",
                    runtime.output()
                )));
            }
            // Any answer but 503 Service Unavailable (a runtime still loading its application) means it serves.
            if runtime
                .agent
                .get(&format!("{}/", runtime.base))
                .call()
                .is_ok_and(|r| r.status() != 503)
            {
                return Ok(runtime);
            }
            if Instant::now() > deadline {
                let output = runtime.output();
                runtime.stop(&adapter.file.stop_signal, Duration::from_secs(1));
                return Err(StartError::Failed(format!(
                    "`{command}` did not answer HTTP on port {port} within {} s (start-timeout in {}); its output:\n{output}",
                    adapter.file.start_timeout,
                    adapter.path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the runtime has exited.
    fn exited(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        matches!(child.try_wait(), Ok(Some(_)))
    }

    /// This start's output so far: whole up to 8 KiB, else its first 6 KiB (where a refusal says why) and its
    /// last 2 KiB.
    fn output(&self) -> String {
        let all = std::fs::read(&self.log).unwrap_or_default();
        let text = all.get(self.log_start as usize..).unwrap_or_default();
        if text.len() <= 8192 {
            return String::from_utf8_lossy(text).into_owned();
        }
        format!(
            "{}\n[... {} bytes ...]\n{}",
            String::from_utf8_lossy(&text[..6144]),
            text.len() - 8192,
            String::from_utf8_lossy(&text[text.len() - 2048..])
        )
    }

    /// What is said of a runtime that must be started again: whether it has exited, and its output if so.
    fn lost(&self, what: String) -> String {
        if self.exited() {
            format!(
                "{what}; the runtime has exited, its output:\n{}",
                self.output()
            )
        } else {
            what
        }
    }

    /// Runs `ops` at `route`, pushing each outcome into `observed` as its line arrives. Several threads may post
    /// at once. An answer that ended part-way because the runtime exited (it may take a moment to be reaped) is
    /// fatal, and says so; otherwise the instance ended part-way and the runtime still serves.
    fn post(
        &self,
        route: &str,
        ops: &[Operation],
        observed: &Mutex<Vec<Outcome>>,
        timeout: Duration,
    ) -> Result<(), PostError> {
        match self.post_once(route, ops, observed, timeout) {
            Err(PostError::Ended(what)) => {
                let deadline = Instant::now() + Duration::from_millis(100);
                while !self.exited() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if self.exited() {
                    Err(PostError::Fatal(self.lost(what)))
                } else {
                    Err(PostError::Ended(what))
                }
            }
            other => other,
        }
    }

    fn post_once(
        &self,
        route: &str,
        ops: &[Operation],
        observed: &Mutex<Vec<Outcome>>,
        timeout: Duration,
    ) -> Result<(), PostError> {
        let url = format!("{}{route}", self.base);
        let response = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("content-type", "application/json")
            .send(&script_json(ops)[..]);
        let response = match response {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Err(PostError::TimedOut(self.lost(format!(
                    "timed out after {:.1} s: the host did not answer",
                    timeout.as_secs_f64()
                ))));
            }
            Err(e) => {
                return Err(PostError::Fatal(
                    self.lost(format!("POST {url} failed: {e}")),
                ));
            }
        };
        let status = response.status();
        let mut body = response.into_body();
        let reader = body.as_reader();
        if status != 200 {
            let mut text = String::new();
            let _ = reader.take(4096).read_to_string(&mut text);
            return Err(PostError::Ended(format!(
                "the runtime answered {status}: {}",
                text.trim()
            )));
        }
        let mut lines = BufReader::new(reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            // One line is one outcome: no longer than the largest a value the profile allows could make.
            match (&mut lines).take(MAX_LINE).read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) if line.ends_with(b"\n") => match outcome_from_json(&line) {
                    Ok(outcome) => {
                        let mut observed = observed.lock().unwrap_or_else(|e| e.into_inner());
                        if observed.len() == ops.len() {
                            return Err(PostError::Ended(format!(
                                "the runtime answered more outcomes than the script's {} operation(s) (the next: {})",
                                ops.len(),
                                outcome.render(None)
                            )));
                        }
                        observed.push(outcome);
                    }
                    Err(e) => {
                        return Err(PostError::Ended(format!(
                            "the HTTP driver answered a line that is not an outcome ({e}): {}",
                            String::from_utf8_lossy(&line)
                        )));
                    }
                },
                Ok(n) if n as u64 == MAX_LINE => {
                    return Err(PostError::Ended(format!(
                        "the runtime answered a line of more than {MAX_LINE} bytes, which no outcome needs"
                    )));
                }
                Ok(_) => {
                    return Err(PostError::Ended(
                        "the response ended in the middle of a line: the instance ended part-way"
                            .into(),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(PostError::TimedOut(self.lost(format!(
                        "timed out after {:.1} s: the host did not return",
                        timeout.as_secs_f64()
                    ))));
                }
                Err(e) => {
                    return Err(PostError::Ended(format!(
                        "the response was cut off after {} outcome(s): {e}",
                        observed.lock().unwrap_or_else(|e| e.into_inner()).len()
                    )));
                }
            }
        }
        let seen = observed.lock().unwrap_or_else(|e| e.into_inner()).len();
        if seen < ops.len() {
            return Err(PostError::Ended(format!(
                "the response ended after {seen} of {} outcome(s): the instance ended part-way",
                ops.len()
            )));
        }
        Ok(())
    }

    /// Empties every store the application defines, through the reset component: lists each store, deletes what
    /// it listed and lists again, until a listing is empty (at most [`RESET_ROUNDS`] rounds).
    fn reset(&self, app: &App, timeout: Duration) -> Result<(), String> {
        let Some((route, _)) = &app.reset else {
            return Ok(());
        };
        // One label per script, so a host bounding its open stores at one still resets.
        for label in &app.labels {
            let open = Operation::Open {
                slot: 0,
                label: label.clone(),
            };
            let listing = [open.clone(), Operation::GetKeys { slot: 0 }];
            let keys = match &self.call(route, &listing, timeout)?[1] {
                Outcome::Keys(keys) => keys.clone(),
                other => return Err(format!("listing {label:?} gave {}", other.render(None))),
            };
            // Delete what the listing gave and list again, until a listing is empty: a few rounds, so that a
            // listing that leaves out a key of several (a fault the cases report) still gets the store emptied.
            let mut keys = keys;
            for round in 1..=RESET_ROUNDS {
                let mut clearing = vec![open.clone()];
                clearing.extend(
                    keys.into_iter()
                        .map(|key| Operation::Delete { slot: 0, key }),
                );
                clearing.push(Operation::GetKeys { slot: 0 });
                let after = self.call(route, &clearing, timeout)?;
                match after.last() {
                    Some(Outcome::Keys(left)) if left.is_empty() => break,
                    Some(Outcome::Keys(left)) if round < RESET_ROUNDS => keys = left.clone(),
                    other => {
                        return Err(format!(
                            "after deleting every key of {label:?} listed ({RESET_ROUNDS} rounds), listing it gave {}",
                            other.map_or("nothing".to_string(), |o| o.render(None))
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs a script of kvconf's own and requires every operation to succeed.
    fn call(
        &self,
        route: &str,
        ops: &[Operation],
        timeout: Duration,
    ) -> Result<Vec<Outcome>, String> {
        let observed = Mutex::new(Vec::new());
        match self.post(route, ops, &observed, timeout) {
            Ok(()) => {}
            Err(PostError::Ended(e) | PostError::Fatal(e) | PostError::TimedOut(e)) => {
                return Err(e);
            }
        }
        let outcomes = observed.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some((op, outcome)) = ops.iter().zip(&outcomes).find(|(_, o)| {
            matches!(
                o,
                Outcome::Failed(_) | Outcome::ScriptError(_) | Outcome::Trapped(_)
            )
        }) {
            return Err(format!("{op} gave {}", outcome.render(None)));
        }
        Ok(outcomes)
    }

    /// Sends `signal` to the runtime's process group: the shell and whatever it started.
    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), "--", &format!("-{}", self.pid)])
            .stderr(Stdio::null())
            .status();
    }

    /// Stops the runtime: `signal` to its process group, then waits up to `grace` for the shell to exit; dropping
    /// it kills what is left.
    fn stop(mut self, signal: &str, grace: Duration) {
        self.signal_group(signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && matches!(self.child_mut().try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Runtime {
    /// Kills whatever of the process group is still running (nothing it started may linger) and reaps the shell.
    fn drop(&mut self) {
        self.signal_group("KILL");
        let _ = self.child_mut().wait();
    }
}

/// `text` with each `${NAME}` replaced by the variable `NAME` of `env` (the adapter file's `[env]`) or else of
/// kvconf's environment; a variable set in neither is refused, naming it.
fn expand_env(text: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("{text:?} has a `${{` without its `}}`"));
        };
        let name = &after[..end];
        let value = env
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .ok_or_else(|| {
                format!(
                    "uses ${{{name}}}, which is not set: set it in the environment (or in the file's [env]) \
                     before running kvconf"
                )
            })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The longest line of an HTTP driver's answer kvconf reads: an outcome holding a value of 16 MiB in JSON (at most
/// a three-digit number and a comma per byte) is shorter, and the largest value a case writes is 4 MiB.
const MAX_LINE: u64 = 64 << 20;

/// A port nobody listens on now.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `text` as one shell word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_variables_come_from_env_then_the_environment_and_unset_ones_are_named() {
        let mut env = BTreeMap::new();
        env.insert(
            "KVCONF_TEST_URL".to_string(),
            "redis://127.0.0.1:1".to_string(),
        );
        assert_eq!(
            expand_env("${KVCONF_TEST_URL}/{label_index}", &env).unwrap(),
            "redis://127.0.0.1:1/{label_index}"
        );
        assert_eq!(
            expand_env("${PATH}", &BTreeMap::new()).unwrap(),
            std::env::var("PATH").unwrap()
        );
        let unset = expand_env("x${KVCONF_SURELY_UNSET_VARIABLE}", &env).unwrap_err();
        assert!(unset.contains("KVCONF_SURELY_UNSET_VARIABLE"), "{unset}");
        assert!(expand_env("${OPEN", &env).is_err());
    }

    #[test]
    fn each_label_gets_its_index_and_default_a_table_only_when_asked() {
        let config = AppConfig {
            grants: BTreeMap::from([("main".to_string(), vec!["default".to_string()])]),
            labels: vec!["cache".to_string(), "sessions".to_string()],
        };
        let mut store = toml::Table::new();
        store.insert("type".into(), "redis".into());
        store.insert("url".into(), "redis://h/{label_index}".into());
        let profile = crate::reference::ReferenceHost::sip010_profile();
        for define_default in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let app = App::write(dir.path(), &config, &profile, &store, define_default).unwrap();
            let written: toml::Table =
                toml::from_str(&std::fs::read_to_string(&app.runtime_config).unwrap()).unwrap();
            let stores = written["key_value_store"].as_table().unwrap();
            assert_eq!(stores["cache"]["url"].as_str(), Some("redis://h/1"));
            assert_eq!(stores["sessions"]["url"].as_str(), Some("redis://h/2"));
            assert_eq!(
                stores.get("default").and_then(|d| d["url"].as_str()),
                define_default.then_some("redis://h/0")
            );
        }
    }
}
