//! The HTTP drivers' JSON scripts under bad input: 10,000 scripts, each a valid one with up to four mutations
//! (truncation, a flipped bit, a deleted or repeated range, an inserted huge number, deep nesting, invalid UTF-8,
//! a long string, JSON punctuation), POSTed to the five drivers on `kvhost serve`. Every one must be answered
//! whole: `400` naming what is wrong with the script, or `200` with one outcome line per operation; never a trap
//! (a `500`, or a body cut off), never a hang. `KVHOST_SCRIPT_SEED` sets the seed; the failing input is printed.

use std::time::Instant;

use crate::rng::Rng;
use crate::serve::{AppDir, EVERY_DRIVER, Server};

/// Inputs in all, spread over the five drivers.
const INPUTS: usize = 10_000;
/// Clients sending them at once.
const CLIENTS: usize = 8;

/// Valid scripts, one operation of each kind and then some, as serde writes `kvconf:driver/types`.
const SEEDS: [&str; 4] = [
    r#"[{"Open":{"slot":0,"label":"default"}},{"Set":{"slot":0,"key":"k","value":[1,2,3]}},{"Get":{"slot":0,"key":"k"}},{"Exists":{"slot":0,"key":"k"}},{"GetKeys":0},{"Delete":{"slot":0,"key":"k"}},{"Close":0}]"#,
    r#"[{"Open":{"slot":1,"label":"default"}},{"Increment":{"slot":1,"key":"n","delta":7}},{"CasNew":{"slot":1,"key":"n","cas":0}},{"CasCurrent":0},{"CasSwap":{"cas":0,"value":[57]}},{"ListKeys":{"slot":1,"cursor":null}}]"#,
    r#"[{"Open":{"slot":0,"label":"default"}},{"SetMany":{"slot":0,"entries":[["a",[97]],["b",[]]]}},{"GetMany":{"slot":0,"keys":["a","b","c"]}},{"DeleteMany":{"slot":0,"keys":["a"]}},{"GetKeysPartial":{"slot":0,"take":1}}]"#,
    r#"[{"Open":{"slot":0,"label":"default"}},{"Concurrently":2},{"Get":{"slot":0,"key":"x"}},{"Set":{"slot":0,"key":"y","value":[255]}},{"ForgeHandle":{"slot":3,"handle":99}},{"Get":{"slot":3,"key":"x"}}]"#,
];

/// Pieces inserted by a mutation.
const INSERTS: [&[u8]; 12] = [
    b"99999999999999999999999999999",
    b"-1",
    b"1e400",
    b"null",
    b"\xff\xfe",
    b"\xc3",
    b"\"",
    b"\\",
    b",",
    b"]",
    b"}",
    b"{\"Open\":",
];

/// `seed` with up to four mutations.
fn mutate(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = SEEDS[rng.below(SEEDS.len())].as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(8) {
            0 => bytes.truncate(at),
            1 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            2 => {
                let end = (at + rng.below(20)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(40)).min(bytes.len());
                let piece = bytes[at..end].to_vec();
                bytes.splice(
                    at..at,
                    piece
                        .iter()
                        .copied()
                        .cycle()
                        .take(piece.len() * (1 + rng.below(50))),
                );
            }
            4 => {
                let depth = 1 + rng.below(5000);
                let nested = [vec![b'['; depth], vec![b']'; depth]].concat();
                bytes.splice(at..at, nested);
            }
            5 => {
                let long = format!("\"{}\"", "x".repeat(rng.below(200_000)));
                bytes.splice(at..at, long.into_bytes());
            }
            _ => {
                let piece = INSERTS[rng.below(INSERTS.len())];
                bytes.splice(at..at, piece.iter().copied());
            }
        }
    }
    bytes
}

/// Whether a well-formed answer: a 400 saying what is wrong with the script, or a 200 with an outcome per line.
fn check(
    route: &str,
    input: &[u8],
    (status, body, whole): &(u16, String, bool),
) -> Result<(), String> {
    let ok = *whole
        && match status {
            400 => {
                body.starts_with("the body is not a kvconf script")
                    || body.starts_with("the script is over")
            }
            200 => body
                .lines()
                .all(|line| line.starts_with('"') || line.starts_with('{')),
            _ => false,
        };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{route}: {status} (whole: {whole}) answering {:?}\n{body}",
            String::from_utf8_lossy(&input[..input.len().min(2000)])
        ))
    }
}

#[test]
fn every_bad_script_is_answered_400_naming_the_fault_and_never_traps_a_driver() {
    let _alone = crate::alone();
    let seed: u64 = std::env::var("KVHOST_SCRIPT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let app = AppDir::every_driver();
    let server: Server = app.serve(&["--memory"]);
    let started = Instant::now();
    let counts = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let server = &server;
                scope.spawn(move || {
                    let mut rng = Rng(seed ^ (client as u64).wrapping_mul(0xA24B_AED4_963E_E407));
                    let (mut refused, mut ran) = (0, 0);
                    for n in 0..INPUTS / CLIENTS {
                        let input = mutate(&mut rng);
                        let route = EVERY_DRIVER[n % EVERY_DRIVER.len()];
                        let answer = server.post_partial(route, &input);
                        if let Err(problem) = check(route, &input, &answer) {
                            panic!(
                                "client {client} input {n} (seed {seed}): {problem}\n{}",
                                server.stderr()
                            );
                        }
                        if answer.0 == 400 {
                            refused += 1
                        } else {
                            ran += 1
                        }
                    }
                    (refused, ran)
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    });
    eprintln!(
        "{} scripts (seed {seed}) in {:.1} s: {} refused with 400 naming the fault, {} ran to their end",
        INPUTS,
        started.elapsed().as_secs_f64(),
        counts.0,
        counts.1
    );
    assert!(
        counts.1 > 0,
        "some mutated scripts are still scripts and run"
    );
}
