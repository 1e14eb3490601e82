//! The spec checker: what can be known before any run, statically, from WIT, a component or a Spin application.
//!
//! - [`wit`]: a runtime's WIT tree (`kvconf check wit`), each key-value package in it compared structurally
//!   with kvconf's canonical WIT ([`canonical`]) by [`compare`];
//! - [`component`]: a component's imports of key-value and its HTTP handler (`kvconf check component`);
//! - [`app`]: a Spin application's manifest and runtime configuration (`kvconf check app`);
//! - [`output`]: the findings printed for a person, as JSON, or as JUnit XML.
//!
//! Every difference is a [`Finding`] with a stable [`Code`], the WIT path it is at, both sides printed as WIT,
//! whether it breaks a guest built against the canonical WIT, and the catalogue statements it touches.
//!
//! "Breaking" follows the component model's rule for matching an import with what is provided, as wasmparser
//! implements it (`validator/component_types.rs`, 0.254): function types must be equal, parameter names, record
//! field names and variant case names and their order included; only extra items (a function, an interface, a
//! type no function uses) are allowed. So any difference in a function a canonical guest may import, or in a
//! type it reaches, is breaking.

use serde::Serialize;
use std::fmt;

pub mod app;
pub mod canonical;
pub mod compare;
pub mod component;
pub mod output;
pub mod wit;

/// How much a finding matters to the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// A guest built against the canonical WIT would not link, or an application would not load: exit 1.
    Error,
    /// A difference that does not stop linking or loading but a runtime implementer should act on.
    Warning,
    /// Information: what was checked and how (a missing dependency package, an unknown version's nearest).
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// What a finding is, as a stable kebab-case code (`function-missing`) a CI rule can match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// An interface of the canonical package is not in the checked one.
    InterfaceMissing,
    /// The checked package has an interface the canonical one does not.
    InterfaceExtra,
    /// A function of the canonical interface is missing.
    FunctionMissing,
    /// The checked interface has a function the canonical one does not.
    FunctionExtra,
    /// A function is freestanding on one side and a method (or static, or constructor) on the other.
    FunctionKindChanged,
    /// A function is `async` on one side only.
    AsyncChanged,
    /// A parameter has another name (same position, same type).
    ParamRenamed,
    /// A function's parameters differ in number or type.
    ParamsChanged,
    /// A function's result differs.
    ResultChanged,
    /// A named type (record, variant, enum, resource, alias) of the canonical interface is missing.
    TypeMissing,
    /// The checked interface has a named type the canonical one does not.
    TypeExtra,
    /// A named type is another kind of type, or an alias of another type.
    TypeChanged,
    /// A variant or enum case of the canonical type is missing.
    CaseMissing,
    /// The checked variant or enum has a case the canonical one does not.
    CaseExtra,
    /// A case has another name at the same position.
    CaseRenamed,
    /// A variant case carries another payload.
    CasePayloadChanged,
    /// A record field of the canonical type is missing.
    FieldMissing,
    /// The checked record has a field the canonical one does not.
    FieldExtra,
    /// A record field has another name at the same position.
    FieldRenamed,
    /// A record field has another type.
    FieldTypeChanged,
    /// A package kvconf does not know, compared with the nearest version it knows.
    UnknownVersion,
    /// A package a world of the checked tree refers to is not in the tree: its key-value packages were checked
    /// on their own.
    DependencyMissing,
    /// A tree, component or application as checked: what was found in it (informative).
    Found,
    /// A component imports a version the host profile does not provide.
    VersionNotProvided,
    /// A Spin application grants a label that is not defined.
    LabelUndefined,
    /// A label or component name that Spin's rules refuse.
    NameInvalid,
    /// A runtime configuration store type Spin does not know.
    StoreTypeUnknown,
    /// A component imports key-value but is granted no label (every open is access-denied).
    NoGrant,
    /// A component is granted labels but imports no key-value interface.
    GrantUnused,
    /// A component's source cannot be read or decoded.
    SourceUnreadable,
}

impl Code {
    /// The code as printed (`function-missing`).
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// One difference, or one thing worth knowing, found by a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it is.
    pub code: Code,
    /// How much it matters.
    pub severity: Severity,
    /// Where: a WIT path (`fermyon:spin/key-value@2.0.0#store.get`), a file, or a component of an application.
    pub path: String,
    /// The canonical side, printed as WIT, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The checked side, printed as WIT, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// Whether it stops a guest built against the canonical WIT from linking: a WIT difference a guest reaches, a
    /// version the host does not provide.
    pub breaking: bool,
    /// The catalogue statements whose WIT items the difference touches.
    pub statements: Vec<String>,
    /// What it means, in a sentence.
    pub message: String,
}

impl Finding {
    /// A finding with no WIT sides, no statements, and not breaking (set [`Finding::breaking`] for one that stops a
    /// guest from linking).
    pub fn new(
        code: Code,
        severity: Severity,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            code,
            severity,
            path: path.into(),
            expected: None,
            found: None,
            breaking: false,
            statements: Vec::new(),
            message: message.into(),
        }
    }
}

/// Whether any finding is an error: the check's exit code is 1 then.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}
