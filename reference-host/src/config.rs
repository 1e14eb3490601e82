//! The runtime config: which backend serves each store label, in Spin's runtime-config format.
//!
//! ```toml
//! [key_value_store.default]     # replaces the backend of "default"
//! type = "memory"
//!
//! [key_value_store.cache]
//! type = "spin"                 # SQLite, as in Spin
//! path = "data/cache.db"        # optional; relative to the caller's base directory
//! ```
//!
//! Two types are known:
//! - `type = "spin"`: Spin's SQLite backend. `path` names the database file; a relative path resolves against the
//!   base directory the caller gives ([`StoreConfig::database_path`]). Without `path` the store is kept in
//!   memory for the life of the loaded application, as Spin keeps it (an in-memory SQLite database:
//!   `crates/key-value-spin/src/lib.rs`, `DatabaseLocation::InMemory` when the config has no `path`).
//! - `type = "memory"`: kvhost's own addition, not a Spin type: an in-memory store that lives as long as the loaded
//!   application.
//!
//! Spin's other types (`redis`, `azure_cosmos`, `aws_dynamo`) are not implemented and are refused like any unknown
//! type. An unknown key inside a `[key_value_store.<label>]` table is refused too, so a misspelt `path` cannot
//! silently leave a store in memory. The top-level `state_dir = "..."` is read as Spin reads it: the state
//! directory (where "default" is, `sqlite_key_value.db`) when the command line gives none, `""` meaning none
//! (so "default" is in memory) ([`RuntimeConfig::state_dir`]). Other top-level keys and tables
//! (`[sqlite_database.*]`, `[variables_provider]`, `log_dir`, ...) configure other parts of Spin; they are
//! accepted and ignored, so a Spin runtime config file can be used unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The store types kvhost implements, as written in `type = "..."`.
pub const KNOWN_TYPES: &[&str] = &["spin", "memory"];

/// The store types Spin itself knows: the `RUNTIME_CONFIG_TYPE` of its key-value crates (`key-value-spin`,
/// `key-value-redis`, `key-value-azure`, `key-value-aws` at spinframework/spin 94a8fc8a). `memory` is kvhost's
/// own, not one of them.
pub const SPIN_TYPES: &[&str] = &["spin", "redis", "azure_cosmos", "aws_dynamo"];

/// The key-value part of a runtime config: the stores it defines, by label.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeConfig {
    /// Each `[key_value_store.<label>]` table.
    pub stores: BTreeMap<String, StoreConfig>,
    /// The top-level `state_dir`, as written (`Some("")` for `state_dir = ""`): the state directory when the
    /// command line gives none, as Spin's runtime config has it. Empty means none: "default" is then in memory.
    /// A relative path is relative to the working directory, as in Spin.
    pub state_dir: Option<PathBuf>,
}

/// How one labelled store is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `type = "spin"`: SQLite, in the file `path` as written in the config (not yet resolved), or in memory when
    /// `path` is absent (as Spin keeps it: an in-memory database for the life of the application).
    Spin {
        /// The `path` key, as written.
        path: Option<PathBuf>,
    },
    /// `type = "memory"` (kvhost's own, not Spin's): in memory, for the life of the loaded application.
    Memory,
}

impl StoreConfig {
    /// The `type` this store was configured with.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Spin { .. } => "spin",
            Self::Memory => "memory",
        }
    }

    /// The database file of a `spin` store with a `path`, resolved against `base_dir` when relative; `None` when
    /// the store has no file (a `spin` store without `path`, or a `memory` store: both are in memory).
    pub fn database_path(&self, base_dir: &Path) -> Option<PathBuf> {
        match self {
            Self::Spin { path: Some(path) } => Some(base_dir.join(path)),
            Self::Spin { path: None } | Self::Memory => None,
        }
    }
}

