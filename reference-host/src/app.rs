//! A loaded application: every store its components may use, resolved once, as Spin does at `spin up`.
//!
//! [`Application::load`] checks every grant against the runtime config, opens the backends the grants need (each
//! SQLite file once, one set of in-memory maps), and wraps every store in the configured [`Limits`]. After that,
//! [`Application::instance_state`] gives each component instance its own [`KeyValueState`] onto the shared stores,
//! so what one instance writes the next one reads ([PERSIST-INSTANCES]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::backend::{Error, Store, StoreManager};
use crate::config::{RuntimeConfig, StoreConfig};
use crate::limits::{LimitedStore, Limits};
use crate::memory::MemoryStores;
use crate::sqlite::{self, SqliteStores};

pub use crate::state::{DEFAULT_WASI_PAGE_SIZE, KeyValueState};
pub use crate::v2::add_to_linker;

/// The label every component may be granted without any runtime config ([OPEN-DEFAULT]).
pub const DEFAULT_LABEL: &str = "default";

/// What serves the "default" store (unless the runtime config defines it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultBackend {
    /// In memory, for the life of the [`Application`].
    Memory,
    /// The SQLite file `<dir>/sqlite_key_value.db`, like Spin's `.spin/sqlite_key_value.db`; the directory is
    /// created if needed. A relative `dir` is relative to the process's working directory.
    Sqlite {
        /// The state directory.
        dir: PathBuf,
    },
}

/// Everything the host is configured with, apart from the components' grants.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// What serves "default" (unless the runtime config defines it).
    pub default_backend: DefaultBackend,
    /// The runtime config, if any: the labels it defines and their backends.
    pub runtime_config: Option<RuntimeConfig>,
    /// What a relative `path` in the runtime config is relative to (the runtime config file's directory, for the
    /// `kvhost` binary).
    pub base_dir: PathBuf,
    /// The limits every store enforces ([LIMIT-BEYOND]).
    pub limits: Limits,
    /// The most store handles one instance may have open at once; `None` is no bound ([OPEN-TABLE-FULL]).
    pub max_open_stores: Option<u32>,
    /// What a granted label that no runtime config defines does ([OPEN-UNCONFIGURED]).
    pub undefined_labels: UndefinedLabels,
    /// The most keys in one page of a wasi:keyvalue `list-keys` answer ([KEYS-WASI-CURSOR]); the default is
    /// [`DEFAULT_WASI_PAGE_SIZE`], 100. A listing of more keys than this is paged with cursors (see
    /// [`crate::wasi_keyvalue`]).
    pub wasi_page_size: NonZeroUsize,
    /// How v1 answers a handle that is not open ([HANDLE-V1-INVALID]): `invalid-store` (the default) or a trap.
    pub v1_invalid_handle: crate::v1::V1InvalidHandle,
    /// Whether `open` gives the lowest handle number not open, so a closed v1 number comes back (see
    /// [`KeyValueState::with_handle_reuse`]); by default numbers are never reused, as in Spin ([HANDLE-REUSE]).
    pub reuse_handles: bool,
}

/// The two conforming answers to a granted label that no runtime config defines ([OPEN-UNCONFIGURED]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UndefinedLabels {
    /// Refuse to load the application, naming the label: what Spin does.
    #[default]
    RefuseLoad,
    /// Load it; `open` of that label fails with `no-such-store`.
    NoSuchStore,
}

impl HostConfig {
    /// In-memory "default", no runtime config, no limits, no bound on open handles, and the working directory as
    /// base directory: the quickest host for tests.
    pub fn memory() -> Self {
        Self {
            default_backend: DefaultBackend::Memory,
            runtime_config: None,
            base_dir: PathBuf::from("."),
            limits: Limits::none(),
            max_open_stores: None,
            undefined_labels: UndefinedLabels::RefuseLoad,
            wasi_page_size: DEFAULT_WASI_PAGE_SIZE,
            v1_invalid_handle: crate::v1::V1InvalidHandle::Error,
            reuse_handles: false,
        }
    }

    /// Like Spin with no runtime config: "default" is the SQLite file `<state_dir>/sqlite_key_value.db`; no
    /// limits, no bound on open handles, and relative runtime-config paths resolve against the working directory
    /// until [`HostConfig::base_dir`] is set otherwise.
    pub fn sqlite(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            default_backend: DefaultBackend::Sqlite {
                dir: state_dir.into(),
            },
            ..Self::memory()
        }
    }
}

