//! The adapter file: how to start a runtime and what it claims, read and checked.

use super::*;

/// The adapter file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct AdapterFile {
    pub(super) name: String,
    pub(super) profile: String,
    pub(super) command: String,
    #[serde(default)]
    pub(super) workdir: Option<PathBuf>,
    #[serde(default = "default_start_timeout")]
    pub(super) start_timeout: f64,
    #[serde(default = "default_request_timeout")]
    pub(super) request_timeout: f64,
    #[serde(default = "default_stop_timeout")]
    pub(super) stop_timeout: f64,
    #[serde(default = "default_stop_signal")]
    pub(super) stop_signal: String,
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    #[serde(default = "default_store")]
    pub(super) store: toml::Table,
    #[serde(default)]
    pub(super) define_default: bool,
}

pub(super) fn default_start_timeout() -> f64 {
    60.0
}

pub(super) fn default_request_timeout() -> f64 {
    30.0
}

pub(super) fn default_stop_timeout() -> f64 {
    5.0
}

pub(super) fn default_stop_signal() -> String {
    "TERM".into()
}

/// The signals a runtime may be asked to stop with.
pub(super) const STOP_SIGNALS: &[&str] = &["TERM", "INT", "HUP", "QUIT"];

pub(super) fn default_store() -> toml::Table {
    let mut table = toml::Table::new();
    table.insert("type".into(), "spin".into());
    table.insert("path".into(), "{state_dir}/{label}.db".into());
    table
}

/// The placeholders a command may use.
pub(super) const PLACEHOLDERS: &[&str] = &[
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
    pub(super) file: AdapterFile,
    /// The adapter file's directory, absolute.
    pub(super) dir: PathBuf,
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

    pub(super) fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.file.request_timeout)
    }

    /// How many trials a run of `cases` on `interfaces` has.
    pub fn trials(&self, cases: &[Case], interfaces: &[Interface]) -> usize {
        let selection = crate::suite::Selection::cases_on(interfaces);
        crate::suite::trials(&self.name, &self.profile, cases, &selection).len()
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