/// Why a runtime config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The runtime config file could not be read.
    #[error("could not read the runtime config file {path}: {source}; check the path given")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A runtime config file was read but its contents were refused.
    #[error("in the runtime config file {path}: {source}")]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        source: Box<ConfigError>,
    },
    /// The text is not TOML, or `key_value_store` is not a table of tables.
    #[error("the runtime config is not valid: {0}")]
    Toml(toml::de::Error),
    /// A store table has no `type`.
    #[error(
        "[key_value_store.{label}] has no `type`; add one of {}",
        quoted_list(KNOWN_TYPES)
    )]
    MissingType {
        /// The store label.
        label: String,
    },
    /// A store table's `type` is not one kvhost implements.
    #[error(
        "unknown key-value store type \"{kind}\" for [key_value_store.{label}]; kvhost knows the types {}",
        quoted_list(KNOWN_TYPES)
    )]
    UnknownType {
        /// The store label.
        label: String,
        /// The type as written.
        kind: String,
    },
    /// A store table has a key its type does not take.
    #[error(
        "unknown key `{key}` in [key_value_store.{label}] (type \"{kind}\"); this type takes only {}",
        quoted_list(allowed)
    )]
    UnknownKey {
        /// The store label.
        label: String,
        /// The store type.
        kind: &'static str,
        /// The key that is not allowed.
        key: String,
        /// The keys this type allows.
        allowed: &'static [&'static str],
    },
    /// A store table has a known key with a value of the wrong type (say, a number for `path`).
    #[error("[key_value_store.{label}] is not valid: {source}")]
    InvalidStore {
        /// The store label.
        label: String,
        /// What TOML deserialisation said.
        source: toml::de::Error,
    },
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The whole file as serde sees it: only `key_value_store` and `state_dir` are read; other top-level keys and
/// tables are ignored.
#[derive(Deserialize)]
struct RawRuntimeConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, toml::Table>,
    state_dir: Option<PathBuf>,
}

/// The fields of a `type = "spin"` table (unknown keys are refused before this is deserialised).
#[derive(Deserialize)]
struct SpinTable {
    path: Option<PathBuf>,
}

const SPIN_KEYS: &[&str] = &["type", "path"];
const MEMORY_KEYS: &[&str] = &["type"];

impl RuntimeConfig {
    /// Parses runtime-config text.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the label and what is wrong with its table.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawRuntimeConfig = toml::from_str(text).map_err(ConfigError::Toml)?;
        let stores = raw
            .key_value_store
            .into_iter()
            .map(|(label, table)| {
                let store = parse_store(&label, table)?;
                Ok((label, store))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Self {
            stores,
            state_dir: raw.state_dir,
        })
    }

    /// The stores a runtime config declares, by label, each with its `type` as written (`None` when the table
    /// has none), read as [`RuntimeConfig::parse`] reads them but without judging the types or their keys: what a
    /// Spin runtime config file declares, for a check of an application kvhost is not going to serve.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Toml`] when the text is not TOML or `key_value_store` is not a table of tables.
    pub fn declared(text: &str) -> Result<BTreeMap<String, Option<String>>, ConfigError> {
        let raw: RawRuntimeConfig = toml::from_str(text).map_err(ConfigError::Toml)?;
        Ok(raw
            .key_value_store
            .into_iter()
            .map(|(label, table)| {
                let kind = table.get("type").map(|kind| match kind {
                    toml::Value::String(kind) => kind.clone(),
                    other => other.to_string(),
                });
                (label, kind)
            })
            .collect())
    }

    /// Reads and parses a runtime config file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] when the file cannot be read, [`ConfigError::InFile`] when its contents are refused.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ConfigError::InFile {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// The configuration of `label`, if this runtime config defines it.
    pub fn store(&self, label: &str) -> Option<&StoreConfig> {
        self.stores.get(label)
    }

    /// Whether this runtime config defines `label`.
    pub fn defines(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }
}

impl std::str::FromStr for RuntimeConfig {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text)
    }
}

fn parse_store(label: &str, table: toml::Table) -> Result<StoreConfig, ConfigError> {
    let kind = match table.get("type") {
        None => {
            return Err(ConfigError::MissingType {
                label: label.to_owned(),
            });
        }
        Some(toml::Value::String(kind)) => kind.as_str(),
        Some(other) => {
            return Err(ConfigError::UnknownType {
                label: label.to_owned(),
                kind: other.to_string(),
            });
        }
    };
    match kind {
        "spin" => {
            check_keys(label, "spin", &table, SPIN_KEYS)?;
            let mut fields = table;
            fields.remove("type");
            let spin = SpinTable::deserialize(toml::Value::Table(fields)).map_err(|source| {
                ConfigError::InvalidStore {
                    label: label.to_owned(),
                    source,
                }
            })?;
            Ok(StoreConfig::Spin { path: spin.path })
        }
        "memory" => {
            check_keys(label, "memory", &table, MEMORY_KEYS)?;
            Ok(StoreConfig::Memory)
        }
        unknown => Err(ConfigError::UnknownType {
            label: label.to_owned(),
            kind: unknown.to_owned(),
        }),
    }
}

fn check_keys(
    label: &str,
    kind: &'static str,
    table: &toml::Table,
    allowed: &'static [&'static str],
) -> Result<(), ConfigError> {
    match table.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(ConfigError::UnknownKey {
            label: label.to_owned(),
            kind,
            key: key.clone(),
            allowed,
        }),
        None => Ok(()),
    }
}
