//! A backend author's whole conformance test: the reference host's bindings serve `TinyStores`.

use kvconf::reference::ReferenceHost;
use std::sync::Arc;
use validate_a_host::{TinyStores, profile};

fn main() {
    let host = ReferenceHost::with_backend(
        "tiny",
        profile(),
        Arc::new(|app| Ok(Arc::new(TinyStores::new(app)))),
    );
    kvconf::libtest::Suite::new(host).sequences(256).run();
}
