//! The structural comparison of one key-value interface with kvconf's canonical one: functions (kind, `async`,
//! parameters, result) and the named types they use (records field by field, variants and enums case by case,
//! aliases followed), each difference a [`Finding`] at its WIT path.
//!
//! Types are printed as WIT to be compared: a function's signature names the types it uses (`error`,
//! `borrow<bucket>`), so a change inside a named type is reported once, at the type, and a function is reported
//! only where its own signature reads differently. Docs, spans and the order of declarations are ignored.

use super::{Code, Finding, Severity};
use crate::catalogue::Catalogue;
use crate::interface::Interface;
use std::collections::BTreeSet;
use wit_parser::{
    Function, FunctionKind, Handle, InterfaceId, Resolve, Type, TypeDefKind, TypeId, TypeOwner,
};

/// What the checked interface is expected to be.
///
/// In [`Mode::Package`] every difference is an error (a package named like a published version must say
/// what it says), additions included, with [`Finding::breaking`] telling which ones stop a canonical guest from
/// linking; in [`Mode::Import`] only breaking differences are errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A runtime's whole interface (`kvconf check wit`): every canonical function must be there, extras are
    /// warnings.
    Package,
    /// What a component imports (`kvconf check component`): each function it imports must exist in the
    /// canonical interface with the same type; the ones it does not use are not looked for.
    Import,
}

/// Compares interface `found_iface` of `found` with `canonical_iface` of `canonical`, which is an interface of
/// version `version`, and returns one finding per difference (none when they match).
pub fn compare_interface(
    canonical: &Resolve,
    canonical_iface: InterfaceId,
    found: &Resolve,
    found_iface: InterfaceId,
    version: Interface,
    mode: Mode,
) -> Vec<Finding> {
    let cx = Cx {
        canonical: Side::new(canonical, canonical_iface),
        found: Side::new(found, found_iface),
        version,
        mode,
        catalogue: Catalogue::builtin(),
    };
    let mut findings = Vec::new();
    cx.functions(&mut findings);
    cx.types(&mut findings);
    findings
}

/// One side of the comparison: an interface in its resolve.
struct Side<'a> {
    resolve: &'a Resolve,
    iface: InterfaceId,
}

impl<'a> Side<'a> {
    fn new(resolve: &'a Resolve, iface: InterfaceId) -> Side<'a> {
        Side { resolve, iface }
    }

    fn interface(&self) -> &'a wit_parser::Interface {
        &self.resolve.interfaces[self.iface]
    }

    /// The interface's name within its package (`key-value`).
    fn name(&self) -> &'a str {
        self.interface().name.as_deref().unwrap_or("<anonymous>")
    }

    /// The functions by item name (`store.get`), in declaration order.
    fn functions(&self) -> Vec<(String, &'a Function)> {
        self.interface()
            .functions
            .values()
            .map(|f| (item_name(f), f))
            .collect()
    }

    fn function(&self, item: &str) -> Option<&'a Function> {
        self.functions()
            .into_iter()
            .find(|(name, _)| name == item)
            .map(|(_, f)| f)
    }

    fn ty(&self, name: &str) -> Option<TypeId> {
        self.interface().types.get(name).copied()
    }

    /// The named types every function of this side reaches, through aliases and anonymous types.
    fn reached_types(&self) -> BTreeSet<String> {
        let mut reached = BTreeSet::new();
        for (_, f) in self.functions() {
            self.reach_function(f, &mut reached);
        }
        reached
    }

    /// Whether function `f` uses the named type `name`, directly or through other types.
    fn function_reaches(&self, f: &Function, name: &str) -> bool {
        let mut reached = BTreeSet::new();
        self.reach_function(f, &mut reached);
        reached.contains(name)
    }

    fn reach_function(&self, f: &Function, reached: &mut BTreeSet<String>) {
        for p in &f.params {
            self.reach(p.ty, reached);
        }
        if let Some(r) = f.result {
            self.reach(r, reached);
        }
    }

    fn reach(&self, ty: Type, reached: &mut BTreeSet<String>) {
        let Type::Id(id) = ty else { return };
        let def = &self.resolve.types[id];
        if let Some(name) = &def.name
            && def.owner == TypeOwner::Interface(self.iface)
            && !reached.insert(name.clone())
        {
            return;
        }
        let mut each = |t: Option<Type>| {
            if let Some(t) = t {
                self.reach(t, reached)
            }
        };
        match &def.kind {
            TypeDefKind::Record(r) => r.fields.iter().for_each(|f| each(Some(f.ty))),
            TypeDefKind::Tuple(t) => t.types.iter().for_each(|t| each(Some(*t))),
            TypeDefKind::Variant(v) => v.cases.iter().for_each(|c| each(c.ty)),
            TypeDefKind::Option(t) | TypeDefKind::List(t) | TypeDefKind::Type(t) => each(Some(*t)),
            TypeDefKind::FixedLengthList(t, _) => each(Some(*t)),
            TypeDefKind::Map(k, v) => {
                each(Some(*k));
                each(Some(*v));
            }
            TypeDefKind::Result(r) => {
                each(r.ok);
                each(r.err);
            }
            TypeDefKind::Future(t) | TypeDefKind::Stream(t) => each(*t),
            TypeDefKind::Handle(Handle::Own(t) | Handle::Borrow(t)) => each(Some(Type::Id(*t))),
            TypeDefKind::Resource
            | TypeDefKind::Flags(_)
            | TypeDefKind::Enum(_)
            | TypeDefKind::Unknown => {}
        }
    }
}

