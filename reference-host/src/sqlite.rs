//! The SQLite backend: one database file serves any number of labels, each row tagged with its label.
//!
//! The schema is Spin's (`crates/key-value-spin`): table `spin_key_value (store TEXT, key TEXT, value BLOB,
//! PRIMARY KEY (store, key))`, so a database Spin wrote can be served by kvhost and the other way round. Every
//! statement filters on the `store` column, so labels sharing a file never see each other's keys
//! ([ISOLATION-LABEL]), and every statement is parameterised.
//!
//! One [`SqliteStores`] holds one connection behind a mutex; an [`crate::app::Application`] opens each database
//! file once and shares that connection between every label and instance that uses the file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::backend::{Error, Store, StoreManager, add_to_counter, decode_counter, encode_counter};

/// The file name of the default database inside a state directory, as Spin names it (`.spin/sqlite_key_value.db`).
pub const DEFAULT_DATABASE_FILE: &str = "sqlite_key_value.db";

/// Why a SQLite database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The directory the database file goes in could not be created.
    #[error(
        "could not create the directory {dir} for the key-value database: {source}; \
         check that the path is right and writable"
    )]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The database file could not be opened, or the key-value table could not be created in it.
    #[error(
        "could not open the key-value database {path}: {source}; \
         check that the file is a SQLite database (or absent) and writable"
    )]
    Open {
        /// The database file (`:memory:` for an in-memory database).
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
}

/// Prepares `path` for [`SqliteStores::open`]: creates its directory if needed and returns the path in a canonical
/// form, so that two spellings of one file (`./kv.db`, `dir/../kv.db`) compare equal and share one connection.
///
/// # Errors
///
/// [`OpenError::CreateDir`] when the directory cannot be created or resolved.
pub fn canonical_database_path(path: &Path) -> Result<PathBuf, OpenError> {
    let create_dir_error = |dir: &Path, source| OpenError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    };
    if let Ok(canonical) = path.canonicalize() {
        return Ok(canonical);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| create_dir_error(dir, e))?;
    let dir = dir.canonicalize().map_err(|e| create_dir_error(dir, e))?;
    Ok(match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    })
}

/// A [`StoreManager`] serving any label from one SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStores {
    connection: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
}

impl SqliteStores {
    /// Opens (creating if needed) the database file at `path` and its key-value table. The directory is created
    /// if it does not exist.
    ///
    /// # Errors
    ///
    /// [`OpenError`] when the directory cannot be created or the file cannot be opened as a SQLite database.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let path = canonical_database_path(path)?;
        let connection = Connection::open(&path).map_err(|source| OpenError::Open {
            path: path.clone(),
            source,
        })?;
        Self::prepare(connection, Some(path))
    }

    /// A private in-memory database; its data goes when the last clone of this value is dropped.
    ///
    /// # Errors
    ///
    /// [`OpenError::Open`] when SQLite cannot create it.
    pub fn open_in_memory() -> Result<Self, OpenError> {
        let connection = Connection::open_in_memory().map_err(|source| OpenError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Self::prepare(connection, None)
    }

    fn prepare(connection: Connection, path: Option<PathBuf>) -> Result<Self, OpenError> {
        let open_error = |source| OpenError::Open {
            path: path.clone().unwrap_or_else(|| PathBuf::from(":memory:")),
            source,
        };
        // WAL with synchronous=NORMAL rather than SQLite's default rollback journal with synchronous=FULL. Every
        // `set` is its own transaction, and with the default journal each one waits for an fsync: measured here,
        // 1100 sets took 20 s, so the suite's capacity cases would be dominated by disk flushes. In WAL mode with
        // NORMAL a commit only appends to the -wal file; it survives the process ending or crashing (what
        // [PERSIST-RESTART] asks of a durable backend) and can only be lost on power failure or an OS crash,
        // where the database stays consistent. WAL also lets another Application or process read the file while
        // this one writes. The journal mode is stored in the file, so Spin opening it later simply uses WAL too.
        // In-memory databases have no journal file and ignore the journal-mode request.
        connection
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get::<_, String>(0))
            .map_err(open_error)?;
        connection
            .pragma_update(None, "synchronous", "normal")
            .map_err(open_error)?;
        // Within one Application every use of a file goes through this connection and its mutex; another
        // connection on the same file (another Application, another process) can hold the write lock, and the
        // busy timeout makes a writer wait for it instead of failing at once.
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(open_error)?;
        connection
            .execute(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL,
                    key   TEXT NOT NULL,
                    value BLOB NOT NULL,
                    PRIMARY KEY (store, key)
                )",
                [],
            )
            .map_err(open_error)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            path,
        })
    }

    /// The database file, or `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The store for `label` in this database. Every store of one [`SqliteStores`] shares its connection.
    pub fn store(&self, label: &str) -> SqliteStore {
        SqliteStore {
            connection: Arc::clone(&self.connection),
            label: label.to_owned(),
        }
    }
}

impl StoreManager for SqliteStores {
    fn get(&self, label: &str) -> Result<Arc<dyn Store>, Error> {
        Ok(Arc::new(self.store(label)))
    }

    fn is_defined(&self, _label: &str) -> bool {
        true
    }
}

/// One labelled store inside a SQLite database.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    label: String,
}

