//! `kvconf-hostile-runtime`: a runtime that misbehaves over HTTP, for the self-test of `kvconf run --adapter`
//! (`tests/hostile_runtimes.rs`). It is no key-value host at all: it answers `GET /` (the adapter's readiness
//! probe) and answers every `POST` (a case's script, or kvconf's reset between cases) in one hostile way.
//!
//! ```text
//! kvconf-hostile-runtime --mode MODE --listen 127.0.0.1:PORT [--pid-file FILE]
//! ```
//!
//! Modes: `garbage` (a body that is not outcome lines), `truncated` (a `Content-Length` it does not keep),
//! `endless-lines` (valid outcome lines without end), `endless-line` (one line without end), `silent` (reads the
//! request, never answers), `exit` (exits part-way through its answer), `not-ready` (answers 503 Service
//! Unavailable to everything for its first two seconds, then `garbage`), `forks` (starts a child process that
//! would outlive it, writes the child's pid to `--pid-file`, then `silent`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn main() {
    let mut mode = None;
    let mut listen = None;
    let mut pid_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--mode", Some(v)) => mode = Some(v),
            ("--listen", Some(v)) => listen = Some(v),
            ("--pid-file", Some(v)) => pid_file = Some(v),
            (other, _) => {
                eprintln!("kvconf-hostile-runtime: unknown or incomplete argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let (Some(mode), Some(listen)) = (mode, listen) else {
        eprintln!("kvconf-hostile-runtime: give --mode MODE --listen ADDRESS");
        std::process::exit(2);
    };
    if mode == "forks" {
        // A child of its own process group's: it would sleep on after this process ends.
        let child = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .expect("starting sleep");
        if let Some(file) = &pid_file {
            std::fs::write(file, child.id().to_string()).expect("writing the pid file");
        }
        std::mem::forget(child);
    }
    let listener = TcpListener::bind(&listen).expect("binding the port");
    let started = Instant::now();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let mode = mode.clone();
        std::thread::spawn(move || serve(stream, &mode, started));
    }
}

/// Answers the requests of one connection (kvconf's client keeps connections alive).
fn serve(stream: TcpStream, mode: &str, started: Instant) {
    let mut reader = BufReader::new(stream.try_clone().expect("cloning the stream"));
    let mut out = stream;
    loop {
        // The request line and headers; the body's length.
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let not_ready = mode == "not-ready" && started.elapsed() < Duration::from_secs(2);
        if not_ready {
            let _ = out.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n\r\nstarting\n",
            );
            continue;
        }
        if request_line.starts_with("GET") {
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n");
            continue;
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n";
        match mode {
            "garbage" | "not-ready" => {
                let body = "this is not an outcome\n";
                let _ = write!(out, "{head}content-length: {}\r\n\r\n{body}", body.len());
            }
            "truncated" => {
                let _ = write!(out, "{head}content-length: 1000\r\n\r\n\"Opened\"\n\"Do");
                return;
            }
            "endless-lines" | "endless-line" => {
                let _ = write!(out, "{head}connection: close\r\n\r\n");
                let piece: &[u8] = if mode == "endless-lines" {
                    b"\"Done\"\n"
                } else {
                    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                };
                let chunk = piece.repeat(4096);
                while out.write_all(&chunk).is_ok() {}
                return;
            }
            "exit" => {
                let _ = write!(out, "{head}connection: close\r\n\r\n\"Opened\"\n");
                let _ = out.flush();
                std::process::exit(3);
            }
            // `silent`, `forks`: the request was read; no answer comes.
            _ => loop {
                std::thread::park();
            },
        }
    }
}