struct Cx<'a> {
    canonical: Side<'a>,
    found: Side<'a>,
    version: Interface,
    mode: Mode,
    catalogue: &'a Catalogue,
}

impl Cx<'_> {
    /// The WIT path of `item` in the checked interface: `fermyon:spin/key-value@2.0.0#store.get`.
    fn path(&self, item: &str) -> String {
        let id = self
            .found
            .resolve
            .id_of(self.found.iface)
            .unwrap_or_else(|| self.found.name().to_string());
        format!("{id}#{item}")
    }

    /// The statements naming `item` (`store.get`, `error.access-denied`) of the canonical interface.
    fn statements(&self, items: &[String]) -> Vec<String> {
        let mut ids = BTreeSet::new();
        for item in items {
            let item = format!("{}#{item}", self.canonical.name());
            ids.extend(self.catalogue.naming(self.version, &item));
        }
        // Catalogue order reads better than alphabetical.
        self.catalogue
            .statements()
            .iter()
            .filter(|s| ids.contains(&s.id))
            .map(|s| s.id.clone())
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        code: Code,
        breaking: bool,
        item: &str,
        expected: Option<String>,
        found: Option<String>,
        statements: Vec<String>,
        message: String,
    ) -> Finding {
        Finding {
            code,
            // A package that names a published version must say exactly what it says (an addition is not
            // breaking, but guests built against it would not run on other hosts); a component may import less.
            severity: if breaking || self.mode == Mode::Package {
                Severity::Error
            } else {
                Severity::Warning
            },
            path: self.path(item),
            expected,
            found,
            breaking,
            statements,
            message,
        }
    }

    fn functions(&self, out: &mut Vec<Finding>) {
        for (item, expected) in self.canonical.functions() {
            let statements = self.statements(std::slice::from_ref(&item));
            let Some(found) = self.found.function(&item) else {
                if self.mode == Mode::Package {
                    out.push(self.finding(
                        Code::FunctionMissing,
                        true,
                        &item,
                        Some(print_function(self.canonical.resolve, expected)),
                        None,
                        statements,
                        format!("`{item}` is missing: a guest that calls it does not link"),
                    ));
                }
                continue;
            };
            self.function(&item, expected, found, statements, out);
        }
        for (item, found) in self.found.functions() {
            if self.canonical.function(&item).is_none() {
                let breaking = self.mode == Mode::Import;
                let message = if breaking {
                    format!(
                        "the component imports `{item}`, which {} does not have: no conforming host provides it",
                        self.version.wit_name()
                    )
                } else {
                    format!(
                        "`{item}` is not in {}: not breaking for its guests, but a guest built against this WIT \
                         that calls it links on no other host",
                        self.version.wit_name()
                    )
                };
                out.push(self.finding(
                    Code::FunctionExtra,
                    breaking,
                    &item,
                    None,
                    Some(print_function(self.found.resolve, found)),
                    Vec::new(),
                    message,
                ));
            }
        }
    }

    fn function(
        &self,
        item: &str,
        expected: &Function,
        found: &Function,
        statements: Vec<String>,
        out: &mut Vec<Finding>,
    ) {
        let (c, f) = (self.canonical.resolve, self.found.resolve);
        let sides = || {
            (
                Some(print_function(c, expected)),
                Some(print_function(f, found)),
            )
        };
        let mut push = |code: Code, message: String| {
            let (e, g) = sides();
            out.push(self.finding(code, true, item, e, g, statements.clone(), message));
        };
        if kind_name(&expected.kind) != kind_name(&found.kind) {
            push(
                Code::FunctionKindChanged,
                format!(
                    "`{item}` is a {} function, not a {} one",
                    kind_name(&found.kind),
                    kind_name(&expected.kind)
                ),
            );
        }
        if expected.kind.is_async() != found.kind.is_async() {
            let (is, not) = if expected.kind.is_async() {
                ("synchronous", "async")
            } else {
                ("async", "synchronous")
            };
            push(
                Code::AsyncChanged,
                format!(
                    "`{item}` is {is} where {} has it {not}",
                    self.version.wit_name()
                ),
            );
        }
        let ep = own_params(expected);
        let fp = own_params(found);
        let types_equal = ep.len() == fp.len()
            && ep
                .iter()
                .zip(&fp)
                .all(|(a, b)| print_type(c, a.ty) == print_type(f, b.ty));
        if !types_equal {
            push(
                Code::ParamsChanged,
                format!(
                    "`{item}` takes ({}) where {} has ({})",
                    print_params(f, &fp),
                    self.version.wit_name(),
                    print_params(c, &ep)
                ),
            );
        } else {
            for (a, b) in ep.iter().zip(&fp) {
                if a.name != b.name {
                    push(
                        Code::ParamRenamed,
                        format!(
                            "`{item}`'s parameter `{}` is named `{}`: parameter names are part of a component function's type",
                            a.name, b.name
                        ),
                    );
                }
            }
        }
        let er = expected.result.map(|t| print_type(c, t));
        let fr = found.result.map(|t| print_type(f, t));
        if er != fr {
            push(
                Code::ResultChanged,
                format!(
                    "`{item}` returns {} where {} has {}",
                    fr.as_deref().unwrap_or("nothing"),
                    self.version.wit_name(),
                    er.as_deref().unwrap_or("nothing")
                ),
            );
        }
    }

    fn types(&self, out: &mut Vec<Finding>) {
        let reached_canonical = self.canonical.reached_types();
        let reached_found = self.found.reached_types();
        let c = self.canonical.resolve;
        let f = self.found.resolve;
        for (name, &expected) in &self.canonical.interface().types {
            let breaking = match self.mode {
                Mode::Package => reached_canonical.contains(name),
                Mode::Import => reached_found.contains(name),
            };
            let Some(found) = self.found.ty(name) else {
                if self.mode == Mode::Package {
                    out.push(self.finding(
                        Code::TypeMissing,
                        breaking,
                        name,
                        Some(print_typedef(c, expected)),
                        None,
                        self.type_statements(expected),
                        format!("type `{name}` is missing"),
                    ));
                }
                continue;
            };
            self.typedef(name, expected, found, breaking, out);
        }
        for (name, &found) in &self.found.interface().types {
            if self.canonical.ty(name).is_none() {
                out.push(self.finding(
                    Code::TypeExtra,
                    false,
                    name,
                    None,
                    Some(print_typedef(f, found)),
                    Vec::new(),
                    format!("type `{name}` is not in {}", self.version.wit_name()),
                ));
            }
        }
    }

    /// The statements naming any case of type `id`, or any function of the canonical interface that uses it.
    fn type_statements(&self, id: TypeId) -> Vec<String> {
        let def = &self.canonical.resolve.types[id];
        let name = def.name.clone().unwrap_or_default();
        let mut items: Vec<String> = case_names(&def.kind)
            .into_iter()
            .map(|case| format!("{name}.{case}"))
            .collect();
        items.extend(
            self.canonical
                .functions()
                .into_iter()
                .filter(|(_, f)| self.canonical.function_reaches(f, &name))
                .map(|(n, _)| n),
        );
        self.statements(&items)
    }

    fn typedef(
        &self,
        name: &str,
        expected: TypeId,
        found: TypeId,
        breaking: bool,
        out: &mut Vec<Finding>,
    ) {
        let (c, f) = (self.canonical.resolve, self.found.resolve);
        let (ek, fk) = (&c.types[expected].kind, &f.types[found].kind);
        let member =
            |code: Code, member: &str, e: Option<String>, g: Option<String>, message: String| {
                let item = if member.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}.{member}")
                };
                let mut statements = self.statements(std::slice::from_ref(&item));
                if statements.is_empty() {
                    statements = self.type_statements(expected);
                }
                self.finding(code, breaking, &item, e, g, statements, message)
            };
        match (ek, fk) {
            (TypeDefKind::Variant(a), TypeDefKind::Variant(b)) => {
                let a: Vec<(String, Option<String>)> = a
                    .cases
                    .iter()
                    .map(|case| (case.name.clone(), case.ty.map(|t| print_type(c, t))))
                    .collect();
                let b: Vec<(String, Option<String>)> = b
                    .cases
                    .iter()
                    .map(|case| (case.name.clone(), case.ty.map(|t| print_type(f, t))))
                    .collect();
                members(name, "case", &a, &b, &member, out);
            }
            (TypeDefKind::Enum(a), TypeDefKind::Enum(b)) => {
                let a: Vec<(String, Option<String>)> =
                    a.cases.iter().map(|c| (c.name.clone(), None)).collect();
                let b: Vec<(String, Option<String>)> =
                    b.cases.iter().map(|c| (c.name.clone(), None)).collect();
                members(name, "case", &a, &b, &member, out);
            }
            (TypeDefKind::Record(a), TypeDefKind::Record(b)) => {
                let a: Vec<(String, Option<String>)> = a
                    .fields
                    .iter()
                    .map(|x| (x.name.clone(), Some(print_type(c, x.ty))))
                    .collect();
                let b: Vec<(String, Option<String>)> = b
                    .fields
                    .iter()
                    .map(|x| (x.name.clone(), Some(print_type(f, x.ty))))
                    .collect();
                members(name, "field", &a, &b, &member, out);
            }
            (TypeDefKind::Resource, TypeDefKind::Resource) => {}
            _ => {
                let (e, g) = (print_typedef(c, expected), print_typedef(f, found));
                if e != g {
                    out.push(self.finding(
                        Code::TypeChanged,
                        breaking,
                        name,
                        Some(e),
                        Some(g),
                        self.type_statements(expected),
                        format!("type `{name}` is defined differently"),
                    ));
                }
            }
        }
    }
}

