//! kvconf's canonical WIT of the five key-value versions, compiled into the binary and resolved with
//! wit-parser: what `kvconf check` compares a runtime's WIT and a component's imports with, and what the
//! catalogue's WIT items ([`crate::catalogue::Statement::wit`]) are resolved against.
//!
//! The sources are the files under `wit/deps/` of the repository, byte for byte (`include_str!`); nothing
//! here restates an interface.

use crate::interface::Interface;
use std::sync::OnceLock;
use wit_parser::{InterfaceId, PackageId, PackageName, Resolve};

/// One WIT file of a version: its name under the package's directory and its text.
pub type Source = crate::interface::WitFile;

/// The WIT files of `interface`'s package, as kvconf vendors them under `wit/deps/<directory>`.
pub fn sources(interface: Interface) -> &'static [Source] {
    interface.spec().wit_files
}

/// The directory under `wit/deps/` that holds `interface`'s package.
pub fn directory(interface: Interface) -> &'static str {
    interface.spec().wit_dir
}

/// The five canonical packages, resolved into one [`Resolve`].
pub struct Canonical {
    /// Every canonical package and its types.
    pub resolve: Resolve,
    packages: Vec<(Interface, PackageId)>,
}

impl Canonical {
    /// The canonical WIT compiled into this build.
    pub fn get() -> &'static Canonical {
        static CANONICAL: OnceLock<Canonical> = OnceLock::new();
        CANONICAL.get_or_init(|| {
            let mut resolve = Resolve::default();
            let packages = Interface::ALL
                .into_iter()
                .map(|interface| {
                    let mut map = wit_parser::SourceMap::default();
                    for (name, text) in sources(interface) {
                        map.push_str(&format!("wit/deps/{}/{name}", directory(interface)), *text);
                    }
                    let group = map.parse().unwrap_or_else(|(map, e)| {
                        panic!("kvconf's canonical WIT does not parse: {}", e.render(&map))
                    });
                    let id = resolve
                        .push_group(group)
                        .unwrap_or_else(|e| panic!("kvconf's canonical WIT does not resolve: {e}"));
                    (interface, id)
                })
                .collect();
            Canonical { resolve, packages }
        })
    }

    /// The package of `interface`.
    pub fn package(&self, interface: Interface) -> PackageId {
        self.packages
            .iter()
            .find(|(i, _)| *i == interface)
            .map(|(_, id)| *id)
            .expect("every version has a canonical package")
    }

    /// The package name of `interface` (`fermyon:spin@2.0.0`).
    pub fn package_name(&self, interface: Interface) -> &PackageName {
        &self.resolve.packages[self.package(interface)].name
    }

    /// The version whose package is named exactly `name`, if any.
    pub fn version_named(&self, name: &PackageName) -> Option<Interface> {
        Interface::ALL
            .into_iter()
            .find(|i| self.package_name(*i) == name)
    }

    /// The interfaces of `interface`'s package, by name, in declaration order.
    pub fn interfaces(&self, interface: Interface) -> Vec<(&str, InterfaceId)> {
        self.resolve.packages[self.package(interface)]
            .interfaces
            .iter()
            .map(|(name, id)| (name.as_str(), *id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_resolves_and_is_found_by_its_package_name() {
        let canonical = Canonical::get();
        for interface in Interface::ALL {
            let name = canonical.package_name(interface);
            assert_eq!(canonical.version_named(name), Some(interface));
            assert!(!canonical.interfaces(interface).is_empty());
            assert!(
                interface
                    .wit_name()
                    .starts_with(&format!("{}:{}", name.namespace, name.name)),
                "{interface}: {} is not the package of {}",
                name,
                interface.wit_name()
            );
        }
    }

    #[test]
    fn the_sources_are_every_file_of_each_package_directory() {
        let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wit/deps");
        for interface in Interface::ALL {
            let mut on_disk: Vec<String> = std::fs::read_dir(wit.join(directory(interface)))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            on_disk.sort();
            let mut compiled: Vec<&str> = sources(interface).iter().map(|(n, _)| *n).collect();
            compiled.sort();
            assert_eq!(on_disk, compiled, "{interface}");
            assert_eq!(interface.wit_sha256().len(), 64);
        }
    }
}
