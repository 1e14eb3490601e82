//! `Application` and `KeyValueState`: loading, grants, handles, and how labels map onto backends.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kvhost::app::DelegatingStoreManager;
use kvhost::memory::MemoryStores;
use kvhost::{
    Application, DefaultBackend, Error, HostConfig, KeyValueState, Limits, LoadError,
    RuntimeConfig, StoreManager,
};

fn grants(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    entries
        .iter()
        .map(|(component, labels)| {
            (
                (*component).to_owned(),
                labels.iter().map(|label| (*label).to_owned()).collect(),
            )
        })
        .collect()
}

fn with_runtime_config(mut config: HostConfig, text: &str) -> HostConfig {
    config.runtime_config = Some(RuntimeConfig::parse(text).unwrap());
    config
}

fn set(state: &KeyValueState, handle: u32, key: &str, value: &[u8]) {
    state.store(handle).unwrap().set(key, value).unwrap();
}

fn get(state: &KeyValueState, handle: u32, key: &str) -> Option<Vec<u8>> {
    state.store(handle).unwrap().get(key).unwrap()
}

mod loading {
    use super::*;

    #[test]
    fn an_application_can_be_shared_between_threads_and_state_moved_into_one() {
        fn shareable<T: Send + Sync>() {}
        fn movable<T: Send>() {}
        shareable::<Application>();
        shareable::<DelegatingStoreManager>();
        movable::<KeyValueState>();
    }

    #[test]
    fn a_granted_label_no_runtime_config_defines_refuses_the_load_in_spins_words() {
        let error = Application::load(
            HostConfig::memory(),
            grants(&[("web", &["default", "cache"])]),
        )
        .unwrap_err();
        assert!(
            matches!(&error, LoadError::UnknownLabel { label, component } if label == "cache" && component == "web"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "unknown key_value_stores label \"cache\" for component \"web\"; define it under \
             [key_value_store.cache] in the runtime config, or remove it from the component's key_value_stores"
        );
    }

    #[test]
    fn default_needs_no_runtime_config() {
        let app =
            Application::load(HostConfig::memory(), grants(&[("web", &["default"])])).unwrap();
        let mut state = app.instance_state("web").unwrap();
        state.open("default").unwrap();
    }

    #[test]
    fn an_unknown_component_has_no_instance_state() {
        let app =
            Application::load(HostConfig::memory(), grants(&[("web", &["default"])])).unwrap();
        let error = app.instance_state("worker").unwrap_err();
        assert!(
            matches!(&error, LoadError::UnknownComponent { component, known }
                if component == "worker" && known == &["web".to_owned()]),
            "{error:?}"
        );
    }

    #[test]
    fn a_database_that_cannot_be_opened_refuses_the_load_naming_the_label() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bad.db"),
            "not a database, just text that is long enough",
        )
        .unwrap();
        let mut config = with_runtime_config(
            HostConfig::memory(),
            "[key_value_store.cache]\ntype = \"spin\"\npath = \"bad.db\"\n",
        );
        config.base_dir = dir.path().to_path_buf();
        let error = Application::load(config, grants(&[("web", &["cache"])])).unwrap_err();
        assert!(
            matches!(&error, LoadError::OpenDatabase { label, .. } if label == "cache"),
            "{error:?}"
        );
    }
}

mod opening {
    use super::*;

    fn app(max_open_stores: Option<u32>) -> Application {
        let mut config = with_runtime_config(
            HostConfig::memory(),
            "[key_value_store.cache]\ntype = \"memory\"\n[key_value_store.secret]\ntype = \"memory\"\n",
        );
        config.max_open_stores = max_open_stores;
        Application::load(
            config,
            grants(&[
                ("web", &["default", "cache"]),
                ("admin", &["secret"]),
                ("nothing", &[]),
            ]),
        )
        .unwrap()
    }