/// Makes the finding of one member: code, member name, both sides, message.
type MakeFinding<'a> = &'a dyn Fn(Code, &str, Option<String>, Option<String>, String) -> Finding;

/// Compares the members (cases or fields: a name and, where there is one, a payload or type printed as WIT)
/// of one named type. A member at the same position under another name with the same payload is renamed;
/// otherwise members are matched by name.
fn members(
    type_name: &str,
    what: &str,
    expected: &[(String, Option<String>)],
    found: &[(String, Option<String>)],
    member: MakeFinding<'_>,
    out: &mut Vec<Finding>,
) {
    let (missing, extra, renamed, changed) = if what == "field" {
        (
            Code::FieldMissing,
            Code::FieldExtra,
            Code::FieldRenamed,
            Code::FieldTypeChanged,
        )
    } else {
        (
            Code::CaseMissing,
            Code::CaseExtra,
            Code::CaseRenamed,
            Code::CasePayloadChanged,
        )
    };
    let print = |(name, ty): &(String, Option<String>)| match ty {
        Some(ty) if what == "field" => format!("{name}: {ty}"),
        Some(ty) => format!("{name}({ty})"),
        None => name.clone(),
    };
    let has = |list: &[(String, Option<String>)], name: &str| list.iter().any(|(n, _)| n == name);
    let mut renamed_from = BTreeSet::new();
    let mut renamed_to = BTreeSet::new();
    for (i, e) in expected.iter().enumerate() {
        if let Some(g) = found.get(i)
            && e.0 != g.0
            && e.1 == g.1
            && !has(found, &e.0)
            && !has(expected, &g.0)
        {
            renamed_from.insert(e.0.clone());
            renamed_to.insert(g.0.clone());
            out.push(member(
                renamed,
                &e.0,
                Some(print(e)),
                Some(print(g)),
                format!("{what} `{}` of `{type_name}` is named `{}`", e.0, g.0),
            ));
        }
    }
    for e in expected {
        if renamed_from.contains(&e.0) {
            continue;
        }
        match found.iter().find(|g| g.0 == e.0) {
            None => out.push(member(
                missing,
                &e.0,
                Some(print(e)),
                None,
                format!("{what} `{}` of `{type_name}` is missing", e.0),
            )),
            Some(g) if g.1 != e.1 => out.push(member(
                changed,
                &e.0,
                Some(print(e)),
                Some(print(g)),
                format!("{what} `{}` of `{type_name}` has another type", e.0),
            )),
            Some(_) => {}
        }
    }
    for g in found {
        if !renamed_to.contains(&g.0) && !has(expected, &g.0) {
            out.push(member(
                extra,
                &g.0,
                None,
                Some(print(g)),
                format!(
                    "`{type_name}` has a {what} `{}` the canonical type does not: the types are no longer equal",
                    g.0
                ),
            ));
        }
    }
    // Same members in another order: still a different type.
    {
        let names =
            |l: &[(String, Option<String>)]| l.iter().map(|m| m.0.clone()).collect::<Vec<_>>();
        let (en, fnames) = (names(expected), names(found));
        let mut es = en.clone();
        let mut fs = fnames.clone();
        es.sort();
        fs.sort();
        if en != fnames && es == fs {
            out.push(member(
                Code::TypeChanged,
                "",
                Some(en.join(", ")),
                Some(fnames.join(", ")),
                format!("the {what}s of `{type_name}` are in another order: the order is part of the type"),
            ));
        }
    }
}