/// Why an application could not be loaded, or an instance could not be given its state.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A component is granted a label that is neither "default" nor defined by the runtime config
    /// ([OPEN-UNCONFIGURED]: kvhost refuses to load, as Spin does, with Spin's wording).
    #[error(
        "unknown key_value_stores label \"{label}\" for component \"{component}\"; define it under \
         [key_value_store.{label}] in the runtime config, or remove it from the component's key_value_stores"
    )]
    UnknownLabel {
        /// The label.
        label: String,
        /// The component granted it.
        component: String,
    },
    /// [`Application::instance_state`] was asked for a component the application was not loaded with.
    #[error(
        "unknown component \"{component}\"; this application was loaded with the components {known:?}: \
         pass its key_value_stores to Application::load"
    )]
    UnknownComponent {
        /// The component asked for.
        component: String,
        /// The components the application has.
        known: Vec<String>,
    },
    /// The SQLite database serving a label could not be opened.
    #[error("could not open the store \"{label}\": {source}")]
    OpenDatabase {
        /// The label the database serves (the first one, when several share it).
        label: String,
        /// Why it could not be opened.
        source: sqlite::OpenError,
    },
}

/// A loaded application: the stores every component may use, resolved once (like Spin at `spin up`).
///
/// Cloning is cheap and shares the stores.
#[derive(Clone)]
pub struct Application {
    grants: BTreeMap<String, Arc<BTreeSet<String>>>,
    stores: Arc<DelegatingStoreManager>,
    max_open_stores: Option<u32>,
    wasi_page_size: NonZeroUsize,
    v1_invalid_handle: crate::v1::V1InvalidHandle,
    reuse_handles: bool,
}

impl Application {
    /// Loads an application whose components are granted the labels in `grants` (component id -> its
    /// `key_value_stores`).
    ///
    /// Every granted label must be "default" or defined by the runtime config; otherwise the application is
    /// refused ([OPEN-UNCONFIGURED]), naming the first such label in component order. The backends serving the
    /// granted labels are opened now, so a bad database path is reported here rather than at the guest's first
    /// `open`; labels no component is granted are never opened.
    ///
    /// # Errors
    ///
    /// [`LoadError::UnknownLabel`] for an undefined label, [`LoadError::OpenDatabase`] for a database that cannot
    /// be opened.
    pub fn load(
        config: HostConfig,
        grants: BTreeMap<String, Vec<String>>,
    ) -> Result<Application, LoadError> {
        let runtime_config = config.runtime_config.clone().unwrap_or_default();
        let defined = |label: &String| *label == DEFAULT_LABEL || runtime_config.defines(label);
        if config.undefined_labels == UndefinedLabels::RefuseLoad {
            for (component, labels) in &grants {
                if let Some(label) = labels.iter().find(|label| !defined(label)) {
                    return Err(LoadError::UnknownLabel {
                        label: label.clone(),
                        component: component.clone(),
                    });
                }
            }
        }

        let mut backends = Backends::new(&config);
        let mut stores = DelegatingStoreManager::new(config.limits);
        // An undefined label (possible only with `UndefinedLabels::NoSuchStore`) gets no manager, so the
        // delegating manager answers `no-such-store` for it.
        let granted: BTreeSet<&String> = grants.values().flatten().filter(|l| defined(l)).collect();
        for label in granted {
            let manager = backends.serving(label, runtime_config.store(label))?;
            stores.insert(label, manager);
        }

        Ok(Application {
            grants: grants
                .into_iter()
                .map(|(component, labels)| (component, Arc::new(labels.into_iter().collect())))
                .collect(),
            stores: Arc::new(stores),
            max_open_stores: config.max_open_stores,
            wasi_page_size: config.wasi_page_size,
            v1_invalid_handle: config.v1_invalid_handle,
            reuse_handles: config.reuse_handles,
        })
    }

    /// Per-instance state for one instance of `component`: its grants, and no handles open yet.
    ///
    /// # Errors
    ///
    /// [`LoadError::UnknownComponent`] when the application was not loaded with `component`.
    pub fn instance_state(&self, component: &str) -> Result<KeyValueState, LoadError> {
        let grants = self
            .grants
            .get(component)
            .ok_or_else(|| LoadError::UnknownComponent {
                component: component.to_owned(),
                known: self.grants.keys().cloned().collect(),
            })?;
        Ok(KeyValueState::with_shared_grants(
            Arc::clone(&self.stores) as Arc<dyn StoreManager>,
            Arc::clone(grants),
            self.max_open_stores,
        )
        .with_wasi_page_size(self.wasi_page_size)
        .with_v1_invalid_handle(self.v1_invalid_handle)
        .with_handle_reuse(self.reuse_handles))
    }

