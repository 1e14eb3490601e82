//! The runtime config: Spin's `[key_value_store.<label>]` tables, types `spin` and `memory`, and clear refusals.

use std::path::{Path, PathBuf};

use kvhost::RuntimeConfig;
use kvhost::config::{ConfigError, StoreConfig};

#[test]
fn spin_and_memory_stores_are_read_with_their_paths() {
    let config = RuntimeConfig::parse(
        r#"
        [key_value_store.default]
        type = "memory"

        [key_value_store.cache]
        type = "spin"
        path = "data/cache.db"

        [key_value_store.plain]
        type = "spin"
        "#,
    )
    .unwrap();
    assert_eq!(config.store("default"), Some(&StoreConfig::Memory));
    assert_eq!(
        config.store("cache"),
        Some(&StoreConfig::Spin {
            path: Some(PathBuf::from("data/cache.db"))
        })
    );
    assert_eq!(
        config.store("plain"),
        Some(&StoreConfig::Spin { path: None })
    );
    assert!(config.defines("cache"));
    assert!(!config.defines("other"));
}

#[test]
fn an_empty_config_defines_no_stores() {
    assert_eq!(RuntimeConfig::parse("").unwrap(), RuntimeConfig::default());
}

#[test]
fn other_top_level_tables_of_a_spin_runtime_config_are_ignored() {
    let config = RuntimeConfig::parse(
        r#"
        [sqlite_database.default]
        type = "spin"
        path = "sqlite.db"

        [[variables_provider]]
        type = "env"

        [key_value_store.cache]
        type = "memory"
        "#,
    )
    .unwrap();
    assert_eq!(config.stores.len(), 1);
}

#[test]
fn an_unknown_type_is_refused_naming_the_label_the_type_and_the_known_types() {
    let error = RuntimeConfig::parse(
        r#"
        [key_value_store.cache]
        type = "redis"
        url = "redis://localhost"
        "#,
    )
    .unwrap_err();
    assert!(
        matches!(&error, ConfigError::UnknownType { label, kind } if label == "cache" && kind == "redis"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "unknown key-value store type \"redis\" for [key_value_store.cache]; kvhost knows the types `spin`, `memory`"
    );
}

#[test]
fn a_store_without_a_type_is_refused() {
    let error = RuntimeConfig::parse("[key_value_store.cache]\npath = \"x.db\"\n").unwrap_err();
    assert!(
        matches!(&error, ConfigError::MissingType { label } if label == "cache"),
        "{error:?}"
    );
    assert!(error.to_string().contains("`spin`, `memory`"), "{error}");
}

#[test]
fn an_unknown_key_in_a_store_table_is_refused_with_the_keys_it_takes() {
    let error = RuntimeConfig::parse(
        r#"
        [key_value_store.cache]
        type = "spin"
        paht = "cache.db"
        "#,
    )
    .unwrap_err();
    assert!(
        matches!(&error, ConfigError::UnknownKey { label, key, .. } if label == "cache" && key == "paht"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "unknown key `paht` in [key_value_store.cache] (type \"spin\"); this type takes only `type`, `path`"
    );
}

#[test]
fn a_memory_store_takes_no_path() {
    let error = RuntimeConfig::parse("[key_value_store.m]\ntype = \"memory\"\npath = \"x.db\"\n")
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::UnknownKey { key, .. } if key == "path"),
        "{error:?}"
    );
}

#[test]
fn a_path_that_is_not_a_string_is_refused_naming_the_label() {
    let error =
        RuntimeConfig::parse("[key_value_store.cache]\ntype = \"spin\"\npath = 3\n").unwrap_err();
    assert!(
        matches!(&error, ConfigError::InvalidStore { label, .. } if label == "cache"),
        "{error:?}"
    );
}

#[test]
fn text_that_is_not_toml_is_refused() {
    let error = RuntimeConfig::parse("[key_value_store.cache\n").unwrap_err();
    assert!(matches!(error, ConfigError::Toml(_)), "{error:?}");
}

#[test]
fn a_relative_path_resolves_against_the_base_directory_and_an_absolute_one_stays() {
    let config = RuntimeConfig::parse(
        r#"
        [key_value_store.relative]
        type = "spin"
        path = "data/kv.db"

        [key_value_store.absolute]
        type = "spin"
        path = "/var/lib/kv.db"
        "#,
    )
    .unwrap();
    let base = Path::new("/srv/app");
    assert_eq!(
        config.store("relative").unwrap().database_path(base),
        Some(PathBuf::from("/srv/app/data/kv.db"))
    );
    assert_eq!(
        config.store("absolute").unwrap().database_path(base),
        Some(PathBuf::from("/var/lib/kv.db"))
    );
    assert_eq!(StoreConfig::Spin { path: None }.database_path(base), None);
    assert_eq!(StoreConfig::Memory.database_path(base), None);
}

#[test]
fn a_config_file_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runtime-config.toml");
    std::fs::write(&path, "[key_value_store.cache]\ntype = \"azure_cosmos\"\n").unwrap();
    let error = RuntimeConfig::from_file(&path).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("runtime-config.toml"), "{message}");
    assert!(message.contains("azure_cosmos"), "{message}");

    let missing = RuntimeConfig::from_file(&dir.path().join("absent.toml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }), "{missing:?}");
}

/// Spin's top-level `state_dir` is read (as written; `""` is kept, meaning none), and absent by default.
#[test]
fn the_top_level_state_dir_is_read() {
    let config = RuntimeConfig::parse("state_dir = \"data/state\"\n").unwrap();
    assert_eq!(config.state_dir, Some(PathBuf::from("data/state")));
    let config = RuntimeConfig::parse("state_dir = \"\"\n").unwrap();
    assert_eq!(config.state_dir, Some(PathBuf::new()));
    assert_eq!(RuntimeConfig::parse("").unwrap().state_dir, None);
}