/// A function's name as the catalogue names it: `open`, `store.get`, `cas.constructor`.
pub fn item_name(f: &Function) -> String {
    match &f.kind {
        FunctionKind::Constructor(_) => {
            let resource = f.name.trim_start_matches("[constructor]");
            format!("{resource}.constructor")
        }
        _ => match f.name.strip_prefix('[') {
            Some(rest) => rest
                .split_once(']')
                .map(|(_, n)| n)
                .unwrap_or(rest)
                .to_string(),
            None => f.name.clone(),
        },
    }
}

/// The names of the cases of a variant or enum (empty for other types).
pub fn case_names(kind: &TypeDefKind) -> Vec<String> {
    match kind {
        TypeDefKind::Variant(v) => v.cases.iter().map(|c| c.name.clone()).collect(),
        TypeDefKind::Enum(e) => e.cases.iter().map(|c| c.name.clone()).collect(),
        _ => Vec::new(),
    }
}

fn kind_name(kind: &FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Freestanding | FunctionKind::AsyncFreestanding => "freestanding",
        FunctionKind::Method(_) | FunctionKind::AsyncMethod(_) => "method",
        FunctionKind::Static(_) | FunctionKind::AsyncStatic(_) => "static",
        FunctionKind::Constructor(_) => "constructor",
    }
}

