//! `kvhost serve`: runs a Spin HTTP application (a `spin.toml`) the way `spin up` does, with kvhost's key-value
//! stores, so the reference host can be validated out of process exactly as Spin is, and real Spin key-value apps
//! run on it.
//!
//! The server ([`Server`], [`run`]) and its HTTP stack (hyper, wasmtime-wasi-http, tokio) are behind the default
//! feature `serve`; without it (`default-features = false`, as kvconf depends on kvhost) the manifest, routes,
//! sources, files and options below are still here, for tools that read Spin applications without serving them.
//!
//! - The manifest ([`manifest`]): Spin's `spin_manifest_version = 2`, as far as HTTP components and key-value
//!   stores go; anything kvhost cannot honour is refused with a message naming the key and the component.
//! - Routes ([`routes`]): Spin's syntax (exact, `:name` segments, a trailing `/...`), the most specific match
//!   wins, and a request no route matches gets a 404.
//! - Stores: exactly kvhost's semantics. Each component's `key_value_stores` are its grants, the runtime config
//!   and the limits come from the [`HostConfig`], and the application is loaded once with
//!   [`Application::load`](crate::Application::load) (so an undefined label is refused before anything is served, or answered with
//!   `no-such-store`, as [`HostConfig::undefined_labels`] says). Instead of kvhost's backends, a caller may serve
//!   its own [`StoreManager`] ([`ServeOptions::store_manager`]).
//! - Sources ([`source`]): a component is used as it is; a core module (a `wasm32-wasip1` build, as Spin's
//!   documentation builds Rust apps) is componentized on load with wit-component and wasmtime's WASI preview1
//!   adapter, as Spin does; a missing file is reported as missing, naming the component and the path.
//! - Components: each is compiled and pre-instantiated once; every request gets a fresh instance (as in Spin)
//!   whose key-value state is its own, linked with every key-value version, WASI p2 and p3 and wasi:http. A
//!   component exporting `wasi:http/incoming-handler@0.2.x` (what Spin's SDKs and `wasmtime serve` run) and one
//!   exporting `wasi:http/handler@0.3.x` (called concurrently, so it may use the async v3 interface) both work.
//! - Responses stream: each piece of body a component writes reaches the client as it is written (chunked when
//!   the component sets no `content-length`). A component that traps ends its own request only: the client gets
//!   a 500 if no response was started, or a body cut off where the trap happened, and the server goes on.
//!   Requests are served concurrently, the instances on a multi-threaded runtime of their own (so a host call
//!   that blocks holds up neither the lines already written nor other requests); a guest that computes without
//!   end yields to the others every 10 ms. No time limit is put on a request, but an instance whose client went
//!   away is stopped.
//! - Stopping (SIGINT or SIGTERM for [`run`] and [`Server::serve`]): no new connections, up to five seconds for
//!   the requests in flight, then the instances are stopped and the stores closed.
//! - Files ([`files`]): a component's `files` are copied when the application loads into a temporary directory
//!   of its own, which each instance sees as `/`, read-only unless [`ServeOptions::allow_transient_write`], as
//!   `spin up` does; the directory is removed when the server stops.
//! - `--listen` ([`resolve_listen_address`]): an IP address or a host name with a port, resolved as Spin resolves
//!   it (`localhost:3000` is 127.0.0.1:3000).
//! - Components get no outbound HTTP (a request fails with `HTTP-request-denied`); their stdout and stderr are
//!   the server's.
//!
//! # Example
//!
//! Serve an application with a store manager of one's own (here kvhost's in-memory backend), on a port the
//! system chooses, until the future given to [`Server::serve_until`] completes:
//!
//! ```no_run
//! use std::sync::Arc;
//! use kvhost::serve::{ManagerContext, ServeOptions, Server};
//! use kvhost::StoreManager;
//!
//! # async fn example() -> anyhow::Result<()> {
//! let mut options = ServeOptions::new("apps/driver/spin.toml");
//! options.listen = "127.0.0.1:0".parse()?;
//! options.store_manager = Some(Arc::new(|_: &ManagerContext<'_>| {
//!     Ok(Arc::new(kvhost::memory::MemoryStores::new()) as Arc<dyn StoreManager>)
//! }));
//! let server = Server::bind(options).await?;
//! println!("serving {} on http://{}", server.app_name(), server.local_addr());
//! server.serve_until(async { tokio::time::sleep(std::time::Duration::from_secs(60)).await }).await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`run`] does all of it on a runtime of its own, prints the line `kvhost serve` prints and serves until
//! SIGINT or SIGTERM: a binary serving a store manager of its own is `kvhost::serve::run(options)`.

