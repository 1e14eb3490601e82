//! The `kvhost` binary: grants, state directory, runtime config file and exit status, with small command
//! components written in WAT that open "default", write `greeting = hello` and close the handle: one through
//! v2 for most tests, and one through each other interface version.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A `wasi:cli/run` command importing only the v2 key-value interface. `run` returns `err` when `open` or `set`
/// fails, so the exit status says whether the write happened.
const WRITER_WAT: &str = r#"
(component
  (type $kv-type (instance
    (export "store" (type $store (sub resource)))
    (type $error (variant (case "store-table-full") (case "no-such-store") (case "access-denied") (case "other" string)))
    (export "error" (type $error-t (eq $error)))
    (type $own (own $store))
    (type $borrow (borrow $store))
    (type $open-result (result $own (error $error-t)))
    (export "[static]store.open" (func (param "label" string) (result $open-result)))
    (type $set-result (result (error $error-t)))
    (type $bytes (list u8))
    (export "[method]store.set" (func (param "self" $borrow) (param "key" string) (param "value" $bytes) (result $set-result)))
  ))
  (import "fermyon:spin/key-value@2.0.0" (instance $kv (type $kv-type)))
  (alias export $kv "store" (type $store))
  (alias export $kv "[static]store.open" (func $open))
  (alias export $kv "[method]store.set" (func $set))

  (core module $Memory
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    ;; A bump allocator: enough for the few strings the host may write (an `other` error message).
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $ptr i32)
      (local.set $ptr
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
          (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
      (global.set $next (i32.add (local.get $ptr) (local.get 3)))
      (local.get $ptr))
    (data (i32.const 16) "default")
    (data (i32.const 32) "greeting")
    (data (i32.const 48) "hello"))
  (core instance $memory (instantiate $Memory))

  (core func $open-lowered (canon lower (func $open) (memory (core memory $memory "memory")) (realloc (core func $memory "realloc"))))
  (core func $set-lowered (canon lower (func $set) (memory (core memory $memory "memory")) (realloc (core func $memory "realloc"))))
  (core func $drop (canon resource.drop $store))

  (core module $Main
    (import "memory" "memory" (memory 1))
    (import "kv" "open" (func $open (param i32 i32 i32)))
    (import "kv" "set" (func $set (param i32 i32 i32 i32 i32 i32)))
    (import "kv" "drop" (func $drop (param i32)))
    (func (export "run") (result i32)
      (local $handle i32)
      (call $open (i32.const 16) (i32.const 7) (i32.const 256))
      (if (i32.load8_u (i32.const 256)) (then (return (i32.const 1))))
      (local.set $handle (i32.load (i32.const 260)))
      (call $set (local.get $handle) (i32.const 32) (i32.const 8) (i32.const 48) (i32.const 5) (i32.const 512))
      (call $drop (local.get $handle))
      (i32.load8_u (i32.const 512))))
  (core instance $main (instantiate $Main
    (with "memory" (instance $memory))
    (with "kv" (instance
      (export "open" (func $open-lowered))
      (export "set" (func $set-lowered))
      (export "drop" (func $drop))))))

  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.6" (instance $run-instance)))
"#;

/// The v2 writer's memory module, core module and lifted `run`, shared by the writers of the other versions:
/// the imports `$open`, `$set` and `$close` differ; what the core code does with them is the same.
fn writer_core(open_params: &str, set_params: &str) -> String {
    format!(
        r#"
  (core module $Memory
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $ptr i32)
      (local.set $ptr
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
          (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
      (global.set $next (i32.add (local.get $ptr) (local.get 3)))
      (local.get $ptr))
    (data (i32.const 16) "default")
    (data (i32.const 32) "greeting")
    (data (i32.const 48) "hello"))
  (core instance $memory (instantiate $Memory))
  (core func $open-lowered (canon lower (func $open) (memory (core memory $memory "memory")) (realloc (core func $memory "realloc"))))
  (core func $set-lowered (canon lower (func $set) (memory (core memory $memory "memory")) (realloc (core func $memory "realloc"))))
  (core module $Main
    (import "memory" "memory" (memory 1))
    (import "kv" "open" (func $open (param {open_params})))
    (import "kv" "set" (func $set (param {set_params})))
    (import "kv" "close" (func $close (param i32)))
    (func (export "run") (result i32)
      (local $handle i32)
      (call $open (i32.const 16) (i32.const 7) (i32.const 256))
      (if (i32.load8_u (i32.const 256)) (then (return (i32.const 1))))
      (local.set $handle (i32.load (i32.const 260)))
      (call $set (local.get $handle) (i32.const 32) (i32.const 8) (i32.const 48) (i32.const 5) (i32.const 512))
      (call $close (local.get $handle))
      (i32.load8_u (i32.const 512))))
  (core instance $main (instantiate $Main
    (with "memory" (instance $memory))
    (with "kv" (instance
      (export "open" (func $open-lowered))
      (export "set" (func $set-lowered))
      (export "close" (func $close))))))
  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.6" (instance $run-instance))"#
    )
}

/// The writer through v1: the handle is a number, closed with `close`.
fn v1_writer() -> String {
    let core = writer_core("i32 i32 i32", "i32 i32 i32 i32 i32 i32");
    format!(
        r#"(component
  (type $kv-type (instance
    (type $error (variant (case "store-table-full") (case "no-such-store") (case "access-denied")
                          (case "invalid-store") (case "no-such-key") (case "io" string)))
    (export "error" (type $error-t (eq $error)))
    (type $open-result (result u32 (error $error-t)))
    (type $set-result (result (error $error-t)))
    (type $bytes (list u8))
    (export "open" (func (param "name" string) (result $open-result)))
    (export "set" (func (param "store" u32) (param "key" string) (param "value" $bytes) (result $set-result)))
    (export "close" (func (param "store" u32)))))
  (import "fermyon:spin/key-value" (instance $kv (type $kv-type)))
  (alias export $kv "open" (func $open))
  (alias export $kv "set" (func $set))
  (alias export $kv "close" (func $close-func))
  (core func $close (canon lower (func $close-func)))
  {core})"#
    )
}

