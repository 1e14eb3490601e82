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
//! Cases must not see each other's data, and the runtime is not restarted between them: before each case but the
//! first, kvconf empties every store the configuration defines through the interface itself (a `kvconf-reset`
//! component granted every defined label lists each store's keys, deletes them, and lists again). When that fails,
//! the case fails saying so: a host whose listing or delete is broken cannot be cleaned between cases.
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
//! [env]                           # extra environment for the command
//! RUST_LOG = "warn"
//! [store]                         # each defined label's [key_value_store.<label>] table; {label} {state_dir}
//! type = "spin"
//! path = "{state_dir}/{label}.db"
//! ```

use crate::case::{Case, LoadExpectation, Plan};
use crate::driver::{Fixture, complete, outcome_from_json, script_json};
use crate::interface::Interface;
use crate::outcome::{Operation, Outcome};
use crate::profile::Profile;
use crate::runner::{CaseResult, Execution, judge, plan_case, trials};
use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
        let dir = std::path::absolute(path.parent().unwrap_or(Path::new(".")))
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

    fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.file.request_timeout)
    }

    /// How many trials a run of `cases` on `interfaces` has.
    pub fn trials(&self, cases: &[Case], interfaces: &[Interface]) -> usize {
        trials(cases, interfaces).len()
    }

    /// Runs `cases` on `interfaces` (those the profile claims run; the others are skipped), starting the runtime
    /// once per application configuration, in `work_dir`. `progress` is told each result as it is known.
    pub fn run(
        &self,
        cases: &[Case],
        interfaces: &[Interface],
        work_dir: &Path,
        progress: &dyn Fn(&CaseResult),
    ) -> Vec<CaseResult> {
        let mut results = Vec::new();
        let mut groups: BTreeMap<AppConfig, Vec<(&Case, Interface, Plan)>> = BTreeMap::new();
        for (case, interface) in trials(cases, interfaces) {
            match plan_case(case, interface, &self.profile) {
                Ok(plan) => groups
                    .entry(AppConfig {
                        grants: plan.grants.clone(),
                        labels: plan.labels.clone(),
                    })
                    .or_default()
                    .push((case, interface, plan)),
                Err(judgement) => {
                    let result =
                        CaseResult::new(case, interface, &self.name, judgement, Instant::now());
                    progress(&result);
                    results.push(result);
                }
            }
        }
        for (n, (config, members)) in groups.into_iter().enumerate() {
            let dir = work_dir.join(format!("app-{n}"));
            let written = App::write(&dir, &config, &self.profile, &self.file.store);
            let mut group = Group {
                adapter: self,
                app: None,
                runtime: None,
                fresh: false,
                unstartable: None,
            };
            for (case, interface, plan) in members {
                let start = Instant::now();
                let execution = match &written {
                    Ok(app) => {
                        group.app = Some(app);
                        group.execute(&plan)
                    }
                    Err(e) => Execution {
                        load: Some(Ok(())),
                        fault: Some(format!("kvconf could not write the application: {e:#}")),
                        ..Execution::default()
                    },
                };
                let result =
                    CaseResult::new(case, interface, &self.name, judge(&plan, &execution), start);
                progress(&result);
                results.push(result);
            }
            group.stop();
            let _ = std::fs::remove_dir_all(&dir);
        }
        results.sort_by_key(|r| r.trial_name());
        results
    }
}

/// What the application of a case must be: cases with equal configurations share one running runtime.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct AppConfig {
    grants: BTreeMap<String, Vec<String>>,
    labels: Vec<String>,
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

/// The name of the component that empties the stores between cases.
const RESET: &str = "kvconf-reset";