pub mod files;
#[cfg(feature = "serve")]
mod host;
pub mod manifest;
pub mod routes;
#[cfg(feature = "serve")]
mod server;
pub mod source;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::{HostConfig, StoreManager};
#[cfg(feature = "serve")]
pub use host::HttpWorld;
pub use manifest::Manifest;
pub use routes::{RouteMatch, Router};
#[cfg(feature = "serve")]
pub use server::{Server, run, shutdown_signal};

/// Makes the [`StoreManager`] that serves every label of the application, in place of kvhost's own backends.
///
/// It is called once, when the application loads, with what the application needs ([`ManagerContext`]). The
/// manager answers [`StoreManager::is_defined`] for the labels it serves: with
/// [`UndefinedLabels::RefuseLoad`](crate::UndefinedLabels::RefuseLoad) a granted label it does not define refuses the application, as with kvhost's
/// backends. [`HostConfig::limits`] are not applied to its stores (a backend enforces its own, or is served
/// behind [`crate::limits::LimitedStores`]);
/// [`HostConfig::max_open_stores`], [`HostConfig::wasi_page_size`], [`HostConfig::v1_invalid_handle`] and
/// [`HostConfig::reuse_handles`] are.
pub type StoreManagerFactory =
    Arc<dyn Fn(&ManagerContext<'_>) -> Result<Arc<dyn StoreManager>> + Send + Sync>;

/// What a [`StoreManagerFactory`] is told about the application it serves.
#[derive(Debug)]
pub struct ManagerContext<'a> {
    /// The application's manifest.
    pub manifest: &'a Manifest,
    /// Every component's granted labels (its `key_value_stores`), by component id.
    pub grants: &'a BTreeMap<String, Vec<String>>,
    /// The host configuration the server was given, runtime config included.
    pub host_config: &'a HostConfig,
}

/// How to serve an application.
#[derive(Clone)]
pub struct ServeOptions {
    /// The application: a `spin.toml`, or a directory holding one.
    pub manifest: PathBuf,
    /// The address to listen on; port 0 lets the system choose ([`Server::local_addr`] tells which).
    pub listen: SocketAddr,
    /// The stores' configuration: default backend, runtime config, limits and answers to the ALLOWED choices.
    pub host_config: HostConfig,
    /// A store manager of the caller's, serving every label instead of kvhost's backends (see
    /// [`StoreManagerFactory`]); `None` serves the stores [`HostConfig`] describes.
    pub store_manager: Option<StoreManagerFactory>,
    /// Environment variables given to every component, after (so overriding) its manifest `environment`: Spin's
    /// `--env KEY=VALUE`.
    pub environment: Vec<(String, String)>,
    /// Keys set in the store "default" once the application has loaded, before anything is served, each
    /// overwriting any value it had: Spin's `--key-value KEY=VALUE`.
    pub initial_key_values: Vec<(String, String)>,
    /// Whether components may write to their `files` (the server's temporary copies): Spin's
    /// `--allow-transient-write`. By default they are read-only.
    pub allow_transient_write: bool,
    /// What one request's instance may use: how long it may run and how much memory it may have.
    pub instance_limits: InstanceLimits,
}

