//! Every parser kvconf and kvhost have, under bad input: case files (and so `kvconf fuzz --save` output, which is a
//! case file read back), profile files, adapter files, expectations files, `spin.toml` manifests, runtime
//! configuration files and the HTTP drivers' outcome lines.
//!
//! Each parser gets, in the default run, 10,000 inputs made from its real files (the repository's cases, adapters,
//! profiles, expectations, manifests and configurations) by up to four mutations each: truncation, a flipped bit,
//! a deleted or repeated range, and an inserted piece from a dictionary of what breaks parsers (huge and negative
//! numbers, deep nesting, invalid UTF-8, a long string, TOML's own punctuation, `repeat` counts). None may panic
//! (the test catches the panic and shows the input), and every refusal must be an error that names the file and
//! says something. `PROPTEST_CASES` changes the count. (What the guests' JSON script parser does with a bad
//! script is the HTTP drivers' business, inside WebAssembly, and is not measured here.)

use kvconf::adapter::Adapter;
use kvconf::case::{self, Case};
use kvconf::catalogue::Catalogue;
use kvconf::driver::outcome_from_json;
use kvconf::expectations::Expectations;
use kvconf::reference::ReferenceHost;
use kvhost::config::RuntimeConfig;
use kvhost::serve::manifest::{Manifest, Purpose};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Inputs per parser unless `PROPTEST_CASES` says otherwise.
const INPUTS: u32 = 10_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_all(dir: &Path, ext: &str) -> Vec<Vec<u8>> {
    let out: Vec<Vec<u8>> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.path().extension().is_some_and(|x| x == ext))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert!(!out.is_empty(), "no .{ext} file under {}", dir.display());
    out
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| case::load_dir(&case::default_dir(), Catalogue::builtin()).unwrap())
}

/// One mutation of an input.
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(prop::sample::Index),
    FlipBit(prop::sample::Index, u8),
    Delete(prop::sample::Index, usize),
    Repeat(prop::sample::Index, usize, usize),
    Insert(prop::sample::Index, Vec<u8>),
}

/// Pieces that break parsers: numbers past every integer type, nesting past any stack, bytes that are not UTF-8,
/// a long string, TOML's punctuation, and values a case or profile might take for sizes.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"99999999999999999999999999999999".to_vec()),
        Just(b"-9223372036854775809".to_vec()),
        Just(b"18446744073709551615".to_vec()),
        Just(b"1e309".to_vec()),
        Just(b"nan".to_vec()),
        Just(b"\"value-max+99999999999999\"".to_vec()),
        Just(b"repeat = 4294967295, ".to_vec()),
        Just(b"repeat = \"tuples-max+1000000000\", ".to_vec()),
        Just(b"len = 18446744073709551615, ".to_vec()),
        Just("[".repeat(100_000).into_bytes()),
        Just("{ a = ".repeat(20_000).into_bytes()),
        Just(b"\xff\xfe\xc3\x28".to_vec()),
        Just(vec![b'a'; 200_000]),
        Just(b"\"".to_vec()),
        Just(b"'''".to_vec()),
        Just(b"=".to_vec()),
        Just(b"\n[[step]]\n".to_vec()),
        Just(b"\n[app]\n".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\\u{110000}".to_vec()),
        prop::collection::vec(any::<u8>(), 1..16),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<prop::sample::Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<prop::sample::Index>(), 1..64usize, 2..50usize)
            .prop_map(|(i, n, times)| Mutation::Repeat(i, n, times)),
        (any::<prop::sample::Index>(), piece()).prop_map(|(i, p)| Mutation::Insert(i, p)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let at = |i: &prop::sample::Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
        match m {
            Mutation::Truncate(i) => bytes.truncate(at(i, bytes.len())),
            Mutation::FlipBit(i, bit) if !bytes.is_empty() => {
                let n = i.index(bytes.len());
                bytes[n] ^= 1 << bit;
            }
            Mutation::FlipBit(..) => {}
            Mutation::Delete(i, n) => {
                let start = at(i, bytes.len());
                let end = (start + n).min(bytes.len());
                bytes.drain(start..end);
            }
            Mutation::Repeat(i, n, times) => {
                let start = at(i, bytes.len());
                let end = (start + n).min(bytes.len());
                let range = bytes[start..end].to_vec();
                for _ in 0..*times {
                    bytes.splice(end..end, range.iter().copied());
                }
            }
            Mutation::Insert(i, piece) => {
                let n = at(i, bytes.len());
                bytes.splice(n..n, piece.iter().copied());
            }
        }
    }
    bytes
}