    #[test]
    fn a_label_configured_for_another_component_is_access_denied() {
        let mut web = app(None).instance_state("web").unwrap();
        assert_eq!(web.open("secret"), Err(Error::AccessDenied));
        assert!(!web.is_granted("secret"));
    }

    #[test]
    fn a_component_with_no_grants_is_denied_even_default() {
        let mut nothing = app(None).instance_state("nothing").unwrap();
        assert_eq!(nothing.open("default"), Err(Error::AccessDenied));
        assert_eq!(nothing.open("undefined-anywhere"), Err(Error::AccessDenied));
    }

    #[test]
    fn opening_a_label_twice_gives_two_handles_onto_the_same_data() {
        let mut web = app(None).instance_state("web").unwrap();
        let first = web.open("cache").unwrap();
        let second = web.open("cache").unwrap();
        assert_ne!(first, second);
        set(&web, first, "k", b"through the first");
        assert_eq!(get(&web, second, "k"), Some(b"through the first".to_vec()));
        assert!(web.close(first));
        assert_eq!(get(&web, second, "k"), Some(b"through the first".to_vec()));
        assert!(web.store(first).is_none());
    }

    #[test]
    fn closing_a_handle_twice_does_nothing_the_second_time() {
        let mut web = app(None).instance_state("web").unwrap();
        let handle = web.open("default").unwrap();
        assert!(web.close(handle));
        assert!(!web.close(handle));
        assert!(!web.close(12345));
    }

    #[test]
    fn handle_numbers_are_never_reused() {
        let mut web = app(None).instance_state("web").unwrap();
        let first = web.open("default").unwrap();
        web.close(first);
        let second = web.open("default").unwrap();
        assert_ne!(first, second);
        assert_eq!(web.label(second), Some("default"));
    }

    #[test]
    fn past_max_open_stores_open_is_store_table_full_until_a_handle_closes() {
        let mut web = app(Some(2)).instance_state("web").unwrap();
        let first = web.open("default").unwrap();
        web.open("cache").unwrap();
        assert_eq!(web.open("default"), Err(Error::StoreTableFull));
        assert_eq!(web.open_count(), 2);
        web.close(first);
        web.open("default").unwrap();
    }

    #[test]
    fn access_is_checked_before_the_table_bound() {
        let mut web = app(Some(1)).instance_state("web").unwrap();
        web.open("default").unwrap();
        assert_eq!(web.open("secret"), Err(Error::AccessDenied));
    }

    #[test]
    fn each_instance_has_its_own_table_bound() {
        let app = app(Some(1));
        let mut one = app.instance_state("web").unwrap();
        let mut two = app.instance_state("web").unwrap();
        one.open("default").unwrap();
        two.open("default").unwrap();
    }

    #[test]
    fn without_a_bound_thousands_of_handles_open() {
        let mut web = app(None).instance_state("web").unwrap();
        for _ in 0..2000 {
            web.open("default").unwrap();
        }
        assert_eq!(web.open_count(), 2000);
    }

    #[test]
    fn a_manager_that_serves_no_store_for_a_label_gives_no_such_store() {
        let mut stores = DelegatingStoreManager::new(Limits::none());
        stores.insert("default", Arc::new(MemoryStores::new()));
        assert!(stores.is_defined("default"));
        assert!(!stores.is_defined("elsewhere"));
        let mut state = KeyValueState::new(Arc::new(stores), ["elsewhere".to_owned()], None);
        assert_eq!(state.open("elsewhere"), Err(Error::NoSuchStore));
        assert_eq!(state.open_count(), 0);
    }
}

mod persistence_and_isolation {
    use super::*;

    #[test]
    fn data_outlives_the_instance_that_wrote_it() {
        let app =
            Application::load(HostConfig::memory(), grants(&[("web", &["default"])])).unwrap();
        {
            let mut first = app.instance_state("web").unwrap();
            let handle = first.open("default").unwrap();
            set(&first, handle, "k", b"from the first instance");
        }
        let mut second = app.instance_state("web").unwrap();
        let handle = second.open("default").unwrap();
        assert_eq!(
            get(&second, handle, "k"),
            Some(b"from the first instance".to_vec())
        );
    }

