//! Generating a history's scripts: for each instance, operations on a few shared keys, counters and swapped keys.

use super::*;

/// The name of key number `n` of a history.
pub fn key_name(n: usize) -> String {
    format!("c{n}")
}

/// The kind of one generated operation.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Set,
    Get,
    Exists,
    Delete,
    Increment,
    Swap,
}

/// The name of swapped key number `n` of a history (wasi draft2 only): a key only compare-and-swap writes.
pub fn swapped_name(n: usize) -> String {
    format!("s{n}")
}

/// The name of counter number `n` of a history (wasi only): a key only `increment` touches.
pub fn counter_name(n: usize) -> String {
    format!("n{n}")
}

/// The 32-byte ChaCha seed of history `index` of `seed`.
pub(super) fn seed_bytes(seed: u64, index: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&index.to_le_bytes());
    bytes[16..].copy_from_slice(b"kvconf history\0\0");
    bytes
}

/// The `n`th value (from 1) instance `instance` writes, with `filler` bytes after its unique prefix.
pub(super) fn value_bytes(instance: usize, n: usize, filler: usize) -> Vec<u8> {
    let fill = (b'a' + ((instance * 7 + n) % 26) as u8) as char;
    format!("i{instance}.{n}:{}", fill.to_string().repeat(filler)).into_bytes()
}

/// The scripts of history `index` of `seed` through `interface`: one per instance, each an `open` of [`LABEL`]
/// into slot 0 and then `config.ops_per_instance` operations on the keys [`key_name`]`(0..config.keys)` and,
/// through the wasi editions, increments of the counters [`counter_name`]`(0..config.keys)`. Deterministic: the
/// same arguments always give the same scripts.
pub fn scripts(
    seed: u64,
    index: u64,
    config: &HistoryConfig,
    interface: Interface,
) -> Vec<Vec<Operation>> {
    let keys = config.keys.max(1);
    let increments = if interface.is_wasi() { 3 } else { 0 };
    // wasi:keyvalue@0.2.0-draft has no compare-and-swap.
    let swaps = if interface == Interface::WasiKeyvalue {
        3
    } else {
        0
    };
    let kind = prop_oneof![
        4 => Just(Kind::Set),
        3 => Just(Kind::Get),
        2 => Just(Kind::Exists),
        1 => Just(Kind::Delete),
        increments => Just(Kind::Increment),
        swaps => Just(Kind::Swap),
    ];
    let strategy = vec(
        vec((kind, 0..keys, 0..=FILLER_MAX), config.ops_per_instance),
        config.instances,
    );
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed, index));
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    // These strategies never reject, so a tree is always made.
    let plan = strategy
        .new_tree(&mut runner)
        .map(|tree| tree.current())
        .unwrap_or_default();
    plan.into_iter()
        .enumerate()
        .map(|(instance, steps)| {
            let mut sets = 0;
            let mut ops = vec![Operation::Open {
                slot: 0,
                label: LABEL.to_string(),
            }];
            for (kind, n, filler) in steps {
                let key = key_name(n);
                if matches!(kind, Kind::Set | Kind::Swap) {
                    sets += 1;
                }
                let value = || value_bytes(instance, sets, filler);
                match kind {
                    Kind::Set => ops.push(Operation::Set {
                        slot: 0,
                        key,
                        value: value(),
                    }),
                    Kind::Get => ops.push(Operation::Get { slot: 0, key }),
                    Kind::Exists => ops.push(Operation::Exists { slot: 0, key }),
                    Kind::Delete => ops.push(Operation::Delete { slot: 0, key }),
                    Kind::Increment => ops.push(Operation::Increment {
                        slot: 0,
                        key: counter_name(n),
                        // 1 to 3, from the filler drawn anyway (the draft's delta is unsigned).
                        delta: 1 + (filler % 3) as i64,
                    }),
                    // Make a cas, read what it remembered, and swap in a value of this instance's own.
                    Kind::Swap => ops.extend([
                        Operation::CasNew {
                            slot: 0,
                            key: swapped_name(n),
                            cas: 0,
                        },
                        Operation::CasCurrent { cas: 0 },
                        Operation::CasSwap {
                            cas: 0,
                            value: value(),
                        },
                    ]),
                }
            }
            ops
        })
        .collect()
}
