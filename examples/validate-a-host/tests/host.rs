//! A host author's whole conformance test: kvconf's drivers run inside `MyHost`.

use validate_a_host::MyHost;

fn main() {
    kvconf::libtest::Suite::new(MyHost::new())
        .expectations("tests/my-host-expectations.toml")
        .sequences(256) // generated sequences per version, judged against the model (the default)
        .run();
}
