//! A component's `files`, made available to it as `spin up` does: copied, when the application loads, into a
//! directory of the component's own in a temporary directory, which every instance of the component sees as its
//! root directory `/`, read-only (writable with [`super::ServeOptions::allow_transient_write`], as Spin's
//! `--allow-transient-write`; what an instance writes there the next instance sees, and nothing outlives the
//! server).
//!
//! ```toml
//! [component.web]
//! files = [
//!     "index.html",                                     # a file: /index.html
//!     "static/**/*.css",                                # a glob: each file at its path, /static/site.css
//!     { source = "assets", destination = "/" },         # a directory's files, under the destination
//!     { source = "config/prod.toml", destination = "/config.toml" },   # a file, at the destination
//! ]
//! exclude_files = ["static/drafts/*"]                   # globs, of paths relative to the manifest's directory
//! ```
//!
//! As in Spin, paths are relative to the manifest's directory, a glob's files keep their path relative to it,
//! and `exclude_files` applies to the files of globs and directories (not to a file named by itself). Where
//! Spin's behaviour is not plain, kvhost refuses rather than guess, saying what to write instead: a plain entry
//! naming a directory (write `{ source = "dir", destination = "/dir" }` or `"dir/**/*"`), an entry ending in `.`
//! or `..` (Spin refuses those too), an absolute path or one leaving the application's directory, and a
//! destination with `..` in it.

// Without the `serve` feature only the manifest's side is used (`FilesMount` and its checks): the copying is the
// server's.
#![cfg_attr(not(feature = "serve"), allow(dead_code))]

use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// One entry of a component's `files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesMount {
    /// `"path/or/glob/*"`: a file, or the files a glob matches, each at its path relative to the manifest's
    /// directory.
    Pattern(String),
    /// `{ source = "...", destination = "..." }`: a file or a directory's files, placed at `destination`.
    Placement {
        /// The file or directory, relative to the manifest's directory.
        source: String,
        /// Where it appears in the guest (relative to `/` when not absolute, as in Spin).
        destination: String,
    },
}

impl std::fmt::Display for FilesMount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilesMount::Pattern(pattern) => write!(f, "{pattern:?}"),
            FilesMount::Placement {
                source,
                destination,
            } => write!(
                f,
                "{{ source = {source:?}, destination = {destination:?} }}"
            ),
        }
    }
}

/// Whether `text` has glob syntax in it, as Spin's loader decides it (the pattern is not its own escape).
fn looks_like_glob(text: &str) -> bool {
    glob::Pattern::escape(text) != text
}

/// Whether a relative path stays inside the directory it is relative to, written without `..` or a root.
fn plain_relative(path: &Path) -> bool {
    path.components()
        .all(|component| matches!(component, Component::Normal(_) | Component::CurDir))
}

