//! Hostile guests on `kvhost serve`, one per test, through the suite's HTTP drivers: one that computes for minutes
//! (200,000 key listings), one that allocates without end, one that writes values at the limit (and past it) as
//! fast as it can, one that starts v3 key listings and never reads them, one that traps mid-request, and one that
//! opens stores without end. Each gets a clear failure (or answer) for its own request; meanwhile a well-behaved
//! client's requests to another route keep succeeding within half a second, and the server's peak resident
//! memory stays under 1 GiB.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::serve::{AppDir, OPEN_DEFAULT, Server, get, script, set};

/// Repeats `op` `n` times after an open of "default".
fn repeated(op: &str, n: usize) -> String {
    let mut ops = vec![OPEN_DEFAULT.to_owned()];
    ops.extend(std::iter::repeat_n(op.to_owned(), n));
    script(&ops)
}

/// Serves an application of every driver (the guests' routes) and a well-behaved component on `/ok/...`, with
/// `args`, after filling "default" with 1000 keys and a value at the SIP 010 limit; runs `guest` while a
/// well-behaved client asks `/ok/run` for a key every 20 ms, each answer checked and the slowest under half a second;
/// then checks the server's peak memory is under 1 GiB and its stderr says `reason`, if the server stops the guest.
fn hostile(args: &[&str], guest: impl FnOnce(&Server) + Send, reason: Option<&str>) {
    let _alone = crate::alone();
    let app = AppDir::new(&[
        ("driver-v1", "http-driver-v1", "/v1/...", &["default"]),
        ("driver-v2", "http-driver-v2", "/v2/...", &["default"]),
        ("driver-v3", "http-driver-v3", "/v3/...", &["default"]),
        ("well-behaved", "http-driver-v2", "/ok/...", &["default"]),
    ]);
    let mut args = args.to_vec();
    args.push("--memory");
    let server = app.serve(&args);
    let mut fill = vec![OPEN_DEFAULT.to_owned()];
    fill.extend((0..1000).map(|i| set(0, &format!("key-{i:04}"), b"v")));
    fill.push(set(0, "big", &[1; 1 << 20]));
    let (status, _) = server.post("/v2/run", &script(&fill));
    assert_eq!(status, 200);

    let done = AtomicBool::new(false);
    let (served, slowest) = std::thread::scope(|scope| {
        let well_behaved = scope.spawn(|| {
            let mut slowest = Duration::ZERO;
            let mut served = 0;
            while !done.load(Ordering::SeqCst) {
                let asked = Instant::now();
                let (status, body) =
                    server.post("/ok/run", &script(&[OPEN_DEFAULT, &get(0, "key-0001")]));
                slowest = slowest.max(asked.elapsed());
                assert_eq!(
                    (status, body.as_str()),
                    (200, "\"Opened\"\n{\"Value\":[118]}\n")
                );
                served += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            (served, slowest)
        });
        // The well-behaved client's first requests come before the guest's.
        std::thread::sleep(Duration::from_millis(100));
        guest(&server);
        done.store(true, Ordering::SeqCst);
        well_behaved.join().unwrap()
    });
    let peak = server.peak_memory();
    eprintln!(
        "the well-behaved client: {served} requests, the slowest {:.1} ms; the server's peak resident memory {} MiB",
        slowest.as_secs_f64() * 1e3,
        peak >> 20
    );
    assert!(served >= 3, "{served} requests");
    assert!(
        slowest < Duration::from_millis(500),
        "a well-behaved request took {slowest:?}"
    );
    assert!(peak < 1 << 30, "peak resident memory {peak} bytes");
    if let Some(reason) = reason {
        let stderr = server.stderr();
        assert!(stderr.contains(reason), "{reason}\n{stderr}");
    }
}

#[test]
fn a_guest_that_loops_is_stopped_at_the_deadline() {
    hostile(
        &["--request-timeout", "2000ms"],
        loops_without_end,
        Some(
            r#"stopped an instance of the component "driver-v2": its request ran past the deadline of 2 s (kvhost serve --request-timeout)"#,
        ),
    );
}

#[test]
fn a_guest_that_allocates_without_end_is_stopped_at_the_memory_limit() {
    hostile(
        &["--max-instance-memory", "32MiB"],
        allocates_without_end,
        Some(
            "past this server's limit of 33554432 bytes per instance (kvhost serve --max-instance-memory)",
        ),
    );
}

#[test]
fn a_guest_that_writes_at_the_limit_as_fast_as_it_can_is_answered_and_refused_past_it() {
    hostile(&["--sip010-limits"], writes_at_the_limit, None);
}

#[test]
fn a_guest_that_starts_v3_listings_and_never_reads_them_is_answered() {
    hostile(&[], never_reads_its_listings, None);
}

#[test]
fn a_guest_that_traps_mid_request_fails_that_request() {
    hostile(
        &["--v1-invalid-handle", "trap"],
        traps_mid_request,
        Some(r#"an instance of the component "driver-v1" failed"#),
    );
}

#[test]
fn a_guest_that_opens_without_end_gets_store_table_full() {
    hostile(&[], opens_without_end, None);
}

/// Lists the thousand keys again and again: stopped at the 2 s deadline, its response cut off.
fn loops_without_end(server: &Server) {
    let started = Instant::now();
    let (status, body, complete) =
        server.post_partial("/v2/run", repeated(r#"{"GetKeys":0}"#, 200_000));
    assert_eq!(status, 200);
    assert!(!complete, "cut off at the deadline");
    assert!(
        body.lines().count() > 1,
        "some listings were answered before it"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

/// Reads the mebibyte value a hundred times, keeping every outcome: stopped at the 32 MiB limit.
fn allocates_without_end(server: &Server) {
    let (status, body, complete) = server.post_partial("/v2/run", repeated(&get(0, "big"), 100));
    assert_eq!(status, 200);
    assert!(!complete, "cut off at the memory limit");
    assert!(body.lines().count() < 101);
}

/// Writes values at the limit and one byte past it, request after request for two seconds: each at the limit is
/// stored, each past it refused naming the limit.
fn writes_at_the_limit(server: &Server) {
    let at = set(0, "heavy", &[2; 1 << 20]);
    let past = set(0, "heavy", &[3; (1 << 20) + 1]);
    let started = Instant::now();
    let mut requests = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let (status, body) = server.post(
            "/v2/run",
            &script(&[OPEN_DEFAULT.into(), at.clone(), past.clone()]),
        );
        assert_eq!(status, 200, "{body}");
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines[..2], [r#""Opened""#, r#""Done""#]);
        assert!(
            lines[2].contains("value of 1048577 bytes exceeds this host's limit of 1048576 bytes"),
            "{}",
            lines[2]
        );
        requests += 1;
    }
    assert!(requests > 0);
}

/// Starts five hundred v3 key listings and drops each unread: answered, one line each.
fn never_reads_its_listings(server: &Server) {
    let (status, body) = server.post(
        "/v3/run",
        &repeated(r#"{"GetKeysPartial":{"slot":0,"take":0}}"#, 500),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.lines().count(), 501);
    assert!(
        body.lines().skip(1).all(|l| l == r#"{"Keys":[]}"#),
        "{body}"
    );
}

/// Uses a closed v1 handle under `--v1-invalid-handle trap`: cut off after the lines before the trap.
fn traps_mid_request(server: &Server) {
    let ops = [
        OPEN_DEFAULT.to_owned(),
        get(0, "key-0002"),
        r#"{"Close":0}"#.to_owned(),
        get(0, "key-0002"),
    ];
    let (status, body, complete) = server.post_partial("/v1/run", script(&ops));
    assert_eq!(status, 200);
    assert!(!complete, "cut off at the trap");
    assert_eq!(body.lines().count(), 3, "{body}");
}

/// Opens three hundred stores: 256 are opened, then store-table-full.
fn opens_without_end(server: &Server) {
    let opens: Vec<String> = (0..300)
        .map(|slot| format!(r#"{{"Open":{{"slot":{slot},"label":"default"}}}}"#))
        .collect();
    let (status, body) = server.post("/v2/run", &script(&opens));
    assert_eq!(status, 200, "{body}");
    let full = body
        .lines()
        .filter(|l| *l == r#"{"Failed":"StoreTableFull"}"#)
        .count();
    assert_eq!(full, 44, "{body}");
}