/// Runs `parse` on `INPUTS` mutations of `seeds`: none may panic, and every error must be non-empty and contain
/// `names` (the file's name) when given.
fn fuzz_parser(what: &str, seeds: Vec<Vec<u8>>, parse: impl Fn(&[u8]) -> Result<(), String>) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(INPUTS);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        // Shrinking an input that panics would repeat the panic message many times: show the first.
        max_shrink_iters: 0,
        ..Config::default()
    });
    let strategy = (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 0..=4),
    );
    // Inputs accepted and refused.
    let counts = std::cell::Cell::new((0u32, 0u32));
    let result = runner.run(&strategy, |(seed, mutations)| {
        let input = apply(seed, &mutations);
        let outcome = catch_unwind(AssertUnwindSafe(|| parse(&input)));
        let (ok, err) = counts.get();
        match outcome {
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let shown = String::from_utf8_lossy(&input[..input.len().min(2000)]).into_owned();
                return Err(TestCaseError::fail(format!(
                    "{what} panicked ({message}) on {} bytes after {mutations:?}:\n{shown}",
                    input.len()
                )));
            }
            Ok(Ok(())) => counts.set((ok + 1, err)),
            Ok(Err(e)) => {
                prop_assert!(!e.trim().is_empty(), "{what}: an empty error");
                counts.set((ok, err + 1));
            }
        }
        Ok(())
    });
    let (accepted, refused) = counts.get();
    eprintln!("{what}: {cases} inputs, {accepted} accepted, {refused} refused");
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        refused > 0,
        "{what}: no mutated input was refused: the mutations do not reach the parser"
    );
}

/// For a parser that reads a file: writes the input to `name` in a directory of its own and checks that an error
/// names the file.
fn through_file(
    name: &'static str,
    read: impl Fn(&Path) -> Result<(), String>,
) -> impl Fn(&[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    move |input: &[u8]| {
        let _keep = &dir;
        std::fs::write(&path, input).unwrap();
        read(&path).map_err(|e| {
            assert!(
                e.contains(name),
                "the error does not name the file {name}: {e}"
            );
            e
        })
    }
}

/// Case files as `kvconf fuzz --save` writes them: generated sequences of every version, written out.
fn saved_sequences() -> Vec<Vec<u8>> {
    use kvconf::fuzz::{Setup, build, sequences};
    use kvconf::interface::Interface;
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::deterministic();
    let mut out = Vec::new();
    for interface in Interface::ALL {
        let setup = std::sync::Arc::new(Setup::new(interface, ReferenceHost::sip010_profile()));
        let strategy = sequences(setup.clone(), 24);
        for _ in 0..16 {
            let (_, moves, _) = strategy.new_tree(&mut runner).unwrap().current();
            let generated = build(&setup, &moves, "fuzz/saved", "a saved sequence", None).unwrap();
            out.push(generated.text("Found by kvconf fuzz.").into_bytes());
        }
    }
    out
}

#[test]
fn case_files_under_bad_input() {
    let mut seeds = read_all(&root().join("harness/cases"), "toml");
    seeds.extend(saved_sequences());
    let path = Path::new("bad-case.toml");
    fuzz_parser("Case::parse", seeds, |input| {
        let Ok(text) = std::str::from_utf8(input) else {
            // load_dir reads files as UTF-8 first; the case parser takes text.
            return Err("not UTF-8".into());
        };
        match Case::parse(path, text, Catalogue::builtin()) {
            Ok(case) => {
                // A case that parses is planned, as a run would, against both profiles.
                for profile in [
                    ReferenceHost::sip010_profile(),
                    ReferenceHost::unbounded_profile(),
                ] {
                    for interface in case.interfaces(Catalogue::builtin()) {
                        if case.unmet(&profile).is_none() {
                            let _ = case.plan(interface, &profile);
                        }
                    }
                }
                Ok(())
            }
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.contains("bad-case.toml"),
                    "the error does not name the file: {e}"
                );
                Err(e)
            }
        }
    });
}

