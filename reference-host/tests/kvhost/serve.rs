//! `kvhost serve` as a process, the way kvconf validates it out of process: a temporary application directory with
//! a `spin.toml` routing to the suite's HTTP driver components (`guest-fixtures/prebuilt/http-driver-*.wasm`),
//! the server on port 0, the port read from its "serving" line, and scripts POSTed to it.
//!
//! The drivers answer a JSON array of operations (serde's externally tagged form of `kvconf:driver/types`'s
//! `operation`) with one JSON outcome per line, each line written as soon as its operation finished.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A prebuilt HTTP driver fixture.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../guest-fixtures/prebuilt")
        .join(format!("{name}.wasm"))
}

/// A temporary application directory: a `spin.toml` and the components it names, copied in.
pub(crate) struct AppDir {
    dir: tempfile::TempDir,
}

impl AppDir {
    /// An application named "kvconf-driver" with one component per `(id, fixture, route, key_value_stores)`.
    pub(crate) fn new(components: &[(&str, &str, &str, &[&str])]) -> AppDir {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = String::from(
            "spin_manifest_version = 2\n\n[application]\nname = \"kvconf-driver\"\nversion = \"0.1.0\"\n",
        );
        for (id, fixture_name, route, labels) in components {
            manifest.push_str(&format!(
                "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{id}\"\n"
            ));
            let labels = labels
                .iter()
                .map(|label| format!("\"{label}\""))
                .collect::<Vec<_>>()
                .join(", ");
            manifest.push_str(&format!(
                "\n[component.{id}]\nsource = \"{fixture_name}.wasm\"\nkey_value_stores = [{labels}]\nallowed_outbound_hosts = []\n"
            ));
            std::fs::copy(
                fixture(fixture_name),
                dir.path().join(format!("{fixture_name}.wasm")),
            )
            .unwrap_or_else(|e| panic!("the fixture {fixture_name}.wasm is there to copy: {e}"));
        }
        std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
        AppDir { dir }
    }

    /// An application of the five drivers, each granted "default", on the routes of [`EVERY_DRIVER`].
    pub(crate) fn every_driver() -> AppDir {
        AppDir::new(&[
            ("driver-v1", "http-driver-v1", "/v1/...", &["default"]),
            ("driver-v2", "http-driver-v2", "/v2/...", &["default"]),
            ("driver-v3", "http-driver-v3", "/v3/...", &["default"]),
            (
                "driver-wasi",
                "http-driver-wasi-keyvalue",
                "/wasi/...",
                &["default"],
            ),
            (
                "driver-draft",
                "http-driver-wasi-keyvalue-draft",
                "/draft/...",
                &["default"],
            ),
        ])
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Starts `kvhost serve` on this directory, on port 0, with `args` before the path.
    pub(crate) fn serve(&self, args: &[&str]) -> Server {
        Server::start(self.dir.path(), args).unwrap_or_else(|stderr| {
            panic!("kvhost serve did not start serving; its stderr:\n{stderr}")
        })
    }
}

/// A running `kvhost serve`; killed when dropped.
pub(crate) struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

/// Collects a child's stderr in the background, so the test can show it and the pipe never fills.
fn collect(stderr: ChildStderr) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    text
}