impl SqliteStore {
    /// The label this store's rows carry in the `store` column.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // No transaction outlives the lock it was begun under (a `Transaction` that is dropped, even by a panic,
        // rolls back), so a panic while the lock was held leaves the connection usable.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `work` in one transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`), so a
    /// read-modify-write is atomic against other connections to the file too, not only against this process's
    /// mutex; it commits if `work` succeeds and rolls back otherwise.
    fn write_transaction<R>(
        &self,
        operation: &str,
        work: impl FnOnce(&Transaction<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut connection = self.connection();
        let transaction = Transaction::new(&mut connection, TransactionBehavior::Immediate)
            .map_err(backend_error(operation))?;
        let result = work(&transaction)?;
        transaction.commit().map_err(backend_error(operation))?;
        Ok(result)
    }
}

const SELECT_VALUE: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";
const UPSERT_VALUE: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value";

/// Turns a SQLite failure into the guest-visible `other` error, keeping SQLite's own message.
fn backend_error(operation: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |e| {
        Error::Other(format!(
            "the SQLite key-value store failed to {operation}: {e}"
        ))
    }
}

impl Store for SqliteStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.connection()
            .prepare_cached(SELECT_VALUE)
            .and_then(|mut statement| {
                statement
                    .query_row(params![self.label, key], |row| row.get::<_, Vec<u8>>(0))
                    .optional()
            })
            .map_err(backend_error("read a value"))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.connection()
            .prepare_cached(UPSERT_VALUE)
            .and_then(|mut statement| statement.execute(params![self.label, key, value]))
            .map(drop)
            .map_err(backend_error("write a value"))
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.connection()
            .prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")
            .and_then(|mut statement| statement.execute(params![self.label, key]))
            .map(drop)
            .map_err(backend_error("delete a key"))
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        self.connection()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)",
            )
            .and_then(|mut statement| {
                statement.query_row(params![self.label, key], |row| row.get::<_, bool>(0))
            })
            .map_err(backend_error("check for a key"))
    }

    fn get_keys(&self) -> Result<Vec<String>, Error> {
        self.connection()
            .prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")
            .and_then(|mut statement| {
                statement
                    .query_map(params![self.label], |row| row.get::<_, String>(0))?
                    .collect()
            })
            .map_err(backend_error("list the keys"))
    }

    fn key_count(&self) -> Result<usize, Error> {
        self.connection()
            .prepare_cached("SELECT COUNT(*) FROM spin_key_value WHERE store = ?1")
            .and_then(|mut statement| {
                statement.query_row(params![self.label], |row| row.get::<_, i64>(0))
            })
            .map_err(backend_error("count the keys"))
            // COUNT(*) is never negative.
            .map(|count| usize::try_from(count).unwrap_or(usize::MAX))
    }

    fn list_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        // SQLite compares TEXT with the BINARY collation (memcmp of the UTF-8 bytes), which is the byte order the
        // trait promises, and the primary key (store, key) makes each page an index range scan. The empty string
        // is the least key, so "after nothing" is "key >= ''"; a bound past i64::MAX rows is no bound.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let connection = self.connection();
        let statement = match after {
            Some(_) => {
                "SELECT key FROM spin_key_value WHERE store = ?1 AND key > ?2 ORDER BY key LIMIT ?3"
            }
            None => {
                "SELECT key FROM spin_key_value WHERE store = ?1 AND key >= ?2 ORDER BY key LIMIT ?3"
            }
        };
        connection
            .prepare_cached(statement)
            .and_then(|mut statement| {
                statement
                    .query_map(params![self.label, after.unwrap_or(""), limit], |row| {
                        row.get::<_, String>(0)
                    })?
                    .collect()
            })
            .map_err(backend_error("list the keys"))
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        // Spin's SQLite backend panics on a value that is not a counter ([ATOMIC-INCREMENT-BAD]); here the value is
        // decoded in Rust inside the transaction, and a bad value or an overflow rolls back with an error.
        self.write_transaction("increment a counter", |transaction| {
            let current: Option<Vec<u8>> = transaction
                .prepare_cached(SELECT_VALUE)
                .and_then(|mut statement| {
                    statement
                        .query_row(params![self.label, key], |row| row.get(0))
                        .optional()
                })
                .map_err(backend_error("increment a counter"))?;
            let new = add_to_counter(key, decode_counter(key, current.as_deref())?, delta)?;
            transaction
                .prepare_cached(UPSERT_VALUE)
                .and_then(|mut statement| {
                    statement.execute(params![self.label, key, encode_counter(new)])
                })
                .map_err(backend_error("increment a counter"))?;
            Ok(new)
        })
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, Error> {
        // One conditional statement each way, so the comparison and the write are atomic without a transaction:
        // from absent, an insert that does nothing if the key is there; otherwise an update that matches only the
        // expected bytes (BLOBs compare with memcmp). It wrote exactly when it changed a row.
        let connection = self.connection();
        let changed = match expected {
            None => connection
                .prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO NOTHING",
                )
                .and_then(|mut statement| statement.execute(params![self.label, key, new])),
            Some(expected) => connection
                .prepare_cached(
                    "UPDATE spin_key_value SET value = ?3 WHERE store = ?1 AND key = ?2 AND value = ?4",
                )
                .and_then(|mut statement| {
                    statement.execute(params![self.label, key, new, expected])
                }),
        }
        .map_err(backend_error("compare and swap a value"))?;
        Ok(changed == 1)
    }

    /// All or nothing: the pairs are written in one transaction.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        self.write_transaction("write a batch of values", |transaction| {
            let mut statement = transaction
                .prepare_cached(UPSERT_VALUE)
                .map_err(backend_error("write a batch of values"))?;
            for (key, value) in entries {
                statement
                    .execute(params![self.label, key, value])
                    .map_err(backend_error("write a batch of values"))?;
            }
            Ok(())
        })
    }

    /// All or nothing: the keys are deleted in one transaction.
    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        self.write_transaction("delete a batch of keys", |transaction| {
            let mut statement = transaction
                .prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")
                .map_err(backend_error("delete a batch of keys"))?;
            for key in keys {
                statement
                    .execute(params![self.label, key])
                    .map_err(backend_error("delete a batch of keys"))?;
            }
            Ok(())
        })
    }
}