    #[test]
    fn components_granted_one_label_share_its_data() {
        let app = Application::load(
            HostConfig::memory(),
            grants(&[("reader", &["default"]), ("writer", &["default"])]),
        )
        .unwrap();
        let mut writer = app.instance_state("writer").unwrap();
        let mut reader = app.instance_state("reader").unwrap();
        let w = writer.open("default").unwrap();
        let r = reader.open("default").unwrap();
        set(&writer, w, "k", b"v");
        assert_eq!(get(&reader, r, "k"), Some(b"v".to_vec()));
    }

    #[test]
    fn a_sqlite_file_keeps_its_data_across_application_loads() {
        let dir = tempfile::tempdir().unwrap();
        let load = || {
            Application::load(
                HostConfig::sqlite(dir.path().join(".spin")),
                grants(&[("web", &["default"])]),
            )
            .unwrap()
        };
        {
            let app = load();
            app.store("default")
                .unwrap()
                .set("k", b"\x00durable\xff")
                .unwrap();
        }
        assert!(dir.path().join(".spin/sqlite_key_value.db").is_file());
        let app = load();
        let mut state = app.instance_state("web").unwrap();
        let handle = state.open("default").unwrap();
        assert_eq!(get(&state, handle, "k"), Some(b"\x00durable\xff".to_vec()));
    }

    #[test]
    fn labels_sharing_one_database_file_never_see_each_others_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = with_runtime_config(
            HostConfig::memory(),
            r#"
            [key_value_store.one]
            type = "spin"
            path = "shared.db"

            [key_value_store.two]
            type = "spin"
            path = "./sub/../shared.db"
            "#,
        );
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        config.base_dir = dir.path().to_path_buf();
        let app = Application::load(config, grants(&[("web", &["one", "two"])])).unwrap();
        let one = app.store("one").unwrap();
        let two = app.store("two").unwrap();
        one.set("k", b"one").unwrap();
        two.set("k", b"two").unwrap();
        one.set("only-one", b"1").unwrap();
        assert_eq!(one.get("k").unwrap(), Some(b"one".to_vec()));
        assert_eq!(two.get("k").unwrap(), Some(b"two".to_vec()));
        assert_eq!(two.get_keys().unwrap(), vec!["k".to_owned()]);
        drop(app);

        let rows: Vec<(String, String)> = {
            let connection = rusqlite::Connection::open(dir.path().join("shared.db")).unwrap();
            let mut statement = connection
                .prepare("SELECT store, key FROM spin_key_value ORDER BY store, key")
                .unwrap();
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let expected = [("one", "k"), ("one", "only-one"), ("two", "k")]
            .map(|(store, key)| (store.to_owned(), key.to_owned()));
        assert_eq!(
            rows, expected,
            "both labels are in the one file, each row tagged with its label"
        );
    }

