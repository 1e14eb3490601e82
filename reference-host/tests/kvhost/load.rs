//! `kvhost serve` under load: 32 clients at once against two applications, each application with two labels,
//! through the wasi:keyvalue driver (p2) and the v3 driver (p3, key listings as streams). Every response must be
//! a 200 with one answer per operation, every read must see the client's own write, the counters must equal the
//! increments acknowledged, and nothing written through one label or one application may be seen through
//! another. Latency (p50, p99) and requests per second are printed.
//!
//! `load_keeps_every_write_apart` runs 32 clients of 10 requests in `cargo test`; `load_soak` (ignored) 32
//! clients of 200 requests, the figures recorded in the README's "Reliability" section.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::serve::{AppDir, OPEN_DEFAULT, Server, get, script, set, value_of};

const CLIENTS: usize = 32;
const LABELS: [&str; 2] = ["default", "cache"];

/// An application whose two components, wasi:keyvalue (p2) and v3 (p3), are granted both labels, "cache" in a
/// SQLite file of its own.
fn application() -> AppDir {
    let app = AppDir::new(&[
        (
            "driver-wasi",
            "http-driver-wasi-keyvalue",
            "/wasi/...",
            &["default", "cache"],
        ),
        (
            "driver-v3",
            "http-driver-v3",
            "/v3/...",
            &["default", "cache"],
        ),
    ]);
    std::fs::write(
        app.path("runtime-config.toml"),
        "[key_value_store.cache]\ntype = \"spin\"\npath = \"cache.db\"\n",
    )
    .unwrap();
    app
}

fn open(label: &str) -> String {
    format!(r#"{{"Open":{{"slot":0,"label":"{label}"}}}}"#)
}

fn increment(key: &str) -> String {
    format!(r#"{{"Increment":{{"slot":0,"key":"{key}","delta":1}}}}"#)
}

/// What the clients of one application were told.
#[derive(Default)]
struct Told {
    /// Acknowledged increments of "hits", by label.
    increments: BTreeMap<&'static str, i64>,
    /// Every request's time, from sending it to its last byte.
    latencies: Vec<Duration>,
}

/// One client: `requests` requests, each one of four kinds, checking every answer.
fn client(server: &Server, app: usize, c: usize, requests: usize, told: &Mutex<Told>) {
    let mut latencies = Vec::with_capacity(requests);
    let mut increments: BTreeMap<&'static str, i64> = BTreeMap::new();
    for r in 0..requests {
        let label = LABELS[(c + r) % 2];
        // Keys name their application and label, so a key seen elsewhere shows which wall leaked.
        let key = format!("a{app}-{label}-c{c:02}-r{r:03}");
        let value = format!("{key} value").repeat(1 + r % 7);
        let (route, ops, expected): (&str, Vec<String>, Vec<String>) = match r % 4 {
            0 => (
                "/wasi/run",
                vec![open(label), increment("hits")],
                vec![r#""Opened""#.into()],
            ),
            1 => (
                "/wasi/run",
                vec![open(label), set(0, &key, value.as_bytes()), get(0, &key)],
                vec![
                    r#""Opened""#.into(),
                    r#""Done""#.into(),
                    format!(
                        r#"{{"Value":[{}]}}"#,
                        value
                            .bytes()
                            .map(|b| b.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                ],
            ),
            2 => (
                "/v3/run",
                vec![
                    open(label),
                    set(0, &key, value.as_bytes()),
                    r#"{"GetKeys":0}"#.into(),
                ],
                vec![r#""Opened""#.into(), r#""Done""#.into()],
            ),
            _ => (
                "/v3/run",
                vec![OPEN_DEFAULT.into(), get(0, "never-written")],
                vec![r#""Opened""#.into(), r#"{"Value":null}"#.into()],
            ),
        };
        let sent = Instant::now();
        let (status, body) = server.post(route, &script(&ops));
        latencies.push(sent.elapsed());
        assert_eq!(status, 200, "app {app} client {c} request {r}: {body}");
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(
            lines.len(),
            ops.len(),
            "app {app} client {c} request {r}: {body}"
        );
        for (line, expected) in lines.iter().zip(&expected) {
            assert_eq!(line, expected, "app {app} client {c} request {r}");
        }
        match r % 4 {
            0 => {
                assert!(lines[1].starts_with(r#"{"Counter":"#), "{}", lines[1]);
                *increments.entry(label).or_default() += 1;
            }
            2 => {
                // The listing has this client's key, and only keys of this application and label.
                let listed: Vec<&str> = lines[2]
                    .strip_prefix(r#"{"Keys":["#)
                    .and_then(|rest| rest.strip_suffix("]}"))
                    .unwrap_or_else(|| panic!("a listing: {}", lines[2]))
                    .split(',')
                    .map(|key| key.trim_matches('"'))
                    .collect();
                assert!(listed.contains(&key.as_str()), "{key} is listed");
                let own = format!("a{app}-{label}-");
                assert!(
                    listed.iter().all(|k| k.starts_with(&own) || *k == "hits"),
                    "app {app} label {label} lists only its own keys: {listed:?}"
                );
            }
            _ => {}
        }
    }
    let mut told = told.lock().unwrap();
    told.latencies.extend(latencies);
    for (label, n) in increments {
        *told.increments.entry(label).or_default() += n;
    }
}

/// The counter "hits" under `label`, read through `server`.
fn hits(server: &Server, label: &str) -> i64 {
    let (status, body) = server.post("/wasi/run", &script(&[&open(label), &get(0, "hits")]));
    assert_eq!(status, 200, "{body}");
    value_of(body.lines().nth(1).unwrap()).map_or(0, |digits| {
        String::from_utf8(digits).unwrap().parse().unwrap()
    })
}

fn load(requests: usize) {
    let _alone = crate::alone();
    let apps = [application(), application()];
    let servers: Vec<Server> = apps
        .iter()
        .map(|app| {
            let config = app.path("runtime-config.toml");
            app.serve(&["--runtime-config-file", config.to_str().unwrap()])
        })
        .collect();
    let told = [Mutex::new(Told::default()), Mutex::new(Told::default())];
    let started = Instant::now();
    std::thread::scope(|scope| {
        for c in 0..CLIENTS {
            // Half the clients on each application.
            let app = c % 2;
            let (server, told) = (&servers[app], &told[app]);
            scope.spawn(move || client(server, app, c, requests, told));
        }
    });
    let took = started.elapsed();
    let mut latencies = Vec::new();
    for (app, (server, told)) in servers.iter().zip(&told).enumerate() {
        let told = told.lock().unwrap();
        for label in LABELS {
            let acknowledged = told.increments.get(label).copied().unwrap_or(0);
            assert_eq!(
                hits(server, label),
                acknowledged,
                "app {app} label {label}: the counter equals the increments acknowledged"
            );
        }
        latencies.extend(told.latencies.iter().copied());
    }
    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    eprintln!(
        "{CLIENTS} clients, {} requests to two applications in {:.2} s: {:.0} requests/s, latency p50 {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms; every answer as expected, counters equal to the increments acknowledged",
        latencies.len(),
        took.as_secs_f64(),
        latencies.len() as f64 / took.as_secs_f64(),
        percentile(50).as_secs_f64() * 1e3,
        percentile(99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
}

#[test]
fn load_keeps_every_write_apart() {
    load(10);
}

#[test]
#[ignore = "32 clients of 200 requests, for the figures; run with --ignored"]
fn load_soak() {
    load(200);
}
