//! The plug: what the suite needs from a host to run its cases there.
//!
//! The suite owns the driver component and the wasmtime [`Store`](wasmtime::Store); the host provides its
//! key-value implementation as linker functions and the per-instance state those functions use. That is all:
//! the reference host is one user of this trait, a third-party host another, and the faulty hosts of the
//! self-test a third.
//!
//! A host implementing the trait itself must behave as the profile it claims ([`HostUnderTest::profile`]) says.
//! [`HostSettings`](crate::reference::HostSettings) is what the reference host derives from a profile (limits,
//! the answer to an undefined label, the open-store bound, the v1 handle policy, the wasi page size); a host built
//! on kvhost's bindings links them with [`add_kvhost_to_linker`](crate::reference::add_kvhost_to_linker) and gets
//! each instance's state from [`HostSettings::instance_state`](crate::reference::HostSettings::instance_state).

use crate::interface::Interface;
use crate::profile::Profile;
use std::collections::BTreeMap;
use std::path::Path;
use wasmtime::component::Linker;

/// The application a case needs, as the host must load it.
#[derive(Clone, Copy, Debug)]
pub struct AppSpec<'a> {
    /// Component ID -> the labels it is granted (its `key_value_stores`).
    pub grants: &'a BTreeMap<String, Vec<String>>,
    /// Labels the runtime configuration defines besides "default". How they are configured (which backend,
    /// which file) is the host's business; each must be a store of its own.
    pub labels: &'a [String],
    /// An empty directory for this case alone: put database files here so that cases never share state.
    pub dir: &'a Path,
}

/// A host under test.
pub trait HostUnderTest: Send + Sync + 'static {
    /// Per-instance state the host's linker functions use.
    type Data: Send + 'static;
    /// A loaded application: the stores its instances share.
    type App: Send + Sync + 'static;

    /// A short name for the backend or configuration under test; trial names use it (`v2/<backend>/...`).
    fn backend(&self) -> &str;

    /// What the host claims.
    fn profile(&self) -> &Profile;

    /// Adds the host's implementation of `interface` to `linker`; `get` finds the host's state in the
    /// suite's store data. For a synchronous version (every one but v3, [`crate::interface::Calls`]) the
    /// linker's engine runs without the component model's concurrency, so its functions are added with
    /// `func_wrap` (or a binding's synchronous `add_to_linker`), not `func_wrap_concurrent`.
    fn add_to_linker<T: Send + 'static>(
        &self,
        interface: Interface,
        linker: &mut Linker<T>,
        get: fn(&mut T) -> &mut Self::Data,
    ) -> anyhow::Result<()>;

    /// Loads an application. An error means the host refused it; its message is checked against the spec
    /// (a refused undefined label must be named).
    fn load(&self, app: &AppSpec<'_>) -> anyhow::Result<Self::App>;

    /// The state for one fresh instance of `component`.
    fn instance_data(&self, app: &Self::App, component: &str) -> anyhow::Result<Self::Data>;
}
