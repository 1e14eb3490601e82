//! How case files describe sizes, keys and values compactly, and how they expand to exact bytes.
//!
//! A case never spells out a 1 MiB value: it says "1,048,576 bytes of the pattern with seed 7", the suite
//! expands it before the script reaches the driver, and the value read back is compared byte for byte.

use crate::profile::{Capability, Profile};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// A size in a case file: a number, or a name the host's profile gives a number to, plus or minus an offset
/// (`"key-max+1"`).
///
/// | name         | meaning                                                           | needs          |
/// |--------------|-------------------------------------------------------------------|----------------|
/// | `key-min`    | the longest key every host must accept (256, or the profile's lower limit) | -     |
/// | `key-max`    | the profile's declared key limit                                  | `key-limit`    |
/// | `value-min`  | the largest value every host must accept (1,048,576, or lower)    | -              |
/// | `value-max`  | the profile's declared value limit                                | `value-limit`  |
/// | `tuples-min` | the tuples every store must hold (1024, or lower)                 | -              |
/// | `tuples-max` | the profile's declared tuple limit                                | `tuple-limit`  |
/// | `open-max`   | the profile's bound on stores open at once                        | `open-limit`   |
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Size {
    /// A literal number.
    Literal(u64),
    /// A named size with an optional offset.
    Named(String),
}

/// The most repetitions one case-file entry may expand to.
pub const MAX_REPEAT: u64 = 1_000_000;

/// Why a size, key or value in a case file could not be expanded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExpandError {
    /// The size expression is not one of the known forms.
    #[error(
        "`{0}` is not a size: write a number, or one of key-min, key-max, value-min, value-max, tuples-min, tuples-max, open-max, optionally followed by +N or -N"
    )]
    BadSize(String),
    /// The size needs a claim the profile does not make; the case must list it in `requires`.
    #[error(
        "`{size}` needs the host to declare `{capability}`: add \"{capability}\" to the case's `requires`"
    )]
    NotDeclared {
        /// The size expression.
        size: String,
        /// The capability it needs.
        capability: Capability,
    },
    /// The expression went below zero.
    #[error("`{0}` comes out below zero for this profile")]
    Negative(String),
    /// A repeat count beyond what any case needs (and any machine can hold).
    #[error("`repeat` comes to {0}, more than the {max} repetitions a case may have", max = MAX_REPEAT)]
    TooMany(u64),
    /// Hex data that does not parse.
    #[error("`{0}` is not hex: write pairs of hex digits, such as \"00ff\"")]
    BadHex(String),
    /// A key cannot have the requested byte length with this fill.
    #[error("no key of exactly {bytes} bytes can be made from the fill {fill:?}")]
    BadFill {
        /// The fill.
        fill: String,
        /// The length asked for.
        bytes: u64,
    },
}

impl Size {
    /// The capability this size needs the profile to declare, if any.
    pub fn needs(&self) -> Option<Capability> {
        let Size::Named(text) = self else { return None };
        let name = split_offset(text).map(|(n, _)| n)?;
        match name {
            "key-max" => Some(Capability::KeyLimit),
            "value-max" => Some(Capability::ValueLimit),
            "tuples-max" => Some(Capability::TupleLimit),
            "open-max" => Some(Capability::OpenLimit),
            _ => None,
        }
    }

    /// The number this size stands for under `profile`.
    pub fn resolve(&self, profile: &Profile) -> Result<u64, ExpandError> {
        let text = match self {
            Size::Literal(n) => return Ok(*n),
            Size::Named(text) => text,
        };
        let (name, offset) =
            split_offset(text).ok_or_else(|| ExpandError::BadSize(text.clone()))?;
        let not_declared = |capability| ExpandError::NotDeclared {
            size: text.clone(),
            capability,
        };
        let base = match name {
            "key-min" => profile.key_min(),
            "value-min" => profile.value_min(),
            "tuples-min" => profile.tuples_min(),
            "key-max" => profile
                .limits
                .key_bytes
                .ok_or_else(|| not_declared(Capability::KeyLimit))?,
            "value-max" => profile
                .limits
                .value_bytes
                .ok_or_else(|| not_declared(Capability::ValueLimit))?,
            "tuples-max" => profile
                .limits
                .tuples
                .ok_or_else(|| not_declared(Capability::TupleLimit))?,
            "open-max" => profile
                .open_stores
                .ok_or_else(|| not_declared(Capability::OpenLimit))?,
            _ => return Err(ExpandError::BadSize(text.clone())),
        };
        let value = base as i128 + offset as i128;
        u64::try_from(value).map_err(|_| ExpandError::Negative(text.clone()))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Literal(n) => write!(f, "{n}"),
            Size::Named(s) => f.write_str(s),
        }
    }
}

