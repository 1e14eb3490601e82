//! The smoke test of the packaged crates: kvconf's cases, histories and generated sequences, from inside the
//! kvconf package (its embedded drivers, its cases and catalogue), against kvhost's memory backend.

use kvconf::reference::{Backend, ReferenceHost};

fn main() {
    let host = ReferenceHost::new(Backend::Memory, ReferenceHost::sip010_profile());
    kvconf::libtest::Suite::new(host).histories(2).sequences(32).run();
}