/// Copies the files of the component `id` into `root` (which need not exist yet).
///
/// # Errors
///
/// When an entry names nothing, is refused (see the module documentation) or a file cannot be copied; the
/// message names the component, the entry and what to write instead.
pub(crate) fn copy_files(
    id: &str,
    app_dir: &Path,
    mounts: &[FilesMount],
    exclude_files: &[String],
    root: &Path,
) -> Result<()> {
    let app_dir = std::fs::canonicalize(app_dir).with_context(|| {
        format!(
            "could not find the application directory {}",
            app_dir.display()
        )
    })?;
    let exclude = exclude_files
        .iter()
        .map(|pattern| {
            glob::Pattern::new(pattern).with_context(|| {
                format!("[component.{id}] has {pattern:?} in exclude_files, which is not a valid glob pattern")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(root)
        .with_context(|| format!("could not create {}", root.display()))?;
    let copier = Copier {
        app_dir: &app_dir,
        exclude: &exclude,
        root,
    };
    for mount in mounts {
        copier
            .copy(mount)
            .with_context(|| format!("[component.{id}] has {mount} in `files`"))?;
    }
    Ok(())
}

struct Copier<'a> {
    app_dir: &'a Path,
    exclude: &'a [glob::Pattern],
    root: &'a Path,
}

impl Copier<'_> {
    fn copy(&self, mount: &FilesMount) -> Result<()> {
        match mount {
            FilesMount::Pattern(pattern) => self.copy_pattern(pattern),
            FilesMount::Placement {
                source,
                destination,
            } => self.copy_placement(source, destination),
        }
    }

    fn copy_pattern(&self, pattern: &str) -> Result<()> {
        let trimmed = pattern.trim_end_matches('/');
        if trimmed == "." || trimmed == ".." || trimmed.ends_with("/.") || trimmed.ends_with("/..")
        {
            bail!(
                "a files entry cannot end in `.` or `..` (Spin refuses it too); to include a directory, write \
                 {{ source = \"dir\", destination = \"/dir\" }} or a glob ending in /**/*"
            );
        }
        if !plain_relative(Path::new(pattern)) {
            bail!(
                "a files entry is a path relative to the manifest's directory, without `..`: to place a file \
                 from elsewhere, write {{ source = \"...\", destination = \"/...\" }}"
            );
        }
        let path = self.app_dir.join(pattern);
        if path.is_file() {
            return copy_file(&path, &self.root.join(pattern));
        }
        if path.is_dir() {
            bail!(
                "{pattern:?} is a directory; write {{ source = {pattern:?}, destination = \"/{trimmed}\" }} to \
                 place its files at /{trimmed}, or the glob \"{trimmed}/**/*\""
            );
        }
        if !looks_like_glob(pattern) {
            bail!(
                "{} does not exist, and {pattern:?} is not a glob pattern; correct the path, or remove the entry",
                path.display()
            );
        }
        let full = format!(
            "{}/{pattern}",
            glob::Pattern::escape(&self.app_dir.to_string_lossy())
        );
        let paths = glob::glob(&full)
            .with_context(|| format!("{pattern:?} is not a valid glob pattern"))?;
        for path in paths {
            let path = path.context("could not read a directory the pattern matches in")?;
            if !path.is_file() {
                continue;
            }
            let relative = path.strip_prefix(self.app_dir).with_context(|| {
                format!("{} is outside the application directory", path.display())
            })?;
            if self.excluded(relative) {
                continue;
            }
            copy_file(&path, &self.root.join(relative))?;
        }
        Ok(())
    }

    fn copy_placement(&self, source: &str, destination: &str) -> Result<()> {
        if Path::new(source).is_absolute() {
            bail!("`source` must be relative to the manifest's directory");
        }
        let guest = destination.trim_start_matches('/');
        if !plain_relative(Path::new(guest)) {
            bail!(
                "`destination` must be a path in the guest without `..`, such as \"/\" or \"/assets\""
            );
        }
        let src = self.app_dir.join(source);
        let dest = self.root.join(guest);
        let metadata = std::fs::metadata(&src).with_context(|| {
            format!(
                "the file or directory {} does not exist; correct `source`",
                src.display()
            )
        })?;
        if metadata.is_dir() {
            return self.copy_directory(&src, &dest);
        }
        if destination.ends_with('/') || destination.ends_with('.') {
            bail!(
                "{source:?} is a file, and {destination:?} is not a valid destination file name: give the file's \
                 path in the guest, such as \"/{}\"",
                Path::new(source)
                    .file_name()
                    .map_or_else(|| "file".into(), |name| name.to_string_lossy())
            );
        }
        copy_file(&src, &dest)
    }

    /// Copies every file under `dir` to the same relative path under `dest`, skipping excluded ones.
    fn copy_directory(&self, dir: &Path, dest: &Path) -> Result<()> {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("could not read {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("could not read {}", dir.display()))?;
            let path = entry.path();
            let to = dest.join(entry.file_name());
            if path.is_dir() {
                self.copy_directory(&path, &to)?;
            } else if path.is_file() {
                let excluded = path
                    .strip_prefix(self.app_dir)
                    .is_ok_and(|relative| self.excluded(relative));
                if !excluded {
                    copy_file(&path, &to)?;
                }
            }
        }
        Ok(())
    }

    fn excluded(&self, relative: &Path) -> bool {
        self.exclude
            .iter()
            .any(|pattern| pattern.matches_path(relative))
    }
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("could not copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Where the components' files are copied: a temporary directory, removed when the server is dropped.
pub(crate) struct FilesRoot {
    dir: tempfile::TempDir,
}

impl FilesRoot {
    pub(crate) fn new() -> Result<FilesRoot> {
        let dir = tempfile::Builder::new()
            .prefix("kvhost-serve-files-")
            .tempdir()
            .context("could not create a temporary directory for the components' files")?;
        Ok(FilesRoot { dir })
    }

    /// The directory of the component `id`'s files.
    pub(crate) fn component(&self, id: &str) -> PathBuf {
        self.dir.path().join("assets").join(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Every file under `root`, relative, sorted, with its contents.
    fn listing(root: &Path) -> Vec<(String, String)> {
        let mut files = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push((
                        path.strip_prefix(root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                        std::fs::read_to_string(&path).unwrap(),
                    ));
                }
            }
        }
        files.sort();
        files
    }

    #[test]
    fn files_globs_and_placements_are_copied_where_spin_puts_them() {
        let app = tempfile::tempdir().unwrap();
        write(app.path(), "index.html", "index");
        write(app.path(), "static/a.css", "a");
        write(app.path(), "static/sub/b.css", "b");
        write(app.path(), "static/sub/c.txt", "c");
        write(app.path(), "static/drafts/d.css", "d");
        write(app.path(), "assets/e.txt", "e");
        write(app.path(), "assets/deep/f.txt", "f");
        write(app.path(), "config/prod.toml", "g");
        let root = tempfile::tempdir().unwrap();
        copy_files(
            "web",
            app.path(),
            &[
                FilesMount::Pattern("index.html".into()),
                FilesMount::Pattern("static/**/*.css".into()),
                FilesMount::Placement {
                    source: "assets".into(),
                    destination: "/data".into(),
                },
                FilesMount::Placement {
                    source: "config/prod.toml".into(),
                    destination: "/config.toml".into(),
                },
            ],
            &["static/drafts/*".into(), "assets/deep/*".into()],
            root.path(),
        )
        .unwrap();
        let expected = [
            ("config.toml", "g"),
            ("data/e.txt", "e"),
            ("index.html", "index"),
            ("static/a.css", "a"),
            ("static/sub/b.css", "b"),
        ];
        assert_eq!(
            listing(root.path()),
            expected.map(|(path, text)| (path.to_owned(), text.to_owned()))
        );
    }

    #[test]
    fn entries_spin_would_not_take_plainly_are_refused_saying_what_to_write() {
        let app = tempfile::tempdir().unwrap();
        write(app.path(), "static/a.css", "a");
        write(app.path(), "one.txt", "1");
        let refusal = |mount: FilesMount| {
            let root = tempfile::tempdir().unwrap();
            format!(
                "{:#}",
                copy_files("web", app.path(), &[mount], &[], root.path()).unwrap_err()
            )
        };
        let message = refusal(FilesMount::Pattern("static".into()));
        assert!(
            message.contains("[component.web] has \"static\" in `files`"),
            "{message}"
        );
        assert!(message.contains("is a directory"), "{message}");
        assert!(message.contains("static/**/*"), "{message}");
        let message = refusal(FilesMount::Pattern("missing.txt".into()));
        assert!(message.contains("does not exist"), "{message}");
        let message = refusal(FilesMount::Pattern("../x/*".into()));
        assert!(message.contains("without `..`"), "{message}");
        let message = refusal(FilesMount::Pattern("static/.".into()));
        assert!(message.contains("cannot end in"), "{message}");
        let message = refusal(FilesMount::Placement {
            source: "nope".into(),
            destination: "/".into(),
        });
        assert!(
            message.contains("does not exist; correct `source`"),
            "{message}"
        );
        let message = refusal(FilesMount::Placement {
            source: "one.txt".into(),
            destination: "/".into(),
        });
        assert!(
            message.contains("not a valid destination file name"),
            "{message}"
        );
        let message = refusal(FilesMount::Placement {
            source: "static".into(),
            destination: "/../x".into(),
        });
        assert!(message.contains("without `..`"), "{message}");
    }
}