/// What one request's instance may use. Spin has both as `spin up` flags with no default (at spinframework/spin
/// 94a8fc8a: `--request-timeout`, for WASIp3 components only, and `--max-instance-memory`); kvhost sets them by
/// default, so that a guest that loops or allocates without end costs its own request and not the server: see
/// [`InstanceLimits::DEFAULT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceLimits {
    /// The longest a request may take, from when its instance starts on it to the end of its response. Past it
    /// the instance is stopped: a request not yet answered gets `504 Gateway Timeout`, a response already
    /// started is cut off. `None`: no deadline.
    pub request_timeout: Option<Duration>,
    /// The most linear memory one instance may have, all its memories together, in bytes. A guest that asks
    /// for more traps, and its request fails. `None`: no limit.
    pub max_memory: Option<usize>,
}

impl InstanceLimits {
    /// `kvhost serve`'s defaults: a minute per request, 512 MiB per instance.
    pub const DEFAULT: InstanceLimits = InstanceLimits {
        request_timeout: Some(Duration::from_secs(60)),
        max_memory: Some(512 << 20),
    };
}

impl Default for InstanceLimits {
    fn default() -> InstanceLimits {
        InstanceLimits::DEFAULT
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("manifest", &self.manifest)
            .field("listen", &self.listen)
            .field("host_config", &self.host_config)
            .field("store_manager", &self.store_manager.as_ref().map(|_| ".."))
            .field("environment", &self.environment)
            .field("initial_key_values", &self.initial_key_values)
            .field("allow_transient_write", &self.allow_transient_write)
            .field("instance_limits", &self.instance_limits)
            .finish()
    }
}

/// The default address: `127.0.0.1:3000`, as `spin up`.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 3000);

impl ServeOptions {
    /// Serving the application at `manifest` (a `spin.toml` or its directory) on [`DEFAULT_LISTEN`], like
    /// `spin up` with no runtime config: "default" in the SQLite file `.spin/sqlite_key_value.db` beside the
    /// manifest ([`default_state_dir`]), relative runtime-config paths resolved against the manifest's
    /// directory, no limits, and undefined labels refused at load.
    pub fn new(manifest: impl Into<PathBuf>) -> ServeOptions {
        let manifest = manifest.into();
        let mut host_config = HostConfig::sqlite(default_state_dir(&manifest));
        host_config.base_dir = manifest_dir(&manifest);
        ServeOptions {
            manifest,
            listen: DEFAULT_LISTEN,
            host_config,
            store_manager: None,
            environment: Vec::new(),
            initial_key_values: Vec::new(),
            allow_transient_write: false,
            instance_limits: InstanceLimits::DEFAULT,
        }
    }
}

/// Resolves a listen address as `spin up --listen` does: `HOST:PORT`, where `HOST` is an IP address (`[...]`
/// for IPv6) or a name the system resolves (`localhost:3000`); of a name's addresses, 127.0.0.1 if it is one of
/// them, and otherwise the first.
///
/// # Errors
///
/// When the text is not `HOST:PORT` or the name does not resolve; the message says what to give.
pub fn resolve_listen_address(address: &str) -> Result<SocketAddr> {
    let addresses: Vec<SocketAddr> = address
        .to_socket_addrs()
        .with_context(|| {
            format!(
                "could not resolve the listen address {address:?}; give HOST:PORT, such as 127.0.0.1:3000, \
                 localhost:3000 or [::1]:3000"
            )
        })?
        .collect();
    // Spin prefers 127.0.0.1 to any other address of the name (`localhost` may be ::1 first).
    let loopback = addresses
        .iter()
        .find(|address| address.ip() == std::net::IpAddr::V4(Ipv4Addr::LOCALHOST));
    loopback
        .or(addresses.first())
        .copied()
        .with_context(|| format!("the listen address {address:?} resolves to no address"))
}

/// Spin's state directory for the application at `manifest` (a `spin.toml` or its directory): `.spin` in the
/// manifest's directory.
pub fn default_state_dir(manifest: &Path) -> PathBuf {
    manifest_dir(manifest).join(".spin")
}

fn manifest_dir(manifest: &Path) -> PathBuf {
    match manifest::manifest_file(manifest).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
