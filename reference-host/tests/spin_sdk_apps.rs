//! `kvhost serve` runs real Spin applications built from the published Rust SDK: `kv-app-sdk5` (spin-sdk 5.2.0:
//! `wasi:http/incoming-handler@0.2.0`, `fermyon:spin/key-value@2.0.0`), the same source built for
//! `wasm32-wasip1` as Spin's documentation builds Rust apps (`kv-app-sdk5-wasip1`: a core module, which kvhost
//! componentizes on load as Spin does), and `kv-app-sdk7` (spin-sdk 7.0.0: `wasi:http/handler@0.3.0`,
//! `spin:key-value/key-value@3.0.0`), committed prebuilt under `guest-fixtures/spin-sdk-apps/prebuilt/` (its
//! README says what they answer).
//!
//! Each test writes a `spin.toml` and copies the app into a temporary directory, starts `kvhost serve` on port 0,
//! reads the address from its "serving" line, and talks HTTP/1.1 to it over a plain `TcpStream`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The directory of the Spin SDK apps.
fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-fixtures/spin-sdk-apps")
}

/// A prebuilt app's component.
fn prebuilt(app: &str) -> PathBuf {
    apps_dir().join("prebuilt").join(format!("{app}.wasm"))
}

/// A temporary application directory holding a `spin.toml` that routes everything to `app`, granted "default".
fn app_dir(app: &str) -> tempfile::TempDir {
    app_dir_with(app, "")
}

/// [`app_dir`], with `extra` lines in the component's table.
fn app_dir_with(app: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(prebuilt(app), dir.path().join(format!("{app}.wasm")))
        .unwrap_or_else(|e| panic!("{app}.wasm is there to copy: {e}"));
    let manifest = format!(
        "spin_manifest_version = 2\n\n\
         [application]\nname = \"{app}\"\nversion = \"0.1.0\"\n\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"kv\"\n\n\
         [component.kv]\nsource = \"{app}.wasm\"\nkey_value_stores = [\"default\"]\n{extra}\n"
    );
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    dir
}