impl App {
    fn write(
        dir: &Path,
        config: &AppConfig,
        profile: &Profile,
        store: &toml::Table,
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
        for label in &config.labels {
            let mut table = toml::Table::new();
            for (key, value) in store {
                let value = match value {
                    toml::Value::String(s) => toml::Value::String(
                        s.replace("{label}", label)
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
            format!(
                "# Written by kvconf: the labels the suite defines besides \"default\".\n{runtime}"
            ),
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

/// The cases of one application configuration, and the runtime serving it.
struct Group<'a> {
    adapter: &'a Adapter,
    app: Option<&'a App>,
    runtime: Option<Runtime>,
    /// Whether the stores are known to be empty (the runtime has just started on a new state directory).
    fresh: bool,
    /// Why the runtime could not be started for this configuration, once it could not: the group's other cases
    /// fail at once with the same reason rather than each waiting out the start timeout again.
    unstartable: Option<String>,
}

impl Group<'_> {
    fn execute(&mut self, plan: &Plan) -> Execution {
        let app = self.app.expect("set before execute");
        let mut execution = Execution::default();
        if let Some(reason) = &self.unstartable {
            execution.load = Some(Ok(()));
            execution.fault = Some(reason.clone());
            return execution;
        }
        if self.runtime.is_none() {
            let first = !app.log.exists();
            match Runtime::start(self.adapter, app) {
                Ok(runtime) => {
                    self.runtime = Some(runtime);
                    self.fresh = first;
                }
                Err(StartError::Exited(text)) => {
                    execution.load = Some(Err(text));
                    return execution;
                }
                Err(StartError::Failed(text)) => {
                    self.unstartable = Some(text.clone());
                    execution.load = Some(Ok(()));
                    execution.fault = Some(text);
                    return execution;
                }
            }
        }
        if plan.load == LoadExpectation::Refused {
            // The runtime started: it loaded an application it should have refused; the judgement says so.
            execution.load = Some(Ok(()));
            return execution;
        }
        execution.load = Some(Ok(()));
        let runtime = self.runtime.as_mut().expect("started above");
        if !self.fresh
            && let Err(e) = runtime.reset(app, self.adapter.request_timeout())
        {
            execution.fault = Some(format!(
                "kvconf could not empty the stores the previous case left, so this case cannot run on clean stores: {e}"
            ));
            // The runtime may be wedged; the next case starts it again.
            self.stop();
            return execution;
        }
        self.fresh = false;
        for step in &plan.steps {
            if step.restart {
                // Stopped and started again on the same state directory (PERSIST-RESTART). The step is recorded
                // first, so a failed restart is this step's fault, not the previous one's.
                execution.steps.push(Arc::new(Mutex::new(Vec::new())));
                self.stop();
                match Runtime::start(self.adapter, app) {
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
            let runtime = self.runtime.as_mut().expect("started above");
            match runtime.post(route, &step.ops, &observed, self.adapter.request_timeout()) {
                Ok(()) => {}
                Err(PostError::Ended(fault)) => {
                    // The instance ended part-way (a trap, a panic): like in-process, that ends this instance
                    // only, and the next step is a fresh one.
                    let mut seen = observed.lock().unwrap_or_else(|e| e.into_inner());
                    let outcomes =
                        complete(std::mem::take(&mut *seen), step.ops.len(), Some(fault));
                    *seen = outcomes;
                }
                Err(PostError::Fatal(fault)) => {
                    execution.fault = Some(fault);
                    self.stop();
                    return execution;
                }
            }
        }
        execution
    }

    fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.stop(
                &self.adapter.file.stop_signal,
                Duration::from_secs_f64(self.adapter.file.stop_timeout),
            );
        }
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
    /// The runtime did not answer in time, or is gone: it must be started again.
    Fatal(String),
}

/// A running runtime.
struct Runtime {
    child: Child,
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
            child,
            base: format!("http://127.0.0.1:{port}"),
            agent,
            log: app.log.clone(),
            log_start,
        };
        let deadline = Instant::now() + Duration::from_secs_f64(adapter.file.start_timeout);
        loop {
            if let Ok(Some(status)) = runtime.child.try_wait() {
                return Err(StartError::Exited(format!(
                    "`{command}` exited ({status}) before serving; its output:\n{}",
                    runtime.output()
                )));
            }
            if runtime
                .agent
                .get(&format!("{}/", runtime.base))
                .call()
                .is_ok()
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

    /// Runs `ops` at `route`, pushing each outcome into `observed` as its line arrives.
    fn post(
        &mut self,
        route: &str,
        ops: &[Operation],
        observed: &Mutex<Vec<Outcome>>,
        timeout: Duration,
    ) -> Result<(), PostError> {
        let url = format!("{}{route}", self.base);
        let fatal = |runtime: &mut Runtime, what: String| {
            let gone = matches!(runtime.child.try_wait(), Ok(Some(_)));
            PostError::Fatal(if gone {
                format!(
                    "{what}; the runtime has exited, its output:\n{}",
                    runtime.output()
                )
            } else {
                what
            })
        };
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
                return Err(fatal(
                    self,
                    format!(
                        "timed out after {:.1} s: the host did not answer",
                        timeout.as_secs_f64()
                    ),
                ));
            }
            Err(e) => return Err(fatal(self, format!("POST {url} failed: {e}"))),
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
            match lines.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) if line.ends_with(b"\n") => match outcome_from_json(&line) {
                    Ok(outcome) => observed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(outcome),
                    Err(e) => {
                        return Err(PostError::Ended(format!(
                            "the HTTP driver answered a line that is not an outcome ({e}): {}",
                            String::from_utf8_lossy(&line)
                        )));
                    }
                },
                Ok(_) => {
                    return Err(PostError::Ended(
                        "the response ended in the middle of a line: the instance ended part-way"
                            .into(),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(fatal(
                        self,
                        format!(
                            "timed out after {:.1} s: the host did not return",
                            timeout.as_secs_f64()
                        ),
                    ));
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

    /// Empties every store the application defines, through the reset component, and checks they are empty.
    fn reset(&mut self, app: &App, timeout: Duration) -> Result<(), String> {
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
            let mut clearing = vec![open];
            clearing.extend(
                keys.into_iter()
                    .map(|key| Operation::Delete { slot: 0, key }),
            );
            clearing.push(Operation::GetKeys { slot: 0 });
            let after = self.call(route, &clearing, timeout)?;
            if let Some(outcome) = after
                .last()
                .filter(|o| !matches!(o, Outcome::Keys(k) if k.is_empty()))
            {
                return Err(format!(
                    "after deleting every key of {label:?}, listing it gave {}",
                    outcome.render(None)
                ));
            }
        }
        Ok(())
    }

    /// Runs a script of kvconf's own and requires every operation to succeed.
    fn call(
        &mut self,
        route: &str,
        ops: &[Operation],
        timeout: Duration,
    ) -> Result<Vec<Outcome>, String> {
        let observed = Mutex::new(Vec::new());
        match self.post(route, ops, &observed, timeout) {
            Ok(()) => {}
            Err(PostError::Ended(e) | PostError::Fatal(e)) => return Err(e),
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
            .args([
                &format!("-{signal}"),
                "--",
                &format!("-{}", self.child.id()),
            ])
            .stderr(Stdio::null())
            .status();
    }

    /// Stops the runtime: `signal` to its process group, then waits up to `grace` for the shell to exit; dropping
    /// it kills what is left.
    fn stop(mut self, signal: &str, grace: Duration) {
        self.signal_group(signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Runtime {
    /// Kills whatever of the process group is still running (nothing it started may linger) and reaps the shell.
    fn drop(&mut self) {
        self.signal_group("KILL");
        let _ = self.child.wait();
    }
}

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
