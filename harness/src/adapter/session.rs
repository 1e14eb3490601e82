//! A session: cases run against a runtime, one application configuration at a time, started once and its
//! stores emptied between cases.

use super::*;

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
    pub(super) adapter: &'a Adapter,
    pub(super) work_dir: PathBuf,
    pub(super) state: Mutex<SessionState>,
}

/// The runtimes of a session, by application configuration.
#[derive(Default)]
pub(super) struct SessionState {
    pub(super) groups: BTreeMap<AppConfig, Group>,
    /// Applications written so far (each gets its own directory, `app-<n>`).
    pub(super) written: usize,
    /// Runtime starts of the groups already retired.
    pub(super) retired_starts: u64,
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

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `cases` on `interfaces` (those the profile claims run; the others are skipped): [`Session::run_trials`]
    /// of the cases' [`crate::suite::trials`].
    pub fn run(
        &self,
        cases: &[Case],
        interfaces: &[Interface],
        progress: &dyn Fn(&CaseResult),
    ) -> Vec<CaseResult> {
        let selection = crate::suite::Selection::cases_on(interfaces);
        let trials =
            crate::suite::trials(&self.adapter.name, &self.adapter.profile, cases, &selection);
        self.run_trials(&trials, None, progress)
    }

    /// Runs `trials`: the cases of one application configuration one after another on one runtime, which is
    /// stopped after the configuration's last case, then the histories and sequences one at a time (a difference
    /// the sequences find saved under `save` if given). `progress` is told each result as it is known. The
    /// results are the cases' sorted by trial name, then the others in their order.
    pub fn run_trials(
        &self,
        trials: &[Trial],
        save: Option<&Path>,
        progress: &dyn Fn(&CaseResult),
    ) -> Vec<CaseResult> {
        let mut results = Vec::new();
        let mut groups: BTreeMap<AppConfig, Vec<(&Case, Interface, Plan)>> = BTreeMap::new();
        let mut others = Vec::new();
        for trial in trials {
            let Some(case) = trial.case() else {
                others.push(trial);
                continue;
            };
            let interface = trial.interface;
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
        for trial in others {
            let result = trial.run(self, save);
            progress(&result);
            results.push(result);
        }
        results
    }

    /// Executes one planned case on the runtime of its application configuration (started, or reused with its
    /// stores emptied), for the judgement.
    pub(super) fn execute(&self, plan: &Plan) -> Execution {
        let mut state = self.lock();
        self.group(&mut state, AppConfig::of(plan))
            .execute(self.adapter, plan)
    }

    /// The group of `config`, its application written on first use.
    pub(super) fn group<'s>(
        &self,
        state: &'s mut SessionState,
        config: AppConfig,
    ) -> &'s mut Group {
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
    pub(super) fn retire(&self, config: &AppConfig) {
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
}

impl history::Recorder for Session<'_> {
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
pub(super) struct AppConfig {
    pub(super) grants: BTreeMap<String, Vec<String>>,
    pub(super) labels: Vec<String>,
}

impl AppConfig {
    /// The configuration `plan` needs.
    pub(super) fn of(plan: &Plan) -> AppConfig {
        AppConfig {
            grants: plan.grants.clone(),
            labels: plan.labels.clone(),
        }
    }
}

/// A generated application directory.
pub(super) struct App {
    pub(super) dir: PathBuf,
    pub(super) manifest: PathBuf,
    pub(super) runtime_config: PathBuf,
    pub(super) state_dir: PathBuf,
    /// (case component, interface) -> route.
    pub(super) routes: BTreeMap<(String, Interface), String>,
    /// The reset component's route, and the labels it empties.
    pub(super) reset: Option<(String, Interface)>,
    pub(super) labels: Vec<String>,
    /// Where the runtime's output goes.
    pub(super) log: PathBuf,
}

/// How many times the reset deletes what a listing gave before it gives up on a store.
pub(super) const RESET_ROUNDS: usize = 4;

/// The name of the component that empties the stores between cases.
pub(super) const RESET: &str = "kvconf-reset";

impl App {
    pub(super) fn write(
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
        let interfaces = &profile.interfaces;
        for interface in interfaces {
            let fixture = http_fixture(*interface);
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
            for interface in interfaces {
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
            let fixture = http_fixture(*interface);
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
pub(super) fn is_spin_id(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// One application configuration of a session: its application, and the runtime serving it.
pub(super) struct Group {
    /// The directory of its application, state and log (removed when the group is retired).
    pub(super) dir: PathBuf,
    /// The application kvconf wrote, or why it could not.
    pub(super) app: Result<App, String>,
    pub(super) runtime: Option<Runtime>,
    /// Why the runtime could not be started for this configuration, once it could not: the group's other cases
    /// fail at once with the same reason rather than each waiting out the start timeout again.
    pub(super) unstartable: Option<String>,
    /// How many times its runtime was started.
    pub(super) starts: u64,
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
    pub(super) fn prepare(
        &mut self,
        adapter: &Adapter,
        load: LoadExpectation,
    ) -> Result<(), Execution> {
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
    pub(super) fn execute(&mut self, adapter: &Adapter, plan: &Plan) -> Execution {
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

    pub(super) fn stop(&mut self, adapter: &Adapter) {
        stop_runtime(&mut self.runtime, adapter);
    }
}
