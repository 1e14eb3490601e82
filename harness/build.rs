//! Computes the hash of the WIT files this build is compiled against (`wit/`, a link to the repository's `wit/`
//! that `cargo package` follows), for reports to name them: `KVCONF_WIT_SHA256`, the SHA-256 of a manifest with
//! one line `<sha256 of the file>  <path>\n` per file under `wit/`, paths relative to it with `/` separators,
//! sorted by their bytes. It is what
//! `cd wit && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum | sha256sum` prints.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    // Read when the script runs, not baked in when it is compiled: a build script binary can be reused for a
    // copy of the source tree elsewhere.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let wit = Path::new(&manifest_dir).join("wit");
    // A directory here is scanned for changes to any file under it.
    println!("cargo::rerun-if-changed={}", wit.display());
    let mut files = Vec::new();
    collect(&wit, &mut files);
    let mut named: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(&wit)
                .expect("a file found under wit/")
                .components()
                .map(|c| c.as_os_str().to_str().expect("WIT paths are UTF-8"))
                .collect::<Vec<_>>()
                .join("/");
            (relative, path)
        })
        .collect();
    named.sort();
    assert!(!named.is_empty(), "no WIT files under {}", wit.display());
    let mut manifest = String::new();
    for (relative, path) in &named {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let _ = writeln!(manifest, "{}  {relative}", hex(&Sha256::digest(&bytes)));
    }
    println!(
        "cargo::rustc-env=KVCONF_WIT_SHA256={}",
        hex(&Sha256::digest(manifest.as_bytes()))
    );
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let kind = entry.file_type().expect("a directory entry's type");
        if kind.is_dir() {
            collect(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