#[test]
fn profile_files_under_bad_input() {
    let seeds = vec![
        std::fs::read(root().join("adapters/kvhost-profile.toml")).unwrap(),
        std::fs::read(root().join("adapters/spin-profile.toml")).unwrap(),
    ];
    fuzz_parser(
        "a profile file",
        seeds,
        through_file("bad-profile.toml", |path| {
            ReferenceHost::profile_from("bad-profile.toml", path.parent().unwrap())
                .map(|_| ())
                .map_err(|e| format!("{e:#}"))
        }),
    );
}

#[test]
fn adapter_files_under_bad_input() {
    let seeds = ["kvhost.toml", "spin.toml", "spin-redis.toml"]
        .iter()
        .map(|f| std::fs::read(root().join("adapters").join(f)).unwrap())
        .collect();
    fuzz_parser(
        "an adapter file",
        seeds,
        through_file("bad-adapter.toml", |path| {
            // A profile file is resolved where the real adapter files are (the profile files' own parsing is the
            // test above's business).
            Adapter::load(path, |name, _| {
                ReferenceHost::profile_from(name, &root().join("adapters"))
            })
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
        }),
    );
}

#[test]
fn expectations_files_under_bad_input() {
    let seeds = read_all(&root().join("expectations"), "toml");
    let backends = [
        "memory",
        "sqlite",
        "wasmtime-in-memory",
        "spin-sqlite",
        "spin-redis",
        "kvhost-serve",
    ];
    fuzz_parser(
        "an expectations file",
        seeds,
        through_file("bad-expectations.toml", move |path| {
            Expectations::load(path, cases(), &backends)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
    );
}

#[test]
fn manifests_under_bad_input() {
    let mut seeds =
        vec![std::fs::read(root().join("harness/tests/check-app/label/spin.toml")).unwrap()];
    seeds.push(
        br#"spin_manifest_version = 2

[application]
name = "kv"

[[trigger.http]]
route = "/..."
component = "kv"

[component.kv]
source = "driver.wasm"
key_value_stores = ["default", "cache"]
"#
        .to_vec(),
    );
    for purpose in [Purpose::Serve, Purpose::Check] {
        fuzz_parser(
            &format!("a spin.toml for {purpose:?}"),
            seeds.clone(),
            through_file("spin.toml", move |path| {
                Manifest::read(path, purpose)
                    .map(|_| ())
                    .map_err(|e| format!("{e:#}"))
            }),
        );
    }
}

#[test]
fn runtime_configs_under_bad_input() {
    let mut seeds = vec![
        std::fs::read(root().join("harness/tests/check-app/label/runtime-config.toml")).unwrap(),
    ];
    seeds.push(
        br#"[key_value_store.cache]
type = "spin"
path = "cache.db"

[key_value_store.mem]
type = "memory"

[key_value_store.remote]
type = "redis"
url = "redis://127.0.0.1:6379"
"#
        .to_vec(),
    );
    fuzz_parser(
        "a runtime configuration",
        seeds,
        through_file("runtime-config.toml", |path| {
            RuntimeConfig::from_file(path)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
    );
}

#[test]
fn outcome_lines_under_bad_input() {
    let seeds: Vec<Vec<u8>> = [
        r#""Opened""#,
        r#""Done""#,
        r#"{"Value":[104,105]}"#,
        r#"{"Value":null}"#,
        r#"{"Exists":true}"#,
        r#"{"Keys":["a","b"]}"#,
        r#"{"Counter":-3}"#,
        r#"{"Entries":[["a",[1]],["b",null]]}"#,
        r#"{"ScriptError":"slot 0 holds no open store"}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let valid = seeds
        .iter()
        .filter(|s| outcome_from_json(s).is_ok())
        .count();
    assert!(
        valid >= 5,
        "only {valid} of the seed outcome lines parse: the seeds are not the protocol's"
    );
    fuzz_parser("an outcome line", seeds, |input| {
        outcome_from_json(input)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}