    /// The components this application was loaded with.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.grants.keys().map(String::as_str)
    }

    /// The store serving `label`, for the host's own use (seeding data, checking what a guest wrote): no grant is
    /// checked. It is the same store, limits included, that guests reach.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchStore`] when no component is granted `label`.
    pub fn store(&self, label: &str) -> Result<Arc<dyn Store>, Error> {
        self.stores.get(label)
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("grants", &self.grants)
            .field(
                "labels",
                &self.stores.delegates.keys().collect::<BTreeSet<_>>(),
            )
            .field("max_open_stores", &self.max_open_stores)
            .field("wasi_page_size", &self.wasi_page_size)
            .finish_non_exhaustive()
    }
}

/// Opens each backend once while an application loads: one [`MemoryStores`], one [`SqliteStores`] per file.
struct Backends<'a> {
    config: &'a HostConfig,
    memory: Option<Arc<MemoryStores>>,
    databases: HashMap<PathBuf, Arc<SqliteStores>>,
}

impl<'a> Backends<'a> {
    fn new(config: &'a HostConfig) -> Self {
        Self {
            config,
            memory: None,
            databases: HashMap::new(),
        }
    }

    /// The manager serving `label`, configured as `store` (`None`: not in the runtime config, so "default").
    fn serving(
        &mut self,
        label: &str,
        store: Option<&StoreConfig>,
    ) -> Result<Arc<dyn StoreManager>, LoadError> {
        if let Some(path) = store.and_then(|store| store.database_path(&self.config.base_dir)) {
            return self.database(label, &path);
        }
        match (store, &self.config.default_backend) {
            // A `spin` store without `path` is in memory, as in Spin (an in-memory SQLite database there).
            (Some(StoreConfig::Memory | StoreConfig::Spin { path: None }), _)
            | (_, DefaultBackend::Memory) => Ok(self.memory()),
            (_, DefaultBackend::Sqlite { dir }) => {
                let path = dir.join(sqlite::DEFAULT_DATABASE_FILE);
                self.database(label, &path)
            }
        }
    }

    fn memory(&mut self) -> Arc<dyn StoreManager> {
        Arc::clone(self.memory.get_or_insert_with(Default::default)) as Arc<dyn StoreManager>
    }

    fn database(&mut self, label: &str, path: &Path) -> Result<Arc<dyn StoreManager>, LoadError> {
        let open_error = |source| LoadError::OpenDatabase {
            label: label.to_owned(),
            source,
        };
        let path = sqlite::canonical_database_path(path).map_err(open_error)?;
        if let Some(database) = self.databases.get(&path) {
            return Ok(Arc::clone(database) as Arc<dyn StoreManager>);
        }
        let database = Arc::new(SqliteStores::open(&path).map_err(open_error)?);
        self.databases.insert(path, Arc::clone(&database));
        Ok(database)
    }
}

/// A [`StoreManager`] that serves each label from the manager configured for it, like Spin's
/// `DelegatingStoreManager`, and wraps every store in the application's [`Limits`].
///
/// The first `get` of a label resolves it and keeps the result, so every handle onto a label shares one
/// [`LimitedStore`] and its tuple-limit lock.
pub struct DelegatingStoreManager {
    delegates: HashMap<String, Arc<dyn StoreManager>>,
    limits: Limits,
    resolved: Mutex<HashMap<String, Arc<dyn Store>>>,
}

impl DelegatingStoreManager {
    /// A manager serving no labels yet, enforcing `limits` on every store it serves.
    pub fn new(limits: Limits) -> Self {
        Self {
            delegates: HashMap::new(),
            limits,
            resolved: Mutex::new(HashMap::new()),
        }
    }

    /// Serves `label` from `manager` (replacing any manager it had).
    pub fn insert(&mut self, label: &str, manager: Arc<dyn StoreManager>) {
        self.delegates.insert(label.to_owned(), manager);
        self.resolved
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(label);
    }
}

impl StoreManager for DelegatingStoreManager {
    fn get(&self, label: &str) -> Result<Arc<dyn Store>, Error> {
        // Resolved stores are only ever inserted whole, so a poisoned map is still consistent.
        let mut resolved = self.resolved.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = resolved.get(label) {
            return Ok(Arc::clone(store));
        }
        let manager = self.delegates.get(label).ok_or(Error::NoSuchStore)?;
        let store = manager.get(label)?;
        let store = if self.limits.is_none() {
            store
        } else {
            Arc::new(LimitedStore::new(store, self.limits)) as Arc<dyn Store>
        };
        resolved.insert(label.to_owned(), Arc::clone(&store));
        Ok(store)
    }

    fn is_defined(&self, label: &str) -> bool {
        self.delegates.contains_key(label)
    }
}