impl Server {
    /// Starts the server; `Err` with its stderr when it exits before printing its "serving" line.
    fn start(dir: &Path, args: &[&str]) -> Result<Server, String> {
        let mut child = kvhost_serve(dir, args).spawn().unwrap();
        let stderr = collect(child.stderr.take().unwrap());
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        if line.is_empty() {
            let _ = child.wait();
            return Err(stderr.lock().unwrap().clone());
        }
        // Components' stdout is the server's: keep draining it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let addr = line
            .trim_end()
            .strip_prefix("kvhost: serving kvconf-driver on http://")
            .unwrap_or_else(|| {
                panic!("the first line names the application and the address: {line:?}")
            })
            .parse()
            .unwrap_or_else(|e| panic!("the address in {line:?} parses: {e}"));
        Ok(Server {
            child,
            addr,
            stderr,
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// POSTs `script` (JSON) to `path`: the status and the body, which must arrive complete.
    pub(crate) fn post(&self, path: &str, script: &str) -> (u16, String) {
        let (status, body, complete) = self.post_partial(path, script);
        assert!(
            complete,
            "the body of {path} arrived complete: {body:?}\n{}",
            self.stderr()
        );
        (status, body)
    }

    /// POSTs `script` (JSON) to `path`: the status, the body as far as it arrived, and whether it arrived
    /// complete (a body cut off by a trap does not: the connection closes before its end).
    pub(crate) fn post_partial(&self, path: &str, script: impl AsRef<[u8]>) -> (u16, String, bool) {
        try_post(&self.url(path), script.as_ref())
            .unwrap_or_else(|e| panic!("POST {path}: {e}; the server's stderr:\n{}", self.stderr()))
    }

    /// The server's peak resident memory so far, in bytes (Linux's `VmHWM`).
    pub(crate) fn peak_memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("VmHWM in /proc/{}/status", self.child.id()));
        kib << 10
    }

    /// SIGKILL, as a crash: the server gets no chance to finish anything.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and the exit status once it has stopped.
    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "kvhost serve still runs 30 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs `body` (JSON) to `url`: the status, the body as far as it arrived, and whether it arrived complete; an
/// error when no response came (the server could not be reached, or went away before answering).
pub(crate) fn try_post(url: &str, body: &[u8]) -> Result<(u16, String, bool), ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)?;
    let status = response.status().as_u16();
    let mut received = Vec::new();
    let mut reader = response.body_mut().as_reader();
    let mut buffer = [0; 4096];
    // Read until the end, or until the body breaks off.
    let complete = loop {
        match reader.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(_) => break false,
        }
    };
    Ok((
        status,
        String::from_utf8_lossy(&received).into_owned(),
        complete,
    ))
}