/// The writer through wasi:keyvalue: the bucket is a resource, closed by dropping it.
fn wasi_writer() -> String {
    let core = writer_core("i32 i32 i32", "i32 i32 i32 i32 i32 i32");
    format!(
        r#"(component
  (type $kv-type (instance
    (export "bucket" (type $bucket (sub resource)))
    (type $error (variant (case "no-such-store") (case "access-denied") (case "other" string)))
    (export "error" (type $error-t (eq $error)))
    (type $open-result (result (own $bucket) (error $error-t)))
    (type $set-result (result (error $error-t)))
    (type $bytes (list u8))
    (export "open" (func (param "identifier" string) (result $open-result)))
    (export "[method]bucket.set"
      (func (param "self" (borrow $bucket)) (param "key" string) (param "value" $bytes) (result $set-result)))))
  (import "wasi:keyvalue/store@0.2.0-draft2" (instance $kv (type $kv-type)))
  (alias export $kv "bucket" (type $bucket))
  (alias export $kv "open" (func $open))
  (alias export $kv "[method]bucket.set" (func $set))
  (core func $close (canon resource.drop $bucket))
  {core})"#
    )
}

/// The writer through v3: its synchronous `run` lowers v3's async functions synchronously, which the component
/// model forbids, so `kvhost run` refuses it.
fn v3_writer() -> String {
    let core = writer_core("i32 i32 i32", "i32 i32 i32 i32 i32 i32");
    format!(
        r#"(component
  (type $kv-type (instance
    (export "store" (type $store (sub resource)))
    (type $error (variant (case "store-table-full") (case "no-such-store") (case "access-denied")
                          (case "other" string)))
    (export "error" (type $error-t (eq $error)))
    (type $open-result (result (own $store) (error $error-t)))
    (type $set-result (result (error $error-t)))
    (type $bytes (list u8))
    (export "[static]store.open" (func async (param "label" string) (result $open-result)))
    (export "[method]store.set"
      (func async (param "self" (borrow $store)) (param "key" string) (param "value" $bytes) (result $set-result)))))
  (import "spin:key-value/key-value@3.0.0" (instance $kv (type $kv-type)))
  (alias export $kv "store" (type $store))
  (alias export $kv "[static]store.open" (func $open))
  (alias export $kv "[method]store.set" (func $set))
  (core func $close (canon resource.drop $store))
  {core})"#
    )
}