/// A function's parameters without a method's implicit `self`.
fn own_params(f: &Function) -> Vec<&wit_parser::Param> {
    let skip = usize::from(matches!(
        f.kind,
        FunctionKind::Method(_) | FunctionKind::AsyncMethod(_)
    ));
    f.params.iter().skip(skip).collect()
}

fn print_params(resolve: &Resolve, params: &[&wit_parser::Param]) -> String {
    params
        .iter()
        .map(|p| format!("{}: {}", p.name, print_type(resolve, p.ty)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A function printed as WIT, as it reads inside its interface or resource:
/// `get: async func(key: string) -> result<option<list<u8>>, error>;`.
pub fn print_function(resolve: &Resolve, f: &Function) -> String {
    let name = match &f.kind {
        FunctionKind::Constructor(_) => "constructor".to_string(),
        _ => f.item_name().to_string(),
    };
    let prefix = match &f.kind {
        FunctionKind::Static(_) | FunctionKind::AsyncStatic(_) => "static ",
        _ => "",
    };
    let asyncness = if f.kind.is_async() { "async " } else { "" };
    let params = print_params(resolve, &own_params(f));
    let result = f
        .result
        .map(|t| format!(" -> {}", print_type(resolve, t)))
        .unwrap_or_default();
    match &f.kind {
        FunctionKind::Constructor(_) => format!("constructor({params});"),
        _ => format!("{name}: {prefix}{asyncness}func({params}){result};"),
    }
}

/// A type printed as WIT where it is used: a named type by its name, an anonymous one by its structure.
pub fn print_type(resolve: &Resolve, ty: Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Id(id) => {
            let def = &resolve.types[id];
            match &def.name {
                Some(name) => name.clone(),
                None => print_anonymous(resolve, &def.kind),
            }
        }
    }
}

fn print_anonymous(resolve: &Resolve, kind: &TypeDefKind) -> String {
    let p = |t: Type| print_type(resolve, t);
    let opt = |t: Option<Type>| t.map(p).unwrap_or_else(|| "_".into());
    match kind {
        TypeDefKind::List(t) => format!("list<{}>", p(*t)),
        TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", p(*t)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", p(*k), p(*v)),
        TypeDefKind::Option(t) => format!("option<{}>", p(*t)),
        TypeDefKind::Result(r) => match (r.ok, r.err) {
            (None, None) => "result".into(),
            (ok, None) => format!("result<{}>", opt(ok)),
            (ok, err) => format!("result<{}, {}>", opt(ok), opt(err)),
        },
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types.iter().map(|t| p(*t)).collect::<Vec<_>>().join(", ")
        ),
        TypeDefKind::Future(t) => t.map_or("future".into(), |t| format!("future<{}>", p(t))),
        TypeDefKind::Stream(t) => t.map_or("stream".into(), |t| format!("stream<{}>", p(t))),
        TypeDefKind::Handle(Handle::Own(t)) => p(Type::Id(*t)),
        TypeDefKind::Handle(Handle::Borrow(t)) => format!("borrow<{}>", p(Type::Id(*t))),
        TypeDefKind::Type(t) => p(*t),
        other => other.as_str().to_string(),
    }
}