/// A running `kvhost serve`; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Serves the application in `dir` on 127.0.0.1, port 0, with `args` before the path, and waits for the
    /// "kvhost: serving <app> on http://<addr>" line.
    fn start(dir: &Path, app: &str, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kvhost"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kvhost starts");
        // Both pipes are drained in the background so the server never blocks on a full one.
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut err = child.stderr.take().unwrap();
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let prefix = format!("kvhost: serving {app} on http://");
        let addr = loop {
            match lines.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix(&prefix) {
                        break addr.trim().parse::<SocketAddr>().unwrap_or_else(|e| {
                            panic!("the serving line names an address: {line:?}: {e}")
                        });
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = stderr_reader.join();
                    panic!(
                        "kvhost serve printed no line starting {prefix:?} ({e}); its stderr:\n{}",
                        stderr.lock().unwrap()
                    );
                }
            }
        };
        // Later stdout lines (the routes) are read and dropped by the thread above.
        std::thread::spawn(move || while lines.recv().is_ok() {});
        Server {
            child,
            addr,
            stderr,
        }
    }

    /// Sends one request and returns the status and body; panics, showing the server's stderr, if the
    /// exchange fails.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        http(self.addr, method, path, body).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: {e}; kvhost's stderr:\n{}",
                self.stderr.lock().unwrap()
            )
        })
    }

    /// `GET`, expecting 200, returning the body.
    fn get_ok(&self, path: &str) -> Vec<u8> {
        let (status, body) = self.request("GET", path, b"");
        assert_eq!(
            status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    /// `GET /keys`, expecting 200, as text.
    fn keys(&self) -> String {
        String::from_utf8(self.get_ok("/keys")).expect("the key listing is text")
    }

    /// `PUT`, expecting 200 `stored`.
    fn put(&self, path: &str, value: &[u8]) {
        let (status, body) = self.request("PUT", path, value);
        assert_eq!(
            (status, body.as_slice()),
            (200, &b"stored\n"[..]),
            "PUT {path}"
        );
    }

    /// `DELETE`, expecting 200 `deleted`.
    fn delete(&self, path: &str) {
        let (status, body) = self.request("DELETE", path, b"");
        assert_eq!(
            (status, body.as_slice()),
            (200, &b"deleted\n"[..]),
            "DELETE {path}"
        );
    }

    /// Asserts that `GET path` is a 404 for a missing key.
    fn assert_absent(&self, path: &str, key: &str) {
        let (status, body) = self.request("GET", path, b"");
        assert_eq!(
            (status, String::from_utf8_lossy(&body).into_owned()),
            (404, format!("no such key: {key}\n")),
            "GET {path}"
        );
    }
}

impl Drop for Server {
    /// SIGTERM first, so the server removes its temporary copies of the components' `files`; SIGKILL if it has not
    /// stopped within 10 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`): the status and the body, which may be
/// sent with a `Content-Length`, chunked, or up to the end of the connection.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut reader = BufReader::new(stream);
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);

    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let mut content_length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(invalid("connection closed in the headers".into()));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header {line:?}")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| invalid(format!("bad content-length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }

    let mut response = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size_hex = size_line.trim_end().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                break; // Trailers, if any, and the final CRLF are left unread: the connection closes.
            }
            let start = response.len();
            response.resize(start + size, 0);
            reader.read_exact(&mut response[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = content_length {
        response.resize(length, 0);
        reader.read_exact(&mut response)?;
    } else {
        reader.read_to_end(&mut response)?;
    }
    Ok((status, response))
}

/// The same conversation with either app: every route, values that are not text, a large value, and keys that
/// need percent-encoding.
fn exercise(server: &Server) {
    // A fresh application: an empty default store.
    assert_eq!(server.keys(), "");
    server.assert_absent("/kv/greeting", "greeting");

    // Values round-trip, and a second set overwrites the first.
    server.put("/kv/greeting", b"hello");
    assert_eq!(server.get_ok("/kv/greeting"), b"hello");
    server.put("/kv/greeting", b"hello again");
    assert_eq!(server.get_ok("/kv/greeting"), b"hello again");

    // A key with a slash and a space, and a value that is not UTF-8.
    let binary = [0xff, 0x00, 0xfe, b'\n', 0x80];
    server.put("/kv/a%2Fb%20c", &binary);
    assert_eq!(server.get_ok("/kv/a%2Fb%20c"), binary);

    // 200 KiB, more than one chunk of any body stream on the way in and out.
    let large: Vec<u8> = (0..200 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    server.put("/kv/large", &large);
    let got = server.get_ok("/kv/large");
    assert!(
        got == large,
        "the 200 KiB value came back as {} other bytes",
        got.len()
    );

    // An empty value is a value, not an absence.
    server.put("/kv/empty", b"");
    assert_eq!(server.get_ok("/kv/empty"), b"");

    assert_eq!(server.keys(), "a/b c\nempty\ngreeting\nlarge\n");

    // Deletes remove the key from reads and the listing; deleting an absent key succeeds.
    server.delete("/kv/greeting");
    server.assert_absent("/kv/greeting", "greeting");
    server.delete("/kv/greeting");
    server.delete("/kv/never-set");
    server.delete("/kv/a%2Fb%20c");
    server.assert_absent("/kv/a%2Fb%20c", "a/b c");
    assert_eq!(server.keys(), "empty\nlarge\n");

    // What is not a key-value request.
    assert_eq!(server.request("GET", "/nowhere", b"").0, 404);
    assert_eq!(server.request("POST", "/keys", b"").0, 405);
    assert_eq!(server.request("POST", "/kv/x", b"v").0, 405);
    assert_eq!(server.request("GET", "/kv/", b"").0, 400);
    assert_eq!(server.request("GET", "/kv/%zz", b"").0, 400);
    assert_eq!(server.keys(), "empty\nlarge\n");
}

#[test]
fn spin_sdk_5_app_serves_the_default_store_over_http() {
    let dir = app_dir("kv-app-sdk5");
    let server = Server::start(dir.path(), "kv-app-sdk5", &[]);
    exercise(&server);
}

/// Built for wasm32-wasip1, the way Spin's documentation and SDK templates build Rust apps: a core module, which
/// kvhost componentizes when it loads it, and which then answers exactly as the wasm32-wasip2 build does.
#[test]
fn spin_sdk_5_wasip1_module_is_componentized_and_serves_the_default_store_over_http() {
    let dir = app_dir("kv-app-sdk5-wasip1");
    let server = Server::start(dir.path(), "kv-app-sdk5-wasip1", &[]);
    exercise(&server);
}

/// The wasip1 and wasip2 builds of one app, served in turn on one state directory, share the default store.
#[test]
fn the_wasip1_and_wasip2_builds_share_one_default_store() {
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let wasip1 = app_dir("kv-app-sdk5-wasip1");
    let wasip2 = app_dir("kv-app-sdk5");
    {
        let server = Server::start(
            wasip1.path(),
            "kv-app-sdk5-wasip1",
            &["--state-dir", state_arg],
        );
        server.put("/kv/from-wasip1", b"written by the core module");
    }
    {
        let server = Server::start(wasip2.path(), "kv-app-sdk5", &["--state-dir", state_arg]);
        assert_eq!(
            server.get_ok("/kv/from-wasip1"),
            b"written by the core module"
        );
        server.put("/kv/from-wasip2", b"written by the component");
    }
    let server = Server::start(
        wasip1.path(),
        "kv-app-sdk5-wasip1",
        &["--state-dir", state_arg],
    );
    assert_eq!(server.keys(), "from-wasip1\nfrom-wasip2\n");
    assert_eq!(
        server.get_ok("/kv/from-wasip2"),
        b"written by the component"
    );
}

/// A component's `files` are what it reads under `/`, read-only (as `spin up` mounts them), in both builds; with
/// `--allow-transient-write` it may write them, and the next instance reads what it wrote.
#[test]
fn files_are_mounted_read_only_as_spin_mounts_them() {
    for app in ["kv-app-sdk5", "kv-app-sdk5-wasip1"] {
        let dir = app_dir_with(
            app,
            "files = [\"notes.txt\", { source = \"assets\", destination = \"/data\" }]\n\
             exclude_files = [\"assets/secret.txt\"]",
        );
        std::fs::write(dir.path().join("notes.txt"), "top-level notes").unwrap();
        std::fs::create_dir_all(dir.path().join("assets/deep")).unwrap();
        std::fs::write(dir.path().join("assets/deep/a.txt"), "deep a").unwrap();
        std::fs::write(dir.path().join("assets/secret.txt"), "excluded").unwrap();
        std::fs::write(dir.path().join("unlisted.txt"), "not in files").unwrap();

        let server = Server::start(dir.path(), app, &[]);
        assert_eq!(
            server.get_ok("/file/notes.txt"),
            b"top-level notes",
            "{app}"
        );
        assert_eq!(server.get_ok("/file/data/deep/a.txt"), b"deep a", "{app}");
        for absent in [
            "data/secret.txt",
            "unlisted.txt",
            "spin.toml",
            "assets/deep/a.txt",
        ] {
            let (status, body) = server.request("GET", &format!("/file/{absent}"), b"");
            assert_eq!(
                status,
                404,
                "{app}: /{absent}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let (status, body) = server.request("PUT", "/file/notes.txt", b"overwritten");
        assert_eq!(
            status,
            500,
            "{app}: a read-only file is not written: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            server.get_ok("/file/notes.txt"),
            b"top-level notes",
            "{app}"
        );
        drop(server);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
            "top-level notes",
            "{app}: the application's own file is untouched"
        );

        let server = Server::start(dir.path(), app, &["--allow-transient-write"]);
        let (status, body) = server.request("PUT", "/file/notes.txt", b"overwritten");
        assert_eq!(status, 200, "{app}: {}", String::from_utf8_lossy(&body));
        assert_eq!(server.get_ok("/file/notes.txt"), b"overwritten", "{app}");
        drop(server);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
            "top-level notes",
            "{app}: a transient write changes kvhost's copy, not the application's file"
        );
    }
}

#[test]
fn spin_sdk_7_app_serves_the_default_store_over_http() {
    let dir = app_dir("kv-app-sdk7");
    let server = Server::start(dir.path(), "kv-app-sdk7", &[]);
    exercise(&server);
}

/// One SQLite state directory, served in turn by the spin-sdk 5 app (key-value v2), the spin-sdk 7 app (v3),
/// and the spin-sdk 5 app again: what each wrote survives the restart and is read through the other version.
#[test]
fn both_sdks_share_one_default_store_across_restarts() {
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let sdk5 = app_dir("kv-app-sdk5");
    let sdk7 = app_dir("kv-app-sdk7");

    {
        let server = Server::start(sdk5.path(), "kv-app-sdk5", &["--state-dir", state_arg]);
        server.put("/kv/from-v2", b"written by spin-sdk 5");
        server.put("/kv/doomed", b"to be deleted by spin-sdk 7");
    }
    assert!(
        state.path().join("sqlite_key_value.db").is_file(),
        "the default store is the SQLite file in --state-dir"
    );
    {
        let server = Server::start(sdk7.path(), "kv-app-sdk7", &["--state-dir", state_arg]);
        assert_eq!(server.keys(), "doomed\nfrom-v2\n");
        assert_eq!(server.get_ok("/kv/from-v2"), b"written by spin-sdk 5");
        server.put("/kv/from-v3", b"written by spin-sdk 7");
        server.delete("/kv/doomed");
    }
    {
        let server = Server::start(sdk5.path(), "kv-app-sdk5", &["--state-dir", state_arg]);
        assert_eq!(server.keys(), "from-v2\nfrom-v3\n");
        assert_eq!(server.get_ok("/kv/from-v3"), b"written by spin-sdk 7");
        server.assert_absent("/kv/doomed", "doomed");
    }
}

/// The committed apps are what their sources build (`guest-fixtures/spin-sdk-apps/build.sh --check`).
///
/// A from-scratch build of both apps took 1m54s to 3m42s on the project's 2-core machine (the apps' README has the
/// figures), more than the rest of this crate's tests together, so it runs only when asked.
#[test]
#[ignore = "rebuilds the Spin SDK apps from scratch (minutes): cargo test --workspace --test spin_sdk_apps -- --ignored"]
fn committed_spin_sdk_apps_match_what_their_sources_build() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            let targets = String::from_utf8_lossy(&o.stdout);
            targets.contains("wasm32-wasip2") && targets.contains("wasm32-wasip1")
        })
        .unwrap_or(false);
    assert!(
        installed,
        "this check rebuilds the Spin SDK apps and needs the wasm32-wasip2 and wasm32-wasip1 targets: run \
         `rustup target add wasm32-wasip2 wasm32-wasip1`"
    );
    let output = Command::new("bash")
        .arg(apps_dir().join("build.sh"))
        .arg("--check")
        .output()
        .expect("running guest-fixtures/spin-sdk-apps/build.sh --check");
    assert!(
        output.status.success(),
        "guest-fixtures/spin-sdk-apps/build.sh --check failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The wasip1 build is what the componentizing test means it to be: a core module (not a component), exporting
/// the wasi:http 0.2 handler and importing key-value v2 by their WIT names, with wit-bindgen's component-type
/// sections and `wasi_snapshot_preview1` imports (what the adapter stands in for).
#[test]
fn the_wasip1_build_is_a_core_module_with_component_type_sections() {
    let bytes = std::fs::read(prebuilt("kv-app-sdk5-wasip1")).unwrap();
    assert_eq!(bytes[..8], *b"\0asm\x01\0\0\0", "a core module, version 1");
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|window| window == needle);
    for needle in [
        &b"wasi:http/incoming-handler@0.2.0#handle"[..],
        b"fermyon:spin/key-value@2.0.0",
        b"component-type:wit-bindgen",
        b"wasi_snapshot_preview1",
    ] {
        assert!(
            contains(needle),
            "it holds {:?}",
            String::from_utf8_lossy(needle)
        );
    }
}

/// The two apps are one of each kind the test means to cover: a wasi:http 0.2 app on key-value v2 and a
/// wasi:http 0.3 app on key-value v3 (so a rebuild with other SDK versions cannot quietly cover less).
#[test]
fn the_apps_are_one_wasi_http_0_2_and_one_0_3_component() {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model_async(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    for (app, import, export) in [
        (
            "kv-app-sdk5",
            "fermyon:spin/key-value@2.0.0",
            "wasi:http/incoming-handler@0.2.0",
        ),
        (
            "kv-app-sdk7",
            "spin:key-value/key-value@3.0.0",
            "wasi:http/handler@0.3.0",
        ),
    ] {
        let component = wasmtime::component::Component::from_file(&engine, prebuilt(app)).unwrap();
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let exports: Vec<String> = ty
            .exports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        assert!(
            imports.iter().any(|i| i == import),
            "{app} imports {imports:?}, not {import}"
        );
        assert_eq!(exports, [export], "{app}'s exports");
        let key_value: Vec<&String> = imports
            .iter()
            .filter(|i| i.contains("key-value") || i.contains("keyvalue"))
            .collect();
        assert_eq!(key_value, [import], "{app}'s key-value imports");
    }
}