/// A temporary directory holding `writer.wasm`.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        Self::with_writer(WRITER_WAT)
    }

    /// A workspace whose `writer.wasm` is the component `wat`.
    fn with_writer(wat: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let component = wat::parse_str(wat).expect("the writer component's WAT is valid");
        std::fs::write(dir.path().join("writer.wasm"), component).unwrap();
        Self { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn kvhost(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kvhost"))
            .current_dir(self.dir.path())
            .arg("run")
            .arg("writer.wasm")
            .args(args)
            .output()
            .unwrap()
    }
}

fn greeting_in(database: &Path) -> Option<Vec<u8>> {
    let connection = rusqlite::Connection::open(database).unwrap();
    connection
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'greeting'",
            [],
            |row| row.get(0),
        )
        .ok()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_granted_component_writes_default_into_the_state_directorys_database() {
    let workspace = Workspace::new();
    let output = workspace.kvhost(&["--grant", "default", "--state-dir", "state"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        greeting_in(&workspace.path("state/sqlite_key_value.db")),
        Some(b"hello".to_vec())
    );
}

#[test]
fn the_default_state_directory_is_dot_spin() {
    let workspace = Workspace::new();
    let output = workspace.kvhost(&["--grant", "default"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        greeting_in(&workspace.path(".spin/sqlite_key_value.db")),
        Some(b"hello".to_vec())
    );
}

#[test]
fn a_component_without_the_grant_fails_its_run_and_writes_nothing() {
    let workspace = Workspace::new();
    let output = workspace.kvhost(&["--state-dir", "state"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output).trim(),
        "kvhost: writer.wasm returned an error from wasi:cli/run",
        "the component ran and reported the refusal; kvhost itself did not fail"
    );
    assert!(
        !workspace.path("state").exists(),
        "no grant, so no database is opened"
    );
}

#[test]
fn with_memory_nothing_is_written_to_disk() {
    let workspace = Workspace::new();
    let output = workspace.kvhost(&["--grant", "default", "--memory"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!workspace.path(".spin").exists());
}

#[test]
fn an_undefined_label_refuses_to_run_with_spins_message() {
    let workspace = Workspace::new();
    let output = workspace.kvhost(&["--grant", "default", "--grant", "cache"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(r#"unknown key_value_stores label "cache" for component "writer""#),
        "{message}"
    );
    assert!(message.contains("[key_value_store.cache]"), "{message}");
}

#[test]
fn runtime_config_paths_resolve_against_the_config_files_directory() {
    let workspace = Workspace::new();
    std::fs::create_dir(workspace.path("config")).unwrap();
    std::fs::write(
        workspace.path("config/runtime-config.toml"),
        "[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n",
    )
    .unwrap();
    let output = workspace.kvhost(&[
        "--grant",
        "default",
        "--runtime-config-file",
        "config/runtime-config.toml",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        greeting_in(&workspace.path("config/data/kv.db")),
        Some(b"hello".to_vec())
    );
    assert!(!workspace.path(".spin").exists());
}

#[test]
fn a_bad_runtime_config_is_reported_with_its_file() {
    let workspace = Workspace::new();
    std::fs::write(
        workspace.path("rc.toml"),
        "[key_value_store.default]\ntype = \"redis\"\n",
    )
    .unwrap();
    let output = workspace.kvhost(&["--grant", "default", "--runtime-config-file", "rc.toml"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("rc.toml"), "{message}");
    assert!(
        message.contains("unknown key-value store type \"redis\""),
        "{message}"
    );
}

#[test]
fn a_component_that_is_not_a_command_is_refused_with_a_clear_error() {
    let workspace = Workspace::new();
    let driver =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../guest-fixtures/prebuilt/driver-v2.wasm");
    let output = Command::new(env!("CARGO_BIN_EXE_kvhost"))
        .current_dir(workspace.path(""))
        .args(["run", "--memory", "--grant", "default"])
        .arg(&driver)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("could not instantiate"), "{message}");
}

#[test]
fn a_command_writes_through_v1_and_wasi_keyvalue_too() {
    for (version, wat) in [("v1", v1_writer()), ("wasi", wasi_writer())] {
        let workspace = Workspace::with_writer(&wat);
        let output = workspace.kvhost(&["--grant", "default", "--state-dir", "state"]);
        assert!(output.status.success(), "{version}: {}", stderr(&output));
        assert_eq!(
            greeting_in(&workspace.path("state/sqlite_key_value.db")),
            Some(b"hello".to_vec()),
            "{version}"
        );
        let denied = workspace.kvhost(&["--state-dir", "denied"]);
        assert_eq!(
            denied.status.code(),
            Some(1),
            "{version}: {}",
            stderr(&denied)
        );
    }
}

/// A command's `run` is synchronous and may not call v3's async functions, so the binary does not link v3 and
/// refuses such a command before it runs, saying why.
#[test]
fn a_command_importing_v3_is_refused_at_instantiation_naming_the_reason() {
    let workspace = Workspace::with_writer(&v3_writer());
    let output = workspace.kvhost(&["--grant", "default", "--memory"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("could not instantiate"), "{message}");
    assert!(
        message.contains("a command cannot use the async spin:key-value@3.0.0"),
        "{message}"
    );
    assert!(
        message.contains("spin:key-value/key-value@3.0.0"),
        "{message}"
    );
}

#[test]
fn a_missing_component_file_is_reported_as_missing() {
    let workspace = Workspace::new();
    std::fs::remove_file(workspace.path("writer.wasm")).unwrap();
    let output = workspace.kvhost(&["--memory"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("the component file writer.wasm does not exist"),
        "{message}"
    );
    assert!(!message.contains("core module"), "{message}");
}
