//! The reference host (`kvhost`) as a [`HostUnderTest`]: the first user of the plug.
//!
//! Two ways in: the reference host's own backends (in-memory, SQLite), configured through a runtime config
//! in Spin's format exactly as a user would write one; or any [`StoreManager`] of the user's, served by the
//! reference host's bindings ([`ReferenceHost::with_backend`]), which enforces the profile's limits itself or
//! leaves them to the reference host ([`ReferenceHost::with_profile_limits`]). The self-test's faulty backends come
//! in the second way, like a user's would.

use crate::host::{AppSpec, HostUnderTest};
use crate::interface::Interface;
use crate::profile::{InvalidHandle, Limits, Profile, UnconfiguredLabel, WasiPaging};
use anyhow::{Context, bail};
use kvhost::{Application, HostConfig, KeyValueState, StoreManager};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use wasmtime::component::Linker;

/// The reference host's built-in backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// In-memory maps.
    Memory,
    /// SQLite files in the case's directory (the embedded default, like Spin's).
    Sqlite,
}

impl Backend {
    /// Every backend of the reference host.
    pub const ALL: [Backend; 2] = [Backend::Memory, Backend::Sqlite];

    /// The name used in trial names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Sqlite => "sqlite",
        }
    }

    /// Whether its stores keep their data across a restart of the host (PERSIST-RESTART): SQLite's do, memory's
    /// do not.
    pub fn is_durable(self) -> bool {
        self == Backend::Sqlite
    }

    /// Parses a name as [`Backend::name`] gives it.
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// Makes the store manager of a user's backend for one application.
pub type ManagerFactory =
    Arc<dyn Fn(&AppSpec<'_>) -> anyhow::Result<Arc<dyn StoreManager>> + Send + Sync>;

#[derive(Clone)]
enum Source {
    Builtin(Backend),
    /// A user's backend, and whether the reference host puts its stores behind the profile's limits.
    Custom {
        factory: ManagerFactory,
        limited: bool,
    },
}

/// The reference host, serving one backend under one profile.
#[derive(Clone)]
pub struct ReferenceHost {
    name: String,
    source: Source,
    profile: Profile,
}

/// The reference host's bound on stores open at once in one instance, in its default profile.
pub const REFERENCE_OPEN_STORES: u64 = 64;

impl ReferenceHost {
    /// The profile the reference host runs with by default: SIP 010's figures as hard limits (256-byte keys,
    /// 1 MiB values, 1024 tuples, refused past them), a bound of 64 open stores, and undefined labels refused
    /// at load as Spin does. Every ALLOWED refusal path is exercised under it. Like Spin, it accepts the empty
    /// key (KEY-EMPTY) and never reuses a closed v1 handle number (HANDLE-REUSE).
    pub fn sip010_profile() -> Profile {
        Profile {
            name: "sip010".into(),
            interfaces: Interface::RUNNABLE.to_vec(),
            limits: Limits {
                key_bytes: Some(crate::profile::SPEC_KEY_BYTES),
                value_bytes: Some(crate::profile::SPEC_VALUE_BYTES),
                tuples: Some(crate::profile::SPEC_TUPLES),
            },
            open_stores: Some(REFERENCE_OPEN_STORES),
            unconfigured_label: UnconfiguredLabel::RefuseLoad,
            v1_invalid_handle: InvalidHandle::Error,
            empty_key: true,
            v1_fresh_handles: true,
            durable: false,
            wasi_paging: Some(WasiPaging::Pages),
            wasi_page_keys: Some(kvhost::DEFAULT_WASI_PAGE_SIZE.get() as u64),
        }
    }

    /// The reference host with no limits and no bound, like Spin's own defaults, so it must accept
    /// everything; it takes the other conforming answer to an undefined label (`no-such-store` at open) and to
    /// a v1 handle that is not open (a trap, as Spin does), so that between its two profiles the reference host
    /// exercises both branches of every ALLOWED choice.
    pub fn unbounded_profile() -> Profile {
        Profile {
            name: "unbounded".into(),
            limits: Limits::default(),
            open_stores: None,
            unconfigured_label: UnconfiguredLabel::NoSuchStore,
            v1_invalid_handle: InvalidHandle::Trap,
            ..Self::sip010_profile()
        }
    }

    /// The named profiles the reference host can run with.
    pub fn profile_named(name: &str) -> Option<Profile> {
        match name {
            "sip010" => Some(Self::sip010_profile()),
            "unbounded" => Some(Self::unbounded_profile()),
            _ => None,
        }
    }

    /// A profile by name (`sip010`, `unbounded`) or from a profile file (TOML of [`Profile`]), a relative path
    /// being relative to `base`.
    pub fn profile_from(name: &str, base: &std::path::Path) -> anyhow::Result<Profile> {
        if let Some(profile) = Self::profile_named(name) {
            return Ok(profile);
        }
        let path = base.join(name);
        if !path.is_file() {
            bail!(
                "unknown profile {name:?}: use sip010 or unbounded, or the path of a profile file"
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the profile file {}", path.display()))?;
        let profile: Profile = toml::from_str(&text).with_context(|| {
            format!("the profile file {} is not a valid profile", path.display())
        })?;
        if let Err(problem) = profile.check() {
            bail!("the profile file {}: {problem}", path.display());
        }
        Ok(profile)
    }

    /// The reference host on one of its own backends. Whether its stores survive a restart is the backend's
    /// (SQLite's do, memory's do not), whatever `profile` says.
    pub fn new(backend: Backend, profile: Profile) -> Self {
        ReferenceHost {
            name: backend.name().to_string(),
            source: Source::Builtin(backend),
            profile: Profile {
                durable: backend.is_durable(),
                ..profile
            },
        }
    }

    /// The reference host's bindings serving a user's backend: `factory` makes the store manager of each
    /// application. The backend enforces its own limits (or, with [`ReferenceHost::with_profile_limits`], the
    /// reference host does); `profile` says what it claims.
    pub fn with_backend(name: &str, profile: Profile, factory: ManagerFactory) -> Self {
        ReferenceHost {
            name: name.to_string(),
            source: Source::Custom {
                factory,
                limited: false,
            },
            profile,
        }
    }

    /// This host with the user's backend ([`ReferenceHost::with_backend`]) behind the profile's limits, as the
    /// reference host's own backends are: every store the backend serves is wrapped in kvhost's
    /// [`LimitedStore`](kvhost::limits::LimitedStore) ([`kvhost::limits::LimitedStores`]), which refuses with
    /// `other`, before the backend sees it, a write past the profile's key, value or tuple limit ([LIMIT-BEYOND]).
    /// So a backend with no limits of its own is checked under a profile that declares some, SIP 010's for one:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use kvconf::reference::ReferenceHost;
    ///
    /// let host = ReferenceHost::with_backend(
    ///     "memory-under-sip010",
    ///     ReferenceHost::sip010_profile(),
    ///     Arc::new(|_app| Ok(Arc::new(kvhost::memory::MemoryStores::new()))),
    /// )
    /// .with_profile_limits();
    /// # let _ = host;
    /// ```
    ///
    /// Without it the backend must enforce the limits its profile declares itself. On one of the reference
    /// host's own backends ([`ReferenceHost::new`]) it changes nothing: those always enforce the profile's limits.
    pub fn with_profile_limits(mut self) -> Self {
        if let Source::Custom { limited, .. } = &mut self.source {
            *limited = true;
        }
        self
    }

    /// The same host under another name (trial names use it), for running one backend under two profiles.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// What this host configures kvhost with, derived from its profile ([`HostSettings::from_profile`]).
    pub fn settings(&self) -> HostSettings {
        HostSettings::from_profile(&self.profile)
    }
}

/// What the reference host derives from a profile to behave as it claims: the limits and the answer to an
/// undefined label, for each application it loads, and the open-store bound, the v1 handle policy and the wasi
/// page size, for each instance's [`KeyValueState`].
///
/// A whole host (one implementing [`HostUnderTest`] itself rather than using [`ReferenceHost`]) claiming a profile
/// needs the same; one built on kvhost's bindings gets it in a few calls, as the reference host does with a user's
/// backend:
///
/// ```
/// use std::sync::Arc;
/// use kvconf::reference::{HostSettings, ReferenceHost};
///
/// let settings = HostSettings::from_profile(&ReferenceHost::sip010_profile());
/// assert_eq!(settings.max_open_stores, Some(64));
/// // In HostUnderTest::load: the stores behind the limits, and an undefined label refused as the profile says.
/// let grants = [("app".to_string(), vec!["default".to_string()])].into();
/// let manager = settings.limited(Arc::new(kvhost::memory::MemoryStores::new()));
/// settings.check_grants(&grants, manager.as_ref())?;
/// // In HostUnderTest::instance_data: an instance's state, granted its labels.
/// let mut state = settings.instance_state(manager, grants["app"].clone());
/// let handle = state.open("default")?;
/// assert!(state.store(handle).unwrap().set(&"k".repeat(257), b"past the key limit").is_err());
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSettings {
    /// The profile's `[limits]` as kvhost enforces them ([`kvhost_limits`]): past them a write is refused with
    /// `other` (LIMIT-BEYOND).
    pub limits: kvhost::Limits,
    /// The most stores one instance has open at once, past which `open` fails with `store-table-full`
    /// (OPEN-TABLE-FULL): the profile's `open-stores`; `None`, no bound.
    pub max_open_stores: Option<u32>,
    /// What a granted label that no runtime config defines does (OPEN-UNCONFIGURED): the application is refused
    /// at load, or `open` answers `no-such-store`. The profile's `unconfigured-label`.
    pub undefined_labels: kvhost::UndefinedLabels,
    /// How v1 answers a handle that is not open (HANDLE-V1-INVALID): `invalid-store` or a trap. The profile's
    /// `v1-invalid-handle`.
    pub v1_invalid_handle: kvhost::v1::V1InvalidHandle,
    /// Whether `open` gives the lowest closed handle number again (HANDLE-REUSE): when the profile does not claim
    /// `v1-fresh-handles`, the reference host takes that other conforming answer, so that the rest of the suite is
    /// seen to hold whichever a host chooses.
    pub reuse_handles: bool,
    /// The most keys of a wasi `list-keys` page (KEYS-WASI-CURSOR): the profile's `wasi-page-keys` under `pages`,
    /// every key under `single-page`, kvhost's default (100) without a claim.
    pub wasi_page_size: std::num::NonZeroUsize,
}

impl HostSettings {
    /// The settings a host claiming `profile` runs with.
    pub fn from_profile(profile: &Profile) -> Self {
        let wasi_page_size = match (profile.wasi_paging, profile.wasi_page_keys) {
            (Some(WasiPaging::SinglePage), _) => std::num::NonZeroUsize::MAX,
            (Some(WasiPaging::Pages), Some(n)) => usize::try_from(n)
                .ok()
                .and_then(std::num::NonZeroUsize::new)
                .unwrap_or(kvhost::DEFAULT_WASI_PAGE_SIZE),
            _ => kvhost::DEFAULT_WASI_PAGE_SIZE,
        };
        HostSettings {
            limits: kvhost_limits(profile),
            max_open_stores: profile
                .open_stores
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            undefined_labels: match profile.unconfigured_label {
                UnconfiguredLabel::RefuseLoad => kvhost::UndefinedLabels::RefuseLoad,
                UnconfiguredLabel::NoSuchStore => kvhost::UndefinedLabels::NoSuchStore,
            },
            v1_invalid_handle: match profile.v1_invalid_handle {
                InvalidHandle::Error => kvhost::v1::V1InvalidHandle::Error,
                InvalidHandle::Trap => kvhost::v1::V1InvalidHandle::Trap,
            },
            reuse_handles: !profile.v1_fresh_handles,
            wasi_page_size,
        }
    }

    /// The state of one instance granted `grants`, opening `manager`'s stores, under these settings' open-store
    /// bound, v1 handle policy and wasi page size.
    pub fn instance_state(
        &self,
        manager: Arc<dyn StoreManager>,
        grants: impl IntoIterator<Item = String>,
    ) -> KeyValueState {
        KeyValueState::new(manager, grants, self.max_open_stores)
            .with_v1_invalid_handle(self.v1_invalid_handle)
            .with_wasi_page_size(self.wasi_page_size)
            .with_handle_reuse(self.reuse_handles)
    }

    /// `manager`'s stores behind these settings' limits ([`kvhost::limits::LimitedStores`]; `manager` itself when
    /// there are none).
    pub fn limited(&self, manager: Arc<dyn StoreManager>) -> Arc<dyn StoreManager> {
        if self.limits.is_none() {
            manager
        } else {
            Arc::new(kvhost::limits::LimitedStores::new(manager, self.limits))
        }
    }

    /// Refuses an application as these settings say (OPEN-UNCONFIGURED): under
    /// [`kvhost::UndefinedLabels::RefuseLoad`], the first label in component order that a component is granted
    /// and `manager` does not define, naming label and component as Spin does; otherwise nothing.
    ///
    /// # Errors
    ///
    /// The refusal.
    pub fn check_grants(
        &self,
        grants: &BTreeMap<String, Vec<String>>,
        manager: &dyn StoreManager,
    ) -> anyhow::Result<()> {
        if self.undefined_labels == kvhost::UndefinedLabels::NoSuchStore {
            return Ok(());
        }
        for (component, labels) in grants {
            if let Some(label) = labels.iter().find(|l| !manager.is_defined(l)) {
                bail!("unknown key_value_stores label {label:?} for component {component:?}");
            }
        }
        Ok(())
    }

    /// Configures kvhost's own backends (`config`) with these settings, as [`ReferenceHost::new`] does.
    pub fn configure(&self, config: &mut HostConfig) {
        config.limits = self.limits;
        config.max_open_stores = self.max_open_stores;
        config.undefined_labels = self.undefined_labels;
        config.v1_invalid_handle = self.v1_invalid_handle;
        config.reuse_handles = self.reuse_handles;
        config.wasi_page_size = self.wasi_page_size;
    }
}

/// A loaded application of the reference host.
pub enum ReferenceApp {
    /// On a built-in backend.
    Builtin(Application),
    /// On a user's backend.
    Custom {
        /// The user's store manager.
        manager: Arc<dyn StoreManager>,
        /// Component -> granted labels.
        grants: BTreeMap<String, Vec<String>>,
    },
}

impl HostUnderTest for ReferenceHost {
    type Data = KeyValueState;
    type App = ReferenceApp;

    fn backend(&self) -> &str {
        &self.name
    }

    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn add_to_linker<T: Send + 'static>(
        &self,
        interface: Interface,
        linker: &mut Linker<T>,
        get: fn(&mut T) -> &mut KeyValueState,
    ) -> anyhow::Result<()> {
        add_kvhost_to_linker(interface, linker, get)
    }

    fn load(&self, app: &AppSpec<'_>) -> anyhow::Result<ReferenceApp> {
        match &self.source {
            Source::Builtin(backend) => {
                let mut config = match backend {
                    Backend::Memory => HostConfig::memory(),
                    Backend::Sqlite => HostConfig::sqlite(app.dir.join(".spin")),
                };
                config.base_dir = app.dir.to_path_buf();
                self.settings().configure(&mut config);
                if !app.labels.is_empty() {
                    let text = runtime_config(*backend, app.labels);
                    config.runtime_config = Some(
                        kvhost::config::RuntimeConfig::parse(&text)
                            .with_context(|| format!("the generated runtime config:\n{text}"))?,
                    );
                }
                Ok(ReferenceApp::Builtin(Application::load(
                    config,
                    app.grants.clone(),
                )?))
            }
            Source::Custom { factory, limited } => {
                let settings = self.settings();
                let mut manager = factory(app)?;
                if *limited {
                    manager = settings.limited(manager);
                }
                settings.check_grants(app.grants, manager.as_ref())?;
                Ok(ReferenceApp::Custom {
                    manager,
                    grants: app.grants.clone(),
                })
            }
        }
    }

    fn instance_data(&self, app: &ReferenceApp, component: &str) -> anyhow::Result<KeyValueState> {
        match app {
            ReferenceApp::Builtin(app) => Ok(app.instance_state(component)?),
            ReferenceApp::Custom { manager, grants } => {
                let granted = grants
                    .get(component)
                    .with_context(|| format!("the application has no component {component:?}"))?;
                Ok(self
                    .settings()
                    .instance_state(manager.clone(), granted.clone()))
            }
        }
    }
}

/// Adds kvhost's binding of `interface` to `linker`: what a host built on kvhost's bindings (the reference
/// host, or one serving its own [`KeyValueState`]) gives [`HostUnderTest::add_to_linker`].
///
/// # Errors
///
/// When the linker already defines the interface's functions.
pub fn add_kvhost_to_linker<T: Send + 'static>(
    interface: Interface,
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut KeyValueState,
) -> anyhow::Result<()> {
    kvhost::add_version_to_linker(interface.wit_name(), linker, get)?;
    Ok(())
}

/// A profile's declared limits as kvhost's [`LimitedStore`](kvhost::limits::LimitedStore) enforces them.
pub fn kvhost_limits(profile: &Profile) -> kvhost::limits::Limits {
    let size = |n: Option<u64>| n.map(|n| n as usize);
    kvhost::limits::Limits {
        max_key_bytes: size(profile.limits.key_bytes),
        max_value_bytes: size(profile.limits.value_bytes),
        max_tuples: size(profile.limits.tuples),
    }
}

/// The runtime config, in Spin's format, that defines `labels` on `backend`. With SQLite every label shares
/// one database file, so the labels' isolation inside one file is exercised too.
fn runtime_config(backend: Backend, labels: &[String]) -> String {
    let mut text = String::new();
    for label in labels {
        let _ = writeln!(text, "[key_value_store.{}]", toml_key(label));
        match backend {
            Backend::Memory => {
                let _ = writeln!(text, "type = \"memory\"\n");
            }
            Backend::Sqlite => {
                let _ = writeln!(text, "type = \"spin\"\npath = \"labels.db\"\n");
            }
        }
    }
    text
}

fn toml_key(label: &str) -> String {
    if !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        label.to_string()
    } else {
        format!("{label:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The state of an instance of component "c", granted "default", of `host`.
    fn instance(host: &ReferenceHost) -> KeyValueState {
        let grants = BTreeMap::from([("c".to_string(), vec!["default".to_string()])]);
        let spec = AppSpec {
            grants: &grants,
            labels: &[],
            dir: Path::new("."),
        };
        let app = host.load(&spec).unwrap();
        host.instance_data(&app, "c").unwrap()
    }

    fn memory_backend(profile: Profile) -> ReferenceHost {
        ReferenceHost::with_backend(
            "memory",
            profile,
            Arc::new(|_: &AppSpec<'_>| Ok(Arc::new(kvhost::memory::MemoryStores::new()))),
        )
    }

    #[test]
    fn with_profile_limits_puts_a_users_backend_behind_the_profiles_limits() {
        let long_key = "k".repeat(257);
        for (host, refused) in [
            (memory_backend(ReferenceHost::sip010_profile()), false),
            (
                memory_backend(ReferenceHost::sip010_profile()).with_profile_limits(),
                true,
            ),
            (
                memory_backend(ReferenceHost::unbounded_profile()).with_profile_limits(),
                false,
            ),
        ] {
            let mut state = instance(&host);
            let handle = state.open("default").unwrap();
            let store = state.store(handle).unwrap();
            assert_eq!(
                store.set(&long_key, b"v").is_err(),
                refused,
                "{}",
                host.profile().name
            );
            store.set(&"k".repeat(256), b"v").unwrap();
        }
    }

    #[test]
    fn host_settings_follow_the_profiles_claims() {
        let sip010 = HostSettings::from_profile(&ReferenceHost::sip010_profile());
        assert_eq!(
            sip010,
            HostSettings {
                limits: kvhost::Limits::sip010(),
                max_open_stores: Some(64),
                undefined_labels: kvhost::UndefinedLabels::RefuseLoad,
                v1_invalid_handle: kvhost::v1::V1InvalidHandle::Error,
                reuse_handles: false,
                wasi_page_size: kvhost::DEFAULT_WASI_PAGE_SIZE,
            }
        );
        let unbounded = ReferenceHost::unbounded_profile();
        let settings = HostSettings::from_profile(&Profile {
            v1_fresh_handles: false,
            wasi_paging: Some(WasiPaging::SinglePage),
            ..unbounded.clone()
        });
        assert!(settings.limits.is_none());
        assert_eq!(settings.max_open_stores, None);
        assert_eq!(
            settings.undefined_labels,
            kvhost::UndefinedLabels::NoSuchStore
        );
        assert_eq!(
            settings.v1_invalid_handle,
            kvhost::v1::V1InvalidHandle::Trap
        );
        assert!(settings.reuse_handles);
        assert_eq!(settings.wasi_page_size, std::num::NonZeroUsize::MAX);
        let paged = HostSettings::from_profile(&Profile {
            wasi_page_keys: Some(7),
            ..unbounded
        });
        assert_eq!(paged.wasi_page_size.get(), 7);
    }

    #[test]
    fn host_settings_refuse_an_undefined_label_only_when_the_profile_refuses_at_load() {
        struct Defines(&'static str);
        impl StoreManager for Defines {
            fn get(&self, _: &str) -> Result<Arc<dyn kvhost::Store>, kvhost::Error> {
                Err(kvhost::Error::NoSuchStore)
            }
            fn is_defined(&self, label: &str) -> bool {
                label == self.0
            }
        }
        let grants = BTreeMap::from([(
            "app".to_string(),
            vec!["default".to_string(), "cache".to_string()],
        )]);
        let refusing = HostSettings::from_profile(&ReferenceHost::sip010_profile());
        let error = refusing
            .check_grants(&grants, &Defines("default"))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown key_value_stores label \"cache\" for component \"app\""
        );
        HostSettings::from_profile(&ReferenceHost::unbounded_profile())
            .check_grants(&grants, &Defines("default"))
            .unwrap();
    }
}
