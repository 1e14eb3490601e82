//! kvconf: the conformance suite for the Spin key-value interface.
//!
//! kvconf checks, statement by statement, whether a host behaves as the key-value interface says. It runs
//! driver components (one per interface version, under `guest-fixtures/`) inside the host, has them execute
//! the scripts of the conformance cases (TOML files under `harness/cases/`, format in [`case`]), and compares
//! every outcome with what the spec requires. A model of the spec ([`model`]) predicts the same outcomes
//! independently, so case data and model guard each other.
//!
//! A host plugs in through [`host::HostUnderTest`]: how to add its key-value implementation to a wasmtime
//! linker, how to load an application with its grants, and its per-instance state. The reference host
//! ([`reference`](mod@reference)) is the first user of that plug.
//!
//! Before any run, the spec checker ([`check`]) compares a runtime's WIT, a component's imports or a Spin
//! application with the interface, and [`coverage`] checks the suite itself against the WIT: every function and
//! error case of every version named by a statement and exercised by a case.

#![deny(missing_docs)]

pub mod adapter;
pub mod case;
pub mod catalogue;
pub mod check;
pub mod coverage;
pub mod driver;
pub mod expectations;
pub mod fuzz;
pub mod history;
pub mod host;
pub mod interface;
pub mod libtest;
mod markup;
pub mod model;
pub mod outcome;
pub mod profile;
pub mod reference;
pub mod report;
pub mod runner;
pub mod suite;
pub mod value;