/// A named type's definition printed as WIT: `variant error { no-such-store, access-denied, other(string) }`,
/// `use store.{error}` for an alias of another interface's type.
pub fn print_typedef(resolve: &Resolve, id: TypeId) -> String {
    let def = &resolve.types[id];
    let name = def.name.as_deref().unwrap_or("_");
    let p = |t: Type| print_type(resolve, t);
    match &def.kind {
        TypeDefKind::Record(r) => format!(
            "record {name} {{ {} }}",
            r.fields
                .iter()
                .map(|f| format!("{}: {}", f.name, p(f.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Variant(v) => format!(
            "variant {name} {{ {} }}",
            v.cases
                .iter()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, p(t)),
                    None => c.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Enum(e) => format!(
            "enum {name} {{ {} }}",
            e.cases
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Flags(f) => format!(
            "flags {name} {{ {} }}",
            f.flags
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Resource => format!("resource {name}"),
        TypeDefKind::Type(Type::Id(target)) if resolve.types[*target].name.is_some() => {
            let target_def = &resolve.types[*target];
            let target_name = target_def.name.as_deref().unwrap_or("_");
            let from = match target_def.owner {
                TypeOwner::Interface(i) if TypeOwner::Interface(i) != def.owner => {
                    resolve.interfaces[i].name.clone()
                }
                _ => None,
            };
            match from {
                Some(iface) if target_name == name => format!("use {iface}.{{{name}}}"),
                Some(iface) => format!("use {iface}.{{{target_name} as {name}}}"),
                None => format!("type {name} = {target_name}"),
            }
        }
        kind => format!("type {name} = {}", print_anonymous(resolve, kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::canonical::Canonical;

    /// v2's canonical text with `from` replaced by `to`, compared with the canonical v2 in `mode`.
    fn v2_with(from: &str, to: &str, mode: Mode) -> Vec<Finding> {
        let (_, text) = crate::check::canonical::sources(Interface::V2)[0];
        assert_eq!(text.matches(from).count(), 1, "{from}");
        let mut resolve = Resolve::default();
        let package = resolve
            .push_source("mutated.wit", &text.replace(from, to))
            .unwrap();
        let found = resolve.packages[package].interfaces["key-value"];
        let canonical = Canonical::get();
        let (_, expected) = canonical.interfaces(Interface::V2)[0];
        compare_interface(
            &canonical.resolve,
            expected,
            &resolve,
            found,
            Interface::V2,
            mode,
        )
    }

    fn codes(findings: &[Finding]) -> Vec<(Code, String)> {
        findings.iter().map(|f| (f.code, f.path.clone())).collect()
    }

    #[test]
    fn a_case_renamed_in_place_is_one_rename_and_a_reorder_is_a_changed_type() {
        let renamed = v2_with("access-denied,", "forbidden,", Mode::Package);
        assert_eq!(
            codes(&renamed),
            [(
                Code::CaseRenamed,
                "fermyon:spin/key-value@2.0.0#error.access-denied".to_string()
            )]
        );
        let reordered = v2_with(
            "store-table-full,\n    /// No store is defined for the label.\n    no-such-store,",
            "no-such-store,\n    store-table-full,",
            Mode::Package,
        );
        assert_eq!(
            codes(&reordered),
            [(
                Code::TypeChanged,
                "fermyon:spin/key-value@2.0.0#error".to_string()
            )]
        );
    }

    #[test]
    fn a_renamed_parameter_kind_change_and_extra_type_are_each_named() {
        let param = v2_with(
            "get: func(key: string)",
            "get: func(name: string)",
            Mode::Package,
        );
        assert_eq!(codes(&param)[0].0, Code::ParamRenamed);
        assert!(param[0].breaking);
        let kind = v2_with(
            "open: static func(label: string)",
            "open: func(label: string)",
            Mode::Package,
        );
        assert_eq!(kind.len(), 1, "{kind:#?}");
        assert_eq!(kind[0].code, Code::FunctionKindChanged);
        let extra = v2_with(
            "variant error {",
            "type label = string;\n  variant error {",
            Mode::Package,
        );
        assert_eq!(codes(&extra)[0].0, Code::TypeExtra);
        assert!(!extra[0].breaking);
    }

    #[test]
    fn an_import_need_not_have_every_function_but_must_not_have_unknown_ones() {
        let fewer = v2_with(
            "    exists: func(key: string) -> result<bool, error>;\n",
            "",
            Mode::Import,
        );
        assert!(fewer.is_empty(), "{fewer:#?}");
        let unknown = v2_with(
            "    exists: func(key: string) -> result<bool, error>;\n",
            "    exists: func(key: string) -> result<bool, error>;\n    size: func() -> u64;\n",
            Mode::Import,
        );
        assert_eq!(codes(&unknown)[0].0, Code::FunctionExtra);
        assert_eq!(unknown[0].severity, Severity::Error);
    }
}