/// Splits `name+N` / `name-N` / `name` into the name and the signed offset.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    let text = text.trim();
    const NAMES: [&str; 7] = [
        "key-min",
        "key-max",
        "value-min",
        "value-max",
        "tuples-min",
        "tuples-max",
        "open-max",
    ];
    let name = NAMES.into_iter().find(|n| text.starts_with(n))?;
    let rest = text[name.len()..].trim();
    if rest.is_empty() {
        return Some((name, 0));
    }
    let (sign, digits) = match rest.split_at(1) {
        ("+", d) => (1, d),
        ("-", d) => (-1, d),
        _ => return None,
    };
    digits.trim().parse::<i64>().ok().map(|n| (name, sign * n))
}

/// Replaces `{i}` in a template with the repetition index.
pub fn fill_template(template: &str, index: u64) -> String {
    use std::fmt::Write as _;
    // One allocation: a fill expands its key and value templates a thousand times. A search for the `{` byte
    // (memchr) rather than for the three-byte pattern, whose searcher costs more to set up than a short
    // template takes to scan.
    let mut out = String::with_capacity(template.len() + 20);
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        match from.strip_prefix("{i}") {
            Some(after) => {
                let _ = write!(out, "{index}");
                rest = after;
            }
            None => {
                out.push('{');
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A key in a case file: a literal string (where `{i}` is the repetition index), or a key of an exact byte
/// length made by repeating `fill` and padding with `a`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum KeySpec {
    /// The key itself.
    Text(String),
    /// A generated key of exactly `bytes` bytes of UTF-8.
    Generated {
        /// The text repeated to build the key (such as a two-byte "é").
        fill: String,
        /// The key's length in bytes.
        bytes: Size,
    },
}

impl KeySpec {
    /// The capability this key needs, if any.
    pub fn needs(&self) -> Option<Capability> {
        match self {
            KeySpec::Text(_) => None,
            KeySpec::Generated { bytes, .. } => bytes.needs(),
        }
    }

    /// The exact key for repetition `index`.
    pub fn expand(&self, profile: &Profile, index: u64) -> Result<String, ExpandError> {
        match self {
            KeySpec::Text(t) => Ok(fill_template(t, index)),
            KeySpec::Generated { fill, bytes } => {
                let len = bytes.resolve(profile)?;
                let bad = || ExpandError::BadFill {
                    fill: fill.clone(),
                    bytes: len,
                };
                if fill.is_empty() {
                    return Err(bad());
                }
                let mut key = String::new();
                while key.len() as u64 + fill.len() as u64 <= len {
                    key.push_str(fill);
                }
                while (key.len() as u64) < len {
                    key.push('a');
                }
                Ok(key)
            }
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySpec::Text(t) => write!(f, "{t:?}"),
            KeySpec::Generated { fill, bytes } => write!(f, "<{bytes}-byte key of {fill:?}>"),
        }
    }
}

/// A value in a case file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ValueSpec {
    /// The UTF-8 bytes of this text (`{i}` is the repetition index).
    Text(String),
    /// Bytes written in hex.
    Hex {
        /// Pairs of hex digits.
        hex: String,
    },
    /// The bytes `from..=to`, in order (`{ range = [0, 255] }` is every byte value once).
    Range {
        /// The first and last byte.
        range: [u8; 2],
    },
    /// `len` bytes of the seeded pattern (see [`pattern`]).
    Pattern {
        /// How many bytes.
        len: Size,
        /// The pattern's seed.
        seed: u64,
    },
}

impl ValueSpec {
    /// The capability this value needs, if any.
    pub fn needs(&self) -> Option<Capability> {
        match self {
            ValueSpec::Pattern { len, .. } => len.needs(),
            _ => None,
        }
    }

    /// The exact bytes for repetition `index`.
    pub fn expand(&self, profile: &Profile, index: u64) -> Result<Vec<u8>, ExpandError> {
        match self {
            ValueSpec::Text(t) => Ok(fill_template(t, index).into_bytes()),
            ValueSpec::Hex { hex } => parse_hex(hex),
            ValueSpec::Range { range: [from, to] } => Ok((*from..=*to).collect()),
            ValueSpec::Pattern { len, seed } => Ok(recent_pattern(*seed, len.resolve(profile)?)),
        }
    }

    /// How the value reads in a transcript: for repetition `index`, or as the template (`{i}` left in) when
    /// `index` is `None`.
    pub fn describe(&self, profile: &Profile, index: Option<u64>) -> String {
        match self {
            ValueSpec::Text(t) => {
                let text = match index {
                    Some(i) => fill_template(t, i),
                    None => t.clone(),
                };
                render_text(&text)
            }
            ValueSpec::Hex { hex } => {
                let clean: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
                format!("hex:{}", clean.to_ascii_lowercase())
            }
            ValueSpec::Range { range: [from, to] } => format!("<bytes {from}..={to}>"),
            ValueSpec::Pattern { len, seed } => match len.resolve(profile) {
                Ok(n) => format!("<{n} bytes of pattern {seed}>"),
                Err(_) => format!("<{len} bytes of pattern {seed}>"),
            },
        }
    }
}

/// Quotes a text value, shortened to its length and first characters when long.
fn render_text(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.len() <= SHOWN {
        return format!("{text:?}");
    }
    let cut = (0..=24)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    format!("<{}-byte text {:?}…>", text.len(), &text[..cut])
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, ExpandError> {
    let clean: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
    if !clean.len().is_multiple_of(2) {
        return Err(ExpandError::BadHex(hex.to_string()));
    }
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| ExpandError::BadHex(hex.to_string()))
}

/// [`pattern`], from a copy of one of the last few long ones made when it is one of them: values at a limit are a
/// mebibyte or more, and generated sequences write the same few again and again (copying one costs a fraction of
/// computing it).
fn recent_pattern(seed: u64, len: u64) -> Vec<u8> {
    /// Shorter patterns are computed each time.
    const LONG: u64 = 64 * 1024;
    /// How many long patterns are kept (the generator draws from 3 lengths and 3 seeds per profile).
    const KEEP: usize = 12;
    /// A pattern's seed and length, and its bytes.
    type Kept = (u64, u64, Arc<[u8]>);
    static RECENT: Mutex<VecDeque<Kept>> = Mutex::new(VecDeque::new());
    if len < LONG {
        return pattern(seed, len);
    }
    let find = |recent: &VecDeque<Kept>| {
        recent
            .iter()
            .find(|(s, l, _)| (*s, *l) == (seed, len))
            .map(|(_, _, bytes)| bytes.clone())
    };
    // A poisoned lock holds nothing wrong: entries are whole once pushed.
    if let Some(bytes) = find(&RECENT.lock().unwrap_or_else(PoisonError::into_inner)) {
        return bytes.to_vec();
    }
    let bytes = pattern(seed, len);
    let mut recent = RECENT.lock().unwrap_or_else(PoisonError::into_inner);
    if find(&recent).is_none() {
        if recent.len() == KEEP {
            recent.pop_front();
        }
        recent.push_back((seed, len, Arc::from(&bytes[..])));
    }
    bytes
}

/// `len` bytes of the pattern with `seed`: the little-endian bytes of successive SplitMix64 outputs.
///
/// Every byte value occurs, runs are rare, and two seeds give unrelated data, so a value truncated, shifted
/// or mixed with another is caught by a byte-for-byte comparison.
pub fn pattern(seed: u64, len: u64) -> Vec<u8> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        z.to_le_bytes()
    };
    // Eight bytes at a time into a buffer of the final size (a value at the limit is a mebibyte, expanded
    // for every sequence that writes one), then the first bytes of one more word.
    let mut out = vec![0u8; len as usize];
    let mut words = out.chunks_exact_mut(8);
    for word in &mut words {
        word.copy_from_slice(&next());
    }
    let tail = words.into_remainder();
    let take = tail.len();
    tail.copy_from_slice(&next()[..take]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::Interface;
    use crate::profile::{Limits, UnconfiguredLabel};

    fn profile() -> Profile {
        Profile {
            name: "t".into(),
            interfaces: vec![Interface::V2],
            limits: Limits {
                key_bytes: Some(255),
                value_bytes: None,
                tuples: Some(1024),
            },
            open_stores: Some(8),
            unconfigured_label: UnconfiguredLabel::RefuseLoad,
            v1_invalid_handle: crate::profile::InvalidHandle::Error,
            empty_key: false,
            v1_fresh_handles: false,
            durable: false,
            wasi_paging: None,
            wasi_page_keys: None,
        }
    }

    #[test]
    fn named_sizes_resolve_against_the_profile() {
        let p = profile();
        assert_eq!(Size::Named("key-max+1".into()).resolve(&p), Ok(256));
        assert_eq!(Size::Named("key-min".into()).resolve(&p), Ok(255));
        assert_eq!(Size::Named("open-max - 1".into()).resolve(&p), Ok(7));
        assert_eq!(Size::Named("value-min".into()).resolve(&p), Ok(1_048_576));
        assert!(matches!(
            Size::Named("value-max".into()).resolve(&p),
            Err(ExpandError::NotDeclared { .. })
        ));
        assert!(matches!(
            Size::Named("key-maxx".into()).resolve(&p),
            Err(ExpandError::BadSize(_))
        ));
    }

    #[test]
    fn generated_keys_have_the_exact_byte_length() {
        let p = profile();
        for bytes in [0u64, 1, 255, 256, 257] {
            let key = KeySpec::Generated {
                fill: "é".into(),
                bytes: Size::Literal(bytes),
            }
            .expand(&p, 0)
            .unwrap();
            assert_eq!(key.len() as u64, bytes);
        }
    }

    #[test]
    fn a_template_has_every_i_replaced_by_the_index() {
        assert_eq!(fill_template("k{i}-{i}", 12), "k12-12");
        assert_eq!(fill_template("{i}", 0), "0");
        assert_eq!(fill_template("x", 3), "x");
        assert_eq!(fill_template("{i", 3), "{i");
        assert_eq!(fill_template("{{i}}", 3), "{3}");
        assert_eq!(fill_template("é{x}{i}{", 7), "é{x}7{");
        assert_eq!(fill_template("", 3), "");
    }

    #[test]
    fn pattern_is_deterministic_and_seed_dependent() {
        assert_eq!(pattern(7, 1000), pattern(7, 1000));
        assert_ne!(pattern(7, 64), pattern(8, 64));
        assert_eq!(pattern(7, 13).len(), 13);
        assert_eq!(&pattern(7, 100)[..13], &pattern(7, 13)[..]);
        // The bytes themselves are fixed: saved cases and seeds (`fuzz::rng_seed`) depend on them.
        assert_eq!(
            pattern(7, 13),
            [215, 13, 50, 89, 228, 225, 203, 99, 28, 102, 60, 244, 215]
        );
        assert!(pattern(7, 0).is_empty());
    }

    #[test]
    fn a_long_pattern_kept_from_before_is_the_pattern() {
        for _ in 0..3 {
            for seed in 1..=14 {
                let len = 70_000 + seed;
                assert_eq!(recent_pattern(seed, len), pattern(seed, len));
            }
        }
        assert_eq!(recent_pattern(3, 10), pattern(3, 10));
    }

    #[test]
    fn hex_and_range_values_expand_exactly() {
        let p = profile();
        let v = ValueSpec::Hex {
            hex: "00 ff 10".into(),
        }
        .expand(&p, 0)
        .unwrap();
        assert_eq!(v, vec![0, 255, 16]);
        assert!(ValueSpec::Hex { hex: "0".into() }.expand(&p, 0).is_err());
        let all = ValueSpec::Range { range: [0, 255] }.expand(&p, 0).unwrap();
        assert_eq!(all.len(), 256);
    }
}
