//! kvhost's tests: one test binary, one module per area (ripgrep's layout), each test named as the sentence it
//! checks. Statement IDs in brackets are those of the kvconf specification.

mod app;
mod backends;
mod cli;
mod config;
mod drivers;
mod durability;
mod guest;
mod hostile;
mod limits;
mod load;
mod proxy;
mod scripts;
mod serve;
mod store_ops;
mod v1;
mod v3;
mod wasi;