    /// As in Spin (an in-memory SQLite database per such label): the data lives as long as the application, apart
    /// from "default", and no file holds it.
    #[test]
    fn a_spin_store_without_a_path_is_kept_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let load = || {
            let config = with_runtime_config(
                HostConfig::sqlite(dir.path()),
                "[key_value_store.plain]\ntype = \"spin\"\n",
            );
            Application::load(config, grants(&[("web", &["default", "plain"])])).unwrap()
        };
        let app = load();
        app.store("plain").unwrap().set("k", b"plain").unwrap();
        assert_eq!(app.store("default").unwrap().get("k").unwrap(), None);
        let mut state = app.instance_state("web").unwrap();
        let handle = state.open("plain").unwrap();
        assert_eq!(
            get(&state, handle, "k"),
            Some(b"plain".to_vec()),
            "another handle reads it"
        );
        drop(state);
        drop(app);
        let connection =
            rusqlite::Connection::open(dir.path().join("sqlite_key_value.db")).unwrap();
        let rows: i64 = connection
            .query_row("SELECT COUNT(*) FROM spin_key_value", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 0, "nothing of it is in the default database");
        assert_eq!(
            load().store("plain").unwrap().get("k").unwrap(),
            None,
            "gone with the application"
        );
    }

    #[test]
    fn the_runtime_config_can_move_default_to_memory() {
        let dir = tempfile::tempdir().unwrap();
        let config = with_runtime_config(
            HostConfig::sqlite(dir.path().join("state")),
            "[key_value_store.default]\ntype = \"memory\"\n",
        );
        let app = Application::load(config, grants(&[("web", &["default"])])).unwrap();
        app.store("default").unwrap().set("k", b"v").unwrap();
        assert!(
            !dir.path().join("state").exists(),
            "no database is created for a memory default"
        );
    }

    #[test]
    fn an_undefined_label_fails_open_with_no_such_store_when_so_configured() {
        let config = HostConfig {
            undefined_labels: kvhost::UndefinedLabels::NoSuchStore,
            ..HostConfig::memory()
        };
        let app = Application::load(config, grants(&[("web", &["default", "ghost"])])).unwrap();
        let mut state = app.instance_state("web").unwrap();
        assert_eq!(state.open("ghost").err(), Some(Error::NoSuchStore));
        assert!(state.open("default").is_ok());
    }

    #[test]
    fn handle_numbers_come_back_only_when_so_configured() {
        for (reuse, second) in [(false, 2), (true, 1)] {
            let config = HostConfig {
                reuse_handles: reuse,
                ..HostConfig::memory()
            };
            let app = Application::load(config, grants(&[("web", &["default"])])).unwrap();
            let mut state = app.instance_state("web").unwrap();
            let first = state.open("default").unwrap();
            assert!(state.close(first));
            assert_eq!(state.open("default").unwrap(), second, "reuse {reuse}");
        }
    }

    #[test]
    fn a_label_no_component_is_granted_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = with_runtime_config(
            HostConfig {
                default_backend: DefaultBackend::Memory,
                ..HostConfig::memory()
            },
            "[key_value_store.unused]\ntype = \"spin\"\npath = \"unused/kv.db\"\n",
        );
        config.base_dir = dir.path().to_path_buf();
        let app = Application::load(config, grants(&[("web", &["default"])])).unwrap();
        assert_eq!(app.store("unused").err(), Some(Error::NoSuchStore));
        assert!(!Path::new(&dir.path().join("unused")).exists());
    }

    #[test]
    fn the_applications_limits_apply_to_every_store_it_serves() {
        let mut config = with_runtime_config(
            HostConfig::memory(),
            "[key_value_store.cache]\ntype = \"memory\"\n",
        );
        config.limits = Limits::sip010();
        let app = Application::load(config, grants(&[("web", &["default", "cache"])])).unwrap();
        let mut state = app.instance_state("web").unwrap();
        for label in ["default", "cache"] {
            let handle = state.open(label).unwrap();
            let store = state.store(handle).unwrap();
            store.set("k", b"old").unwrap();
            assert!(matches!(
                store.set("k", &vec![0; 1_048_577]),
                Err(Error::Other(_))
            ));
            assert_eq!(store.get("k").unwrap(), Some(b"old".to_vec()), "in {label}");
        }
    }

    #[test]
    fn the_tuple_limit_counts_writes_from_every_handle_and_instance() {
        let mut config = HostConfig::memory();
        config.limits = Limits {
            max_tuples: Some(2),
            ..Limits::none()
        };
        let app = Application::load(config, grants(&[("web", &["default"])])).unwrap();
        let mut one = app.instance_state("web").unwrap();
        let mut two = app.instance_state("web").unwrap();
        let a = one.open("default").unwrap();
        let b = two.open("default").unwrap();
        set(&one, a, "first", b"1");
        set(&two, b, "second", b"2");
        assert!(two.store(b).unwrap().set("third", b"3").is_err());
    }
}