/// `kvhost serve` in `dir`, on 127.0.0.1 port 0 unless `args` give `--listen`, with `args` before the path.
fn kvhost_serve(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kvhost"));
    command.current_dir(dir).arg("serve");
    if !args.contains(&"--listen") {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    command
        .args(args)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The body's lines.
fn lines(body: &str) -> Vec<&str> {
    body.lines().collect()
}

/// The script routes of [`AppDir::every_driver`]: v1, v2, v3, wasi:keyvalue and its draft edition.
pub(crate) const EVERY_DRIVER: [&str; 5] =
    ["/v1/run", "/v2/run", "/v3/run", "/wasi/run", "/draft/run"];

pub(crate) const OPEN_DEFAULT: &str = r#"{"Open":{"slot":0,"label":"default"}}"#;
const OPEN_CACHE: &str = r#"{"Open":{"slot":1,"label":"cache"}}"#;

/// A script of `operations` (each the JSON of one).
pub(crate) fn script<S: AsRef<str>>(operations: &[S]) -> String {
    let operations: Vec<&str> = operations.iter().map(AsRef::as_ref).collect();
    format!("[{}]", operations.join(","))
}

/// The value a `get` answered, from its outcome line: `None` for `{"Value":null}`.
///
/// # Panics
///
/// When the line is not a `Value` outcome.
pub(crate) fn value_of(line: &str) -> Option<Vec<u8>> {
    if line == r#"{"Value":null}"# {
        return None;
    }
    let numbers = line
        .strip_prefix(r#"{"Value":["#)
        .and_then(|rest| rest.strip_suffix("]}"))
        .unwrap_or_else(|| panic!("a get answers a value: {line}"));
    Some(
        numbers
            .split(',')
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap())
            .collect(),
    )
}

pub(crate) fn set(slot: u32, key: &str, value: &[u8]) -> String {
    let value = value
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",");
    format!(r#"{{"Set":{{"slot":{slot},"key":"{key}","value":[{value}]}}}}"#)
}

pub(crate) fn get(slot: u32, key: &str) -> String {
    format!(r#"{{"Get":{{"slot":{slot},"key":"{key}"}}}}"#)
}

#[test]
fn a_p2_driver_runs_a_script_with_its_grants_and_is_refused_what_it_was_not_granted() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    let server = app.serve(&[]);
    let (status, body) = server.post(
        "/v2/run",
        &script(&[OPEN_DEFAULT, &set(0, "k", b"hi"), &get(0, "k"), OPEN_CACHE]),
    );
    assert_eq!(status, 200, "{body}\n{}", server.stderr());
    assert_eq!(
        lines(&body),
        [
            r#""Opened""#,
            r#""Done""#,
            r#"{"Value":[104,105]}"#,
            r#"{"Failed":"AccessDenied"}"#
        ],
        "{}",
        server.stderr()
    );
    // A fresh instance serves the next request, onto the same stores.
    let (status, body) = server.post("/v2/run", &script(&[OPEN_DEFAULT, &get(0, "k")]));
    assert_eq!(status, 200);
    assert_eq!(lines(&body), [r#""Opened""#, r#"{"Value":[104,105]}"#]);
    assert!(
        app.path(".spin/sqlite_key_value.db").exists(),
        "default is SQLite under .spin beside spin.toml"
    );
}

#[test]
fn a_path_no_route_matches_is_a_404_and_the_most_specific_route_wins() {
    let app = AppDir::new(&[
        ("driver-v2", "http-driver-v2", "/...", &["default"]),
        ("driver-v1", "http-driver-v1", "/v1/...", &[]),
    ]);
    let server = app.serve(&[]);
    // "/v1/..." beats "/...": the v1 driver, granted nothing, is refused "default".
    let (status, body) = server.post("/v1/x", &script(&[OPEN_DEFAULT]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(lines(&body), [r#"{"Failed":"AccessDenied"}"#]);
    let (status, body) = server.post("/anything", &script(&[OPEN_DEFAULT]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(lines(&body), [r#""Opened""#]);

    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    let server = app.serve(&[]);
    let (status, body) = server.post("/v1/run", &script(&[OPEN_DEFAULT]));
    assert_eq!(status, 404, "{body}");
    let (status, _) = server.post("/v20", &script(&[OPEN_DEFAULT]));
    assert_eq!(status, 404, "/v2/... does not match /v20");
}

#[test]
fn an_undefined_label_refuses_the_application_before_it_serves() {
    let app = AppDir::new(&[(
        "driver-v2",
        "http-driver-v2",
        "/v2/...",
        &["default", "cache"],
    )]);
    let output = kvhost_serve(app.dir.path(), &[]).output().unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing was served");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"unknown key_value_stores label "cache" for component "driver-v2""#),
        "{stderr}"
    );
    assert!(stderr.contains("[key_value_store.cache]"), "{stderr}");
}

#[test]
fn with_no_such_store_an_undefined_label_fails_at_open_and_a_defined_one_is_served() {
    let app = AppDir::new(&[(
        "driver-v2",
        "http-driver-v2",
        "/v2/...",
        &["default", "cache"],
    )]);
    let server = app.serve(&["--undefined-labels", "no-such-store"]);
    let (status, body) = server.post("/v2/run", &script(&[OPEN_CACHE]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(lines(&body), [r#"{"Failed":"NoSuchStore"}"#]);
    drop(server);

    std::fs::write(
        app.path("runtime-config.toml"),
        "[key_value_store.cache]\ntype = \"spin\"\npath = \"data/cache.db\"\n",
    )
    .unwrap();
    let server = app.serve(&["--runtime-config-file", "runtime-config.toml"]);
    let (status, body) = server.post("/v2/run", &script(&[OPEN_CACHE, &set(1, "k", b"v")]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(lines(&body), [r#""Opened""#, r#""Done""#]);
    assert!(app.path("data/cache.db").exists());
}

#[test]
fn sqlite_data_survives_a_stop_and_a_start_of_the_server() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    let server = app.serve(&["--state-dir", "state"]);
    let (status, body) = server.post(
        "/v2/run",
        &script(&[OPEN_DEFAULT, &set(0, "kept", b"across restarts")]),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(lines(&body), [r#""Opened""#, r#""Done""#]);
    let status = server.terminate();
    assert!(
        status.success(),
        "SIGTERM stops the server cleanly: {status}"
    );
    assert!(app.path("state/sqlite_key_value.db").exists());
    assert!(
        !app.path("state/sqlite_key_value.db-wal").exists(),
        "the database was closed: SQLite checkpoints and removes the WAL file when its last connection closes"
    );

    let server = app.serve(&["--state-dir", "state"]);
    let (status, body) = server.post("/v2/run", &script(&[OPEN_DEFAULT, &get(0, "kept")]));
    assert_eq!(status, 200, "{body}");
    let expected = format!(
        r#"{{"Value":[{}]}}"#,
        b"across restarts"
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(lines(&body), [r#""Opened""#, expected.as_str()]);

    // With --memory nothing outlives the process.
    drop(server);
    let server = app.serve(&["--memory"]);
    let (_, body) = server.post("/v2/run", &script(&[OPEN_DEFAULT, &get(0, "kept")]));
    assert_eq!(lines(&body), [r#""Opened""#, r#"{"Value":null}"#]);
}

/// With `--v1-invalid-handle trap` the host traps when the v1 driver uses a closed handle: the lines written
/// before the trap reach the client, the body ends there, and the next request is served as usual.
#[test]
fn a_trap_cuts_off_its_own_response_after_the_lines_written_and_the_server_goes_on() {
    let app = AppDir::new(&[("driver-v1", "http-driver-v1", "/v1/...", &["default"])]);
    let server = app.serve(&["--v1-invalid-handle", "trap"]);
    let trapping = script(&[
        OPEN_DEFAULT,
        &set(0, "k", b"x"),
        r#"{"Close":0}"#,
        &get(0, "k"),
        &get(0, "never-reached"),
    ]);
    let (status, body, complete) = server.post_partial("/v1/run", &trapping);
    assert_eq!(status, 200, "the response had started before the trap");
    assert!(!complete, "the body is cut off, not ended as if complete");
    assert_eq!(
        lines(&body),
        [r#""Opened""#, r#""Done""#, r#""Done""#],
        "{}",
        server.stderr()
    );
    let (status, body) = server.post("/v1/run", &script(&[OPEN_DEFAULT, &get(0, "k")]));
    assert_eq!(status, 200, "{}", server.stderr());
    assert_eq!(lines(&body), [r#""Opened""#, r#"{"Value":[120]}"#]);
    assert!(
        server.stderr().contains("driver-v1"),
        "the trap is reported on stderr: {}",
        server.stderr()
    );
}

#[test]
fn a_p3_driver_is_served_through_wasi_http_0_3_with_the_async_interface() {
    let app = AppDir::new(&[
        ("driver-v3", "http-driver-v3", "/v3/...", &["default"]),
        ("driver-v2", "http-driver-v2", "/v2/...", &["default"]),
    ]);
    let server = app.serve(&[]);
    let (status, body) = server.post(
        "/v3/run",
        &script(&[OPEN_DEFAULT, &set(0, "k", b"v3"), &get(0, "k"), OPEN_CACHE]),
    );
    assert_eq!(status, 200, "{body}\n{}", server.stderr());
    assert_eq!(
        lines(&body),
        [
            r#""Opened""#,
            r#""Done""#,
            r#"{"Value":[118,51]}"#,
            r#"{"Failed":"AccessDenied"}"#
        ]
    );
    // The same store through v2.
    let (_, body) = server.post("/v2/run", &script(&[OPEN_DEFAULT, &get(0, "k")]));
    assert_eq!(lines(&body), [r#""Opened""#, r#"{"Value":[118,51]}"#]);
}

#[test]
fn a_manifest_kvhost_cannot_honour_is_refused_naming_the_key_and_the_component() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    let manifest = std::fs::read_to_string(app.path("spin.toml")).unwrap();
    std::fs::write(
        app.path("spin.toml"),
        manifest.replace(
            "allowed_outbound_hosts = []",
            "sqlite_databases = [\"default\"]",
        ),
    )
    .unwrap();
    let output = kvhost_serve(app.dir.path(), &[]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[component.driver-v2] has `sqlite_databases`"),
        "{stderr}"
    );
    assert!(stderr.contains("spin.toml"), "{stderr}");
}

/// The library API, in process: a store manager of the test's own whose store holds back every read of the key
/// "gated" until the test opens the gate.
mod library {
    use std::io::{BufRead, BufReader};
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use kvhost::memory::MemoryStores;
    use kvhost::serve::{ManagerContext, ServeOptions, Server};
    use kvhost::{Entry, Error, Store, StoreManager};

    use super::{AppDir, OPEN_DEFAULT, get, script, set};

    /// Open or shut; reads of "gated" wait while it is shut.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        changed: Condvar,
    }

    impl Gate {
        fn wait(&self) {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.changed.wait(open).unwrap();
            }
        }

        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.changed.notify_all();
        }
    }

    struct GatedStores {
        stores: MemoryStores,
        gate: Arc<Gate>,
    }

    impl StoreManager for GatedStores {
        fn get(&self, label: &str) -> Result<Arc<dyn Store>, Error> {
            if label != "default" {
                return Err(Error::NoSuchStore);
            }
            Ok(Arc::new(GatedStore {
                inner: self.stores.store(label),
                gate: Arc::clone(&self.gate),
            }))
        }

        fn is_defined(&self, label: &str) -> bool {
            label == "default"
        }
    }

    struct GatedStore {
        inner: Arc<kvhost::memory::MemoryStore>,
        gate: Arc<Gate>,
    }

    impl Store for GatedStore {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
            if key == "gated" {
                self.gate.wait();
            }
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), Error> {
            self.inner.delete(key)
        }
        fn exists(&self, key: &str) -> Result<bool, Error> {
            self.inner.exists(key)
        }
        fn get_keys(&self) -> Result<Vec<String>, Error> {
            self.inner.get_keys()
        }
        fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
            self.inner.list_keys(after, limit)
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
            self.inner.increment(key, delta)
        }
        fn compare_and_swap(
            &self,
            key: &str,
            expected: Option<&[u8]>,
            new: &[u8],
        ) -> Result<bool, Error> {
            self.inner.compare_and_swap(key, expected, new)
        }
        fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error> {
            self.inner.get_many(keys)
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Serving `app` with the gated manager; the manager factory records the grants it was told of.
    fn options(app: &AppDir, gate: &Arc<Gate>, told: &Arc<Mutex<Vec<String>>>) -> ServeOptions {
        let mut options = ServeOptions::new(app.path("spin.toml"));
        options.listen = "127.0.0.1:0".parse().unwrap();
        let gate = Arc::clone(gate);
        let told = Arc::clone(told);
        options.store_manager = Some(Arc::new(move |context: &ManagerContext<'_>| {
            told.lock().unwrap().extend(
                context
                    .grants
                    .iter()
                    .map(|(component, labels)| format!("{component}: {labels:?}")),
            );
            Ok(Arc::new(GatedStores {
                stores: MemoryStores::new(),
                gate: Arc::clone(&gate),
            }) as Arc<dyn StoreManager>)
        }));
        options
    }

    /// Each outcome line reaches the client when its operation finishes: while the script's fourth operation
    /// waits at the gate, the first three lines have arrived and another request is served; the rest follow
    /// once the gate opens.
    #[test]
    fn lines_stream_as_operations_finish_and_a_held_request_holds_no_other() {
        let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
        let gate = Arc::new(Gate::default());
        let told = Arc::new(Mutex::new(Vec::new()));
        let runtime = runtime();
        // Whatever happens, the held-back read ends (before the runtime is dropped), so the test cannot hang.
        struct OpenOnDrop(Arc<Gate>);
        impl Drop for OpenOnDrop {
            fn drop(&mut self) {
                self.0.open();
            }
        }
        let _open = OpenOnDrop(Arc::clone(&gate));
        let server = runtime
            .block_on(Server::bind(options(&app, &gate, &told)))
            .unwrap();
        assert_eq!(server.app_name(), "kvconf-driver");
        assert_eq!(
            server.world("driver-v2"),
            Some(kvhost::serve::HttpWorld::P2)
        );
        assert_eq!(*told.lock().unwrap(), [r#"driver-v2: ["default"]"#]);
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = runtime.spawn(server.serve_until(async {
            let _ = stopped.await;
        }));

        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let body = script(&[
            OPEN_DEFAULT,
            &set(0, "k", b"v"),
            &get(0, "k"),
            &get(0, "gated"),
            &get(0, "k"),
        ]);
        let mut response = agent
            .post(&format!("http://{addr}/v2/run"))
            .send(&body)
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let mut reader = BufReader::new(response.body_mut().as_reader());
        let mut read_line = || {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            line.trim_end().to_owned()
        };
        let before: Vec<String> = (0..3).map(|_| read_line()).collect();
        assert_eq!(before, [r#""Opened""#, r#""Done""#, r#"{"Value":[118]}"#]);
        // A request held up in a host call holds up no other.
        let mut other = agent
            .post(&format!("http://{addr}/v2/run"))
            .send(&script(&[OPEN_DEFAULT, &get(0, "k")]))
            .unwrap();
        assert_eq!(
            other.body_mut().read_to_string().unwrap(),
            "\"Opened\"\n{\"Value\":[118]}\n"
        );
        gate.open();
        let after: Vec<String> = (0..3).map(|_| read_line()).collect();
        assert_eq!(after, [r#"{"Value":null}"#, r#"{"Value":[118]}"#, ""]);

        stop.send(()).unwrap();
        runtime.block_on(serving).unwrap().unwrap();
    }

    /// With a custom manager, a granted label it does not define refuses the application as kvhost's own
    /// backends do.
    #[test]
    fn a_label_the_custom_manager_does_not_define_refuses_the_application() {
        let app = AppDir::new(&[(
            "driver-v2",
            "http-driver-v2",
            "/v2/...",
            &["default", "cache"],
        )]);
        let gate = Arc::new(Gate::default());
        let told = Arc::new(Mutex::new(Vec::new()));
        let error = runtime()
            .block_on(Server::bind(options(&app, &gate, &told)))
            .unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains(r#"unknown key_value_stores label "cache" for component "driver-v2""#),
            "{message}"
        );
        assert!(
            error
                .chain()
                .any(|cause| cause.downcast_ref::<kvhost::LoadError>().is_some()),
            "the LoadError is in the chain: {error:?}"
        );
    }
}

/// One application with every version's HTTP driver: what one writes, each of the others reads, as in Spin,
/// whose one state serves every version.
#[test]
fn every_versions_driver_in_one_application_shares_the_stores() {
    let app = AppDir::every_driver();
    let server = app.serve(&[]);
    let (status, body) = server.post("/wasi/run", &script(&[OPEN_DEFAULT, &set(0, "k", b"all")]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(lines(&body), [r#""Opened""#, r#""Done""#]);
    for route in EVERY_DRIVER {
        let (status, body) = server.post(route, &script(&[OPEN_DEFAULT, &get(0, "k")]));
        assert_eq!(status, 200, "{route}: {body}");
        assert_eq!(
            lines(&body),
            [r#""Opened""#, r#"{"Value":[97,108,108]}"#],
            "{route}"
        );
    }
}

/// `--listen` takes a host name, resolved as Spin resolves it: `localhost` is 127.0.0.1 even where the system
/// lists ::1 first.
#[test]
fn listen_takes_a_host_name_as_spin_does() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    let server = app.serve(&["--listen", "localhost:0"]);
    assert_eq!(
        server.addr.ip(),
        std::net::Ipv4Addr::LOCALHOST,
        "localhost resolves to 127.0.0.1"
    );
    let (status, body) = server.post("/v2/run", &script(&[OPEN_DEFAULT]));
    assert_eq!((status, lines(&body)), (200, vec![r#""Opened""#]));
    drop(server);

    // (No name that needs a DNS server: the tests stay on this machine.)
    let output = kvhost_serve(app.dir.path(), &["--listen", "localhost:notaport"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("could not resolve the listen address \"localhost:notaport\""),
        "{stderr}"
    );
    let output = kvhost_serve(app.dir.path(), &["--listen", "localhost"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("give HOST:PORT"), "{stderr}");
}

/// A `type = "spin"` store without `path` is kept in memory, as in Spin: instances of one server share it, no file
/// holds it, and a restart starts it empty.
#[test]
fn a_spin_store_without_a_path_is_kept_in_memory() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["cache"])]);
    std::fs::write(
        app.path("runtime-config.toml"),
        "[key_value_store.cache]\ntype = \"spin\"\n",
    )
    .unwrap();
    let args = ["--runtime-config-file", "runtime-config.toml"];
    let server = app.serve(&args);
    let (status, body) = server.post("/v2/run", &script(&[OPEN_CACHE, &set(1, "k", b"v")]));
    assert_eq!(
        (status, lines(&body)),
        (200, vec![r#""Opened""#, r#""Done""#])
    );
    let (_, body) = server.post("/v2/run", &script(&[OPEN_CACHE, &get(1, "k")]));
    assert_eq!(
        lines(&body),
        [r#""Opened""#, r#"{"Value":[118]}"#],
        "the next instance reads it"
    );
    assert!(server.terminate().success());
    assert!(
        !app.path(".spin").exists(),
        "no database was written (kvhost used to put it in .spin/sqlite_key_value.db)"
    );
    let server = app.serve(&args);
    let (_, body) = server.post("/v2/run", &script(&[OPEN_CACHE, &get(1, "k")]));
    assert_eq!(
        lines(&body),
        [r#""Opened""#, r#"{"Value":null}"#],
        "gone after a restart"
    );
}

/// `--state-dir ""` (or `state_dir = ""` in the runtime config) means no state directory: "default" is in memory,
/// as in Spin; the runtime config's `state_dir` is used when the command line gives none.
#[test]
fn the_state_directory_can_be_none_or_come_from_the_runtime_config() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    let server = app.serve(&["--state-dir", ""]);
    let (status, body) = server.post("/v2/run", &script(&[OPEN_DEFAULT, &set(0, "k", b"v")]));
    assert_eq!(
        (status, lines(&body)),
        (200, vec![r#""Opened""#, r#""Done""#])
    );
    drop(server);
    assert!(!app.path(".spin").exists(), "nothing was written to .spin");

    std::fs::write(
        app.path("runtime-config.toml"),
        "state_dir = \"from-config\"\n",
    )
    .unwrap();
    let server = app.serve(&["--runtime-config-file", "runtime-config.toml"]);
    server.post("/v2/run", &script(&[OPEN_DEFAULT, &set(0, "k", b"v")]));
    drop(server);
    assert!(app.path("from-config/sqlite_key_value.db").is_file());
    assert!(!app.path(".spin").exists());

    let server = app.serve(&[
        "--runtime-config-file",
        "runtime-config.toml",
        "--state-dir",
        "flag",
    ]);
    server.post("/v2/run", &script(&[OPEN_DEFAULT, &set(0, "k", b"v")]));
    drop(server);
    assert!(
        app.path("flag/sqlite_key_value.db").is_file(),
        "--state-dir wins over the runtime config"
    );
}

/// A missing source is reported as missing, naming the component and the path, without the core-module hint.
#[test]
fn a_missing_wasm_file_is_reported_as_missing() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    std::fs::remove_file(app.path("http-driver-v2.wasm")).unwrap();
    let output = kvhost_serve(app.dir.path(), &[]).output().unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing was served");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the source of the component \"driver-v2\", ")
            && stderr.contains("http-driver-v2.wasm, does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("core module"), "{stderr}");
}

/// A core module kvhost cannot componentize is refused naming the file and what to do.
#[test]
fn a_core_module_without_component_type_information_is_refused_saying_what_to_do() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    std::fs::write(
        app.path("http-driver-v2.wasm"),
        wat::parse_str(r#"(module (func (export "handle-http-request")))"#).unwrap(),
    )
    .unwrap();
    let output = kvhost_serve(app.dir.path(), &[]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("http-driver-v2.wasm"), "{stderr}");
    assert!(stderr.contains("old Spin SDK"), "{stderr}");
    assert!(
        stderr.contains("rebuild it with spin-sdk 2.0 or newer"),
        "{stderr}"
    );
}

/// Spin's `--key-value` sets keys in "default" before serving; `-f`/`--from` names the application; `-e` sets an
/// environment variable (checked here only for being accepted: the drivers do not read their environment).
#[test]
fn key_value_from_and_env_are_taken_as_spin_takes_them() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    let dir = app.dir.path().to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvhost"))
        .args(["serve", "--listen", "127.0.0.1:0", "--from", dir])
        .args([
            "--key-value",
            "greeting=hi=there",
            "-e",
            "MODE=test",
            "--state-dir",
            "",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = collect(child.stderr.take().unwrap());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("kvhost: serving kvconf-driver on http://")
        .unwrap_or_else(|| panic!("{line:?}; stderr:\n{}", stderr.lock().unwrap()))
        .to_owned();
    let server = Server {
        child,
        addr: addr.parse().unwrap(),
        stderr,
    };
    let (_, body) = server.post("/v2/run", &script(&[OPEN_DEFAULT, &get(0, "greeting")]));
    let expected = format!(
        r#"{{"Value":[{}]}}"#,
        b"hi=there"
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(lines(&body), [r#""Opened""#, expected.as_str()]);

    let output = kvhost_serve(app.dir.path(), &["--key-value", "no-equals"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("write a key and its value as KEY=VALUE"),
        "{stderr}"
    );

    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &[])]);
    let output = kvhost_serve(app.dir.path(), &["--key-value", "k=v"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("to set the --key-value pairs"), "{stderr}");
}

/// A bare .wasm given as the application is refused saying what to write instead.
#[test]
fn a_bare_wasm_file_as_the_application_is_refused() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    let output = Command::new(env!("CARGO_BIN_EXE_kvhost"))
        .current_dir(app.dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "-f",
            "http-driver-v2.wasm",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is a WebAssembly file, not an application manifest"),
        "{stderr}"
    );
}

#[test]
fn a_guest_opening_without_end_gets_store_table_full_by_default_and_others_are_served() {
    // Spin's store table holds 256 handles; wasmtime would trap the guest only at 100,000 live handles.
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    let server = app.serve(&[]);
    let opens: Vec<String> = (0..300)
        .map(|slot| format!(r#"{{"Open":{{"slot":{slot},"label":"default"}}}}"#))
        .collect();
    let opens: Vec<&str> = opens.iter().map(String::as_str).collect();
    let (status, body) = server.post("/v2/run", &script(&opens));
    assert_eq!(status, 200, "{body}\n{}", server.stderr());
    let lines = lines(&body);
    assert_eq!(lines.len(), 300, "{body}");
    assert!(lines[..256].iter().all(|l| *l == r#""Opened""#), "{body}");
    assert!(
        lines[256..]
            .iter()
            .all(|l| *l == r#"{"Failed":"StoreTableFull"}"#),
        "{body}"
    );
    // The next request is a fresh instance, with a table of its own.
    let (status, body) = server.post("/v2/run", &script(&[OPEN_DEFAULT, &get(0, "k")]));
    assert_eq!(
        (status, body.as_str()),
        (200, "\"Opened\"\n{\"Value\":null}\n")
    );
    // `none` lifts the bound.
    drop(server);
    let server = app.serve(&["--max-open-stores", "none"]);
    let (_, body) = server.post("/v2/run", &script(&opens));
    assert!(body.lines().all(|l| l == r#""Opened""#), "{body}");
}

#[test]
fn a_guest_past_the_memory_limit_fails_its_own_request_and_the_next_is_served() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    // Reading a mebibyte value twenty times: the driver keeps every outcome, so it needs over 20 MiB.
    let reads: Vec<String> = (0..20).map(|_| get(0, "big")).collect();
    let reads: Vec<&str> = std::iter::once(OPEN_DEFAULT)
        .chain(reads.iter().map(String::as_str))
        .collect();
    let reads = script(&reads);
    // With the default limit (512 MiB) it runs.
    let server = app.serve(&[]);
    let (status, _) = server.post(
        "/v2/run",
        &script(&[OPEN_DEFAULT, &set(0, "big", &[7; 1 << 20])]),
    );
    assert_eq!(status, 200);
    let (status, body) = server.post("/v2/run", &reads);
    assert_eq!((status, body.lines().count()), (200, 21));
    drop(server);
    // With 16 MiB the instance is stopped part-way: its response (already started) is cut off, and the
    // server's stderr names the limit.
    let server = app.serve(&["--max-instance-memory", "16MiB"]);
    let (status, body, complete) = server.post_partial("/v2/run", &reads);
    assert_eq!(status, 200);
    assert!(!complete, "the body was cut off");
    assert!(body.lines().count() < 21, "{} lines", body.lines().count());
    let stderr = server.stderr();
    assert!(
        stderr.contains(
            "past this server's limit of 16777216 bytes per instance (kvhost serve --max-instance-memory)"
        ),
        "{stderr}"
    );
    // The limit is the instance's: the next request, a fresh instance, runs.
    let (status, body) = server.post("/v2/run", &script(&[OPEN_DEFAULT, &get(0, "nothing")]));
    assert_eq!(
        (status, body.as_str()),
        (200, "\"Opened\"\n{\"Value\":null}\n")
    );
}

#[test]
fn a_request_not_answered_by_its_deadline_gets_504_saying_why() {
    // A request stopped part-way through its answer, with other routes served meanwhile, is
    // `hostile::a_guest_that_loops_is_stopped_at_the_deadline`.
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    let server = app.serve(&["--request-timeout", "1"]);
    // A client that sends half its body and waits: the guest, still reading it, has not answered; at the
    // deadline the request gets 504 saying why.
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /v2/run HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n[",
        server.addr
    )
    .unwrap();
    let asked = Instant::now();
    let mut answer = String::new();
    let mut reader = BufReader::new(stream);
    reader.read_line(&mut answer).unwrap();
    assert_eq!(answer, "HTTP/1.1 504 Gateway Timeout\r\n");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    assert!(
        rest.contains(r#"kvhost: the component "driver-v2" did not answer within the request deadline of 1 s (kvhost serve --request-timeout)"#),
        "{rest}"
    );
}

#[test]
fn a_bad_deadline_or_memory_limit_is_refused_saying_what_to_give() {
    let app = AppDir::new(&[("driver-v2", "http-driver-v2", "/v2/...", &["default"])]);
    for (flag, value, says) in [
        ("--request-timeout", "0", "is not a time above 0"),
        ("--request-timeout", "0ms", "is not a time above 0"),
        (
            "--request-timeout",
            "soon",
            "give seconds (60, 0.5, 60s) or milliseconds (500ms), or none",
        ),
        (
            "--max-instance-memory",
            "12XB",
            "give bytes, or a number followed by KiB, MiB or GiB",
        ),
        ("--max-instance-memory", "0MiB", "is not a size above 0"),
    ] {
        let output = kvhost_serve(app.dir.path(), &[flag, value])
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(says) && stderr.contains(flag),
            "{flag} {value}: {stderr}"
        );
    }
}
