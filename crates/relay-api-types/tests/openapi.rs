//! Keeps `docs/openapi.yaml` exact against the types of this crate.
//!
//! Every operation's request body and JSON answers name the schema of the type the
//! server parses or builds (the table [`OPERATIONS`]); each such schema is compared,
//! recursively through `$ref`s, with the JSON Schema [`schemars`] derives from the
//! type: the same properties, the same `required` (for answers: always present, under
//! serde's serialization; for requests: must be sent, under deserialization), `null`
//! allowed exactly where the type has an `Option`, the same enum values, the same
//! kind of value (string, integer, number, boolean, array, map, object), and the same
//! branches for tagged or untagged unions. Every component schema of the document must
//! be reached: no schema describes nothing.
//!
//! What the comparison leaves to the document alone: descriptions, examples, formats,
//! patterns and bounds (the server's validation; schemathesis checks them live with
//! `cargo xtask contract`), and request-level `oneOf`/`not` that only constrain which
//! fields go together.

use relay_api_types::*;
use schemars::generate::{Contract, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// How a type is used: parsed from requests, or built for answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Request,
    Answer,
}

/// A root type: its schema name in the document, its role and its JSON Schema.
struct Root {
    name: &'static str,
    role: Role,
    schema: Value,
}

fn root<T: JsonSchema>(name: &'static str, role: Role) -> Root {
    let mut settings = SchemaSettings::draft2020_12();
    settings.contract = match role {
        Role::Request => Contract::Deserialize,
        Role::Answer => Contract::Serialize,
    };
    let schema = settings.into_generator().into_root_schema_for::<T>();
    Root {
        name,
        role,
        schema: serde_json::to_value(schema).expect("a schema is JSON"),
    }
}

/// Every operation: its id, the schema of its JSON request body, and the schemas of
/// its JSON success answers by status.
type Operation = (
    &'static str,
    Option<&'static str>,
    &'static [(&'static str, &'static str)],
);

const OPERATIONS: &[Operation] = &[
    ("healthz", None, &[("200", "Health")]),
    ("readyz", None, &[("200", "Readiness")]),
    ("metrics", None, &[]),
    ("createHost", Some("CreateHostRequest"), &[("201", "Host")]),
    ("listHosts", None, &[("200", "HostList")]),
    ("getHost", None, &[("200", "Host")]),
    ("deleteHost", None, &[("200", "HostDeleted")]),
    ("probeHost", None, &[("200", "Host")]),
    ("setHostCredentials", Some("HostAuth"), &[("200", "Host")]),
    (
        "installPack",
        Some("InstallPackRequest"),
        &[("201", "Pack")],
    ),
    ("listPacks", None, &[("200", "PackList")]),
    ("getPack", None, &[("200", "Pack")]),
    ("listPackProviders", None, &[("200", "ProviderList")]),
    ("listProviders", None, &[("200", "ProviderList")]),
    (
        "previewImport",
        Some("ImportRequest"),
        &[("200", "PreviewReport")],
    ),
    (
        "importKeys",
        Some("ImportRequest"),
        &[("200", "BatchView"), ("202", "BatchView")],
    ),
    ("listProviderBatches", None, &[("200", "BatchList")]),
    ("getProviderStatus", None, &[("200", "ProviderStatusView")]),
    ("listProviderResources", None, &[("200", "ResourceList")]),
    (
        "rollbackProvider",
        Some("ScopeRequest"),
        &[("200", "RollbackReport")],
    ),
    (
        "disableProvider",
        Some("ScopeRequest"),
        &[("200", "ProviderInstallRecord")],
    ),
    (
        "enableProvider",
        Some("ScopeRequest"),
        &[("200", "ProviderInstallRecord")],
    ),
    (
        "previewAccess",
        Some("AccessRequest"),
        &[("200", "AccessPreview")],
    ),
    (
        "assignSubscriptions",
        Some("AssignRequest"),
        &[("200", "AccessReport")],
    ),
    ("getAccessStatus", None, &[("200", "AccessStatusView")]),
    ("listProviderKeys", None, &[("200", "KeyHealthList")]),
    ("getProviderKey", None, &[("200", "KeyHealthDetail")]),
    (
        "reconcileProvider",
        Some("ReconcileRequest"),
        &[("200", "ReconcileRunRecord")],
    ),
    ("getDoctor", None, &[("200", "DoctorReport")]),
    (
        "runDoctor",
        Some("DoctorRequest"),
        &[("200", "DoctorReport")],
    ),
    (
        "diagnoseUpstreamKey",
        Some("DiagnoseRequest"),
        &[("200", "DiagnosisView")],
    ),
    ("getModelsDiff", None, &[("200", "ModelsDiff")]),
    (
        "checkModelsDiff",
        Some("ModelsDiffRequest"),
        &[("200", "ModelsDiff")],
    ),
    (
        "proposePackChange",
        Some("ModelsDiffRequest"),
        &[("200", "PackProposal")],
    ),
    (
        "listProviderReconcileRuns",
        None,
        &[("200", "ReconcileRunList")],
    ),
    ("listBatches", None, &[("200", "BatchList")]),
    ("getBatch", None, &[("200", "BatchView")]),
    ("getBatchEvidence", None, &[("200", "BatchEvidence")]),
    ("rollbackBatch", None, &[("200", "BatchView")]),
    (
        "resumeBatch",
        Some("ResumeRequest"),
        &[("200", "BatchView")],
    ),
    ("listReconcileRuns", None, &[("200", "ReconcileRunList")]),
    ("getReconcileRun", None, &[("200", "ReconcileRunRecord")]),
    (
        "getReconcileRunEvidence",
        None,
        &[("200", "ReconcileEvidence")],
    ),
    (
        "createImportRun",
        Some("CreateRunRequest"),
        &[("202", "RunView")],
    ),
    ("listAuditEvents", None, &[("200", "AuditList")]),
    ("listOperations", None, &[("200", "OperationList")]),
    (
        "getOperationEvidence",
        None,
        &[("200", "OperationEvidence")],
    ),
    ("listImportRuns", None, &[("200", "RunList")]),
    ("getImportRun", None, &[("200", "RunView")]),
    ("listImportRunItems", None, &[("200", "RunItemList")]),
    (
        "listImportRunItemEvents",
        None,
        &[("200", "RunItemEventList")],
    ),
    (
        "retryImportRun",
        Some("RetryRunRequest"),
        &[("200", "RetryRunView")],
    ),
    ("cancelImportRun", None, &[("200", "RunView")]),
];

/// The types behind the schema names of [`OPERATIONS`], plus the error answer.
fn roots() -> Vec<Root> {
    use Role::{Answer, Request};
    vec![
        root::<AuditList>("AuditList", Answer),
        root::<OperationList>("OperationList", Answer),
        root::<OperationEvidence>("OperationEvidence", Answer),
        root::<ErrorBody>("Error", Answer),
        root::<Health>("Health", Answer),
        root::<Readiness>("Readiness", Answer),
        root::<CreateHostRequest>("CreateHostRequest", Request),
        root::<HostAuth>("HostAuth", Request),
        root::<Host>("Host", Answer),
        root::<HostList>("HostList", Answer),
        root::<HostDeleted>("HostDeleted", Answer),
        root::<InstallPackRequest>("InstallPackRequest", Request),
        root::<Pack>("Pack", Answer),
        root::<PackList>("PackList", Answer),
        root::<ProviderList>("ProviderList", Answer),
        root::<ImportRequest>("ImportRequest", Request),
        root::<PreviewReport>("PreviewReport", Answer),
        root::<BatchView>("BatchView", Answer),
        root::<BatchList>("BatchList", Answer),
        root::<ProviderStatusView>("ProviderStatusView", Answer),
        root::<ResourceList>("ResourceList", Answer),
        root::<ScopeRequest>("ScopeRequest", Request),
        root::<RollbackReport>("RollbackReport", Answer),
        root::<ProviderInstallRecord>("ProviderInstallRecord", Answer),
        root::<AccessRequest>("AccessRequest", Request),
        root::<AssignRequest>("AssignRequest", Request),
        root::<AccessPreview>("AccessPreview", Answer),
        root::<AccessReport>("AccessReport", Answer),
        root::<AccessStatusView>("AccessStatusView", Answer),
        root::<KeyHealthList>("KeyHealthList", Answer),
        root::<KeyHealthDetail>("KeyHealthDetail", Answer),
        root::<ReconcileRequest>("ReconcileRequest", Request),
        root::<ReconcileRunRecord>("ReconcileRunRecord", Answer),
        root::<DoctorRequest>("DoctorRequest", Request),
        root::<DoctorReport>("DoctorReport", Answer),
        root::<DiagnoseRequest>("DiagnoseRequest", Request),
        root::<DiagnosisView>("DiagnosisView", Answer),
        root::<ModelsDiffRequest>("ModelsDiffRequest", Request),
        root::<ModelsDiff>("ModelsDiff", Answer),
        root::<PackProposal>("PackProposal", Answer),
        root::<ReconcileRunList>("ReconcileRunList", Answer),
        root::<BatchEvidence>("BatchEvidence", Answer),
        root::<ResumeRequest>("ResumeRequest", Request),
        root::<ReconcileEvidence>("ReconcileEvidence", Answer),
        root::<CreateRunRequest>("CreateRunRequest", Request),
        root::<RunView>("RunView", Answer),
        root::<RunList>("RunList", Answer),
        root::<RunItemList>("RunItemList", Answer),
        root::<RunItemEventList>("RunItemEventList", Answer),
        root::<RetryRunRequest>("RetryRunRequest", Request),
        root::<RetryRunView>("RetryRunView", Answer),
    ]
}

/// Places where the document says more than the type, on purpose.
const DOCUMENTED_NARROWER: &[(&str, &str)] = &[(
    "Error.error.code",
    "error codes are an open vocabulary to clients: typed as a string so that a CLI \
     reads the errors of a newer server; the document lists today's codes",
)];

// ------------------------------------------------------------------ YAML

fn yaml_to_json(y: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(yaml_to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        other => panic!("unsupported YAML key {other:?}"),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Yaml::Null => Value::Null,
        other => panic!("unsupported YAML node {other:?}"),
    }
}

fn document() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let docs = yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    yaml_to_json(&docs[0])
}

// ------------------------------------------------------------------ shapes

/// A schema reduced to what the comparison looks at.
#[derive(Debug, Clone)]
enum Kind {
    /// Anything (`true`, `{}`, a description only).
    Free,
    Bool,
    Integer,
    Number,
    /// A string, with its values when it is an enum (or a `const`).
    String(Option<BTreeSet<String>>),
    Array(Box<Value>),
    Map(Box<Value>),
    Object {
        props: BTreeMap<String, Value>,
        required: BTreeSet<String>,
        closed: bool,
    },
    /// `oneOf` / `anyOf` branches (without the `null` one).
    Union(Vec<Value>),
}

#[derive(Debug, Clone)]
struct Shape {
    nullable: bool,
    kind: Kind,
    /// The component name of the first `$ref` followed, if any.
    name: Option<String>,
}

/// One side of the comparison: the document or the types.
struct Side<'a> {
    /// `#/components/schemas/` or `#/$defs/`.
    prefix: &'static str,
    defs: &'a Map<String, Value>,
}

impl Side<'_> {
    fn deref<'v>(&'v self, node: &'v Value, name: &mut Option<String>) -> &'v Value {
        let mut node = node;
        for _ in 0..16 {
            let Some(r) = node.get("$ref").and_then(Value::as_str) else {
                return node;
            };
            let n = r
                .strip_prefix(self.prefix)
                .unwrap_or_else(|| panic!("unexpected $ref {r}"));
            name.get_or_insert_with(|| n.to_string());
            node = self
                .defs
                .get(n)
                .unwrap_or_else(|| panic!("$ref {r} is not defined"));
        }
        panic!("$ref chain too long at {node}")
    }

    fn shape(&self, node: &Value) -> Shape {
        let mut name = None;
        let node = self.deref(node, &mut name);
        let mut shape = self.shape_of(node);
        if shape.name.is_none() {
            shape.name = name;
        }
        shape
    }

    fn shape_of(&self, node: &Value) -> Shape {
        let free = Shape {
            nullable: false,
            kind: Kind::Free,
            name: None,
        };
        let obj = match node {
            Value::Bool(true) => return free,
            Value::Object(o) => o,
            other => panic!("unexpected schema {other}"),
        };
        // anyOf / oneOf with a null branch: nullable; the rest decides.
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = obj.get(key) {
                if obj.contains_key("properties") {
                    // Request-level constraints on which fields go together.
                    continue;
                }
                let is_null = |b: &Value| b.get("type").and_then(Value::as_str) == Some("null");
                let rest: Vec<Value> = branches.iter().filter(|b| !is_null(b)).cloned().collect();
                let nullable = rest.len() < branches.len();
                // A union of string constants (schemars writes documented enum
                // variants so) is an enum.
                let constants: Option<BTreeSet<String>> = rest
                    .iter()
                    .map(|b| b.get("const").and_then(Value::as_str).map(str::to_string))
                    .collect();
                if let Some(values) = constants.filter(|_| rest.len() > 1) {
                    return Shape {
                        nullable,
                        kind: Kind::String(Some(values)),
                        name: None,
                    };
                }
                if rest.len() == 1 {
                    let mut s = self.shape(&rest[0]);
                    s.nullable |= nullable;
                    return s;
                }
                return Shape {
                    nullable,
                    kind: Kind::Union(rest),
                    name: None,
                };
            }
        }
        if let Some(Value::Array(parts)) = obj.get("allOf") {
            let mut props = BTreeMap::new();
            let mut required = BTreeSet::new();
            let mut closed = false;
            for part in parts {
                match self.shape(part).kind {
                    Kind::Object {
                        props: p,
                        required: r,
                        closed: c,
                    } => {
                        props.extend(p);
                        required.extend(r);
                        closed |= c;
                    }
                    other => panic!("allOf of a non-object: {other:?}"),
                }
            }
            return Shape {
                nullable: false,
                kind: Kind::Object {
                    props,
                    required,
                    closed,
                },
                name: None,
            };
        }
        let (types, mut nullable) = match obj.get("type") {
            Some(Value::String(t)) => (vec![t.clone()], false),
            Some(Value::Array(ts)) => {
                let all: Vec<String> = ts
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect();
                let nullable = all.iter().any(|t| t == "null");
                (all.into_iter().filter(|t| t != "null").collect(), nullable)
            }
            _ => (Vec::new(), false),
        };
        let values: Option<BTreeSet<String>> = match (obj.get("enum"), obj.get("const")) {
            (Some(Value::Array(vs)), _) => {
                nullable |= vs.iter().any(Value::is_null);
                Some(
                    vs.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                )
            }
            (None, Some(Value::String(c))) => Some([c.clone()].into()),
            _ => None,
        };
        let ty = types
            .first()
            .map(String::as_str)
            .or(match obj.get("const") {
                Some(Value::Bool(_)) => Some("boolean"),
                Some(Value::String(_)) => Some("string"),
                _ => None,
            });
        let ty = ty.or(if obj.contains_key("properties") {
            Some("object")
        } else if values.is_some() {
            Some("string")
        } else {
            None
        });
        let kind = match ty {
            None => Kind::Free,
            Some("boolean") => Kind::Bool,
            Some("integer") => Kind::Integer,
            Some("number") => Kind::Number,
            Some("string") => Kind::String(values),
            Some("array") => Kind::Array(Box::new(
                obj.get("items").cloned().unwrap_or(Value::Bool(true)),
            )),
            Some("object") => match (obj.get("properties"), obj.get("additionalProperties")) {
                (None, Some(v @ Value::Object(_))) => Kind::Map(Box::new(v.clone())),
                (props, additional) => Kind::Object {
                    props: props
                        .and_then(Value::as_object)
                        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default(),
                    required: obj
                        .get("required")
                        .and_then(Value::as_array)
                        .map(|r| {
                            r.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    closed: additional == Some(&Value::Bool(false)),
                },
            },
            Some(other) => panic!("unexpected type {other}"),
        };
        Shape {
            nullable,
            kind,
            name: None,
        }
    }
}

fn kind_word(k: &Kind) -> &'static str {
    match k {
        Kind::Free => "free-form",
        Kind::Bool => "boolean",
        Kind::Integer => "integer",
        Kind::Number => "number",
        Kind::String(Some(_)) => "enum",
        Kind::String(None) => "string",
        Kind::Array(_) => "array",
        Kind::Map(_) => "map",
        Kind::Object { .. } => "object",
        Kind::Union(_) => "union",
    }
}

struct Checker<'a> {
    doc: Side<'a>,
    types: Side<'a>,
    role: Role,
    problems: Vec<String>,
    seen: BTreeSet<(String, String)>,
    reached: BTreeSet<String>,
    /// The value being compared is a field of an answer that is left out when it
    /// has no value (`skip_serializing_if`): its `Option` never sends `null`.
    left_out_when_none: bool,
}

impl Checker<'_> {
    fn problem(&mut self, path: &str, what: String) {
        self.problems.push(format!("{path}: {what}"));
    }

    fn compare(&mut self, doc: &Value, ty: &Value, path: &str) {
        let d = self.doc.shape(doc);
        let mut t = self.types.shape(ty);
        if std::mem::take(&mut self.left_out_when_none) {
            t.nullable = false;
        }
        if let Some(n) = &d.name {
            self.reached.insert(n.clone());
        }
        if let (Some(dn), Some(tn)) = (&d.name, &t.name) {
            if !self.seen.insert((dn.clone(), tn.clone())) {
                return;
            }
        }
        let path = match &d.name {
            Some(n) if path.is_empty() => n.clone(),
            _ => path.to_string(),
        };
        if d.nullable != t.nullable {
            self.problem(
                &path,
                if d.nullable {
                    "the document allows null, the type has no Option".into()
                } else {
                    "the type is an Option (null is sent or accepted), the document does not allow null".into()
                },
            );
        }
        match (&d.kind, &t.kind) {
            (Kind::Free, Kind::Free) | (Kind::Bool, Kind::Bool) => {}
            (Kind::Integer, Kind::Integer) | (Kind::Number, Kind::Number) => {}
            (Kind::String(dv), Kind::String(tv)) => match (dv, tv) {
                (Some(dv), Some(tv)) if dv != tv => {
                    let only_doc: Vec<_> = dv.difference(tv).collect();
                    let only_type: Vec<_> = tv.difference(dv).collect();
                    self.problem(
                        &path,
                        format!("enum values differ: only in the document {only_doc:?}, only in the type {only_type:?}"),
                    );
                }
                (Some(_), None) if DOCUMENTED_NARROWER.iter().any(|(p, _)| *p == path) => {}
                (Some(_), None) => self.problem(
                    &path,
                    "the document has an enum, the type a plain string".into(),
                ),
                (None, Some(_)) => self.problem(
                    &path,
                    "the type is an enum, the document a plain string".into(),
                ),
                _ => {}
            },
            (Kind::Array(di), Kind::Array(ti)) => {
                let (di, ti) = (di.clone(), ti.clone());
                self.compare(&di, &ti, &format!("{path}[]"));
            }
            (Kind::Map(dv), Kind::Map(tv)) => {
                let (dv, tv) = (dv.clone(), tv.clone());
                self.compare(&dv, &tv, &format!("{path}{{}}"));
            }
            (
                Kind::Object {
                    props: dp,
                    required: dr,
                    closed: dc,
                },
                Kind::Object {
                    props: tp,
                    required: tr,
                    closed: tc,
                },
            ) => {
                let dk: BTreeSet<_> = dp.keys().cloned().collect();
                let tk: BTreeSet<_> = tp.keys().cloned().collect();
                for k in dk.difference(&tk) {
                    self.problem(
                        &path,
                        format!("property `{k}` is documented but the type has no such field"),
                    );
                }
                for k in tk.difference(&dk) {
                    self.problem(&path, format!("field `{k}` of the type is not documented"));
                }
                if dr != tr {
                    let only_doc: Vec<_> = dr.difference(tr).collect();
                    let only_type: Vec<_> = tr.difference(dr).collect();
                    let meaning = match self.role {
                        Role::Answer => "always present",
                        Role::Request => "must be sent",
                    };
                    self.problem(
                        &path,
                        format!("`required` differs ({meaning}): only in the document {only_doc:?}, only in the type {only_type:?}"),
                    );
                }
                if self.role == Role::Request && dc != tc {
                    self.problem(
                        &path,
                        format!(
                            "unknown fields: the document says closed={dc}, the type closed={tc}"
                        ),
                    );
                }
                for k in dk.intersection(&tk) {
                    self.left_out_when_none = self.role == Role::Answer && !tr.contains(k);
                    self.compare(&dp[k], &tp[k], &format!("{path}.{k}"));
                }
            }
            (Kind::Union(db), Kind::Union(tb)) => {
                if db.len() != tb.len() {
                    self.problem(
                        &path,
                        format!(
                            "{} branches in the document, {} in the type",
                            db.len(),
                            tb.len()
                        ),
                    );
                    return;
                }
                let (db, tb) = (db.clone(), tb.clone());
                let pairs = self.pair_branches(&db, &tb);
                for (i, (d, t)) in pairs.iter().enumerate() {
                    self.compare(d, t, &format!("{path}<{i}>"));
                }
            }
            (dk, tk) => self.problem(
                &path,
                format!(
                    "the document has {}, the type {}",
                    kind_word(dk),
                    kind_word(tk)
                ),
            ),
        }
    }

    /// Pairs union branches by the value of their tag (a property whose value is a
    /// single string), else in order.
    fn pair_branches(&self, db: &[Value], tb: &[Value]) -> Vec<(Value, Value)> {
        fn tag(side: &Side<'_>, b: &Value) -> Option<String> {
            match side.shape(b).kind {
                Kind::Object { props, .. } => {
                    props.values().find_map(|p| match side.shape(p).kind {
                        Kind::String(Some(v)) if v.len() == 1 && !side.shape(p).nullable => {
                            v.into_iter().next()
                        }
                        _ => None,
                    })
                }
                _ => None,
            }
        }
        let dt: Vec<_> = db.iter().map(|b| tag(&self.doc, b)).collect();
        let tt: Vec<_> = tb.iter().map(|b| tag(&self.types, b)).collect();
        if dt.iter().all(Option::is_some) && tt.iter().all(Option::is_some) {
            let mut out = Vec::new();
            for (d, t) in db.iter().zip(&dt) {
                if let Some(i) = tt.iter().position(|x| x == t) {
                    out.push((d.clone(), tb[i].clone()));
                }
            }
            if out.len() == db.len() {
                return out;
            }
        }
        db.iter().cloned().zip(tb.iter().cloned()).collect()
    }
}

fn schema_ref(name: &str) -> Value {
    serde_json::json!({ "$ref": format!("#/components/schemas/{name}") })
}

#[test]
fn every_schema_matches_its_type() {
    let doc = document();
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    let mut problems = Vec::new();
    let mut reached = BTreeSet::new();
    for root in roots() {
        assert!(
            schemas.contains_key(root.name),
            "docs/openapi.yaml has no schema `{}`",
            root.name
        );
        let defs = root.schema["$defs"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut checker = Checker {
            doc: Side {
                prefix: "#/components/schemas/",
                defs: schemas,
            },
            types: Side {
                prefix: "#/$defs/",
                defs: &defs,
            },
            role: root.role,
            problems: Vec::new(),
            seen: BTreeSet::new(),
            reached: BTreeSet::new(),
            left_out_when_none: false,
        };
        let mut own = root.schema.clone();
        if let Some(o) = own.as_object_mut() {
            o.remove("$defs");
        }
        checker.compare(&schema_ref(root.name), &own, "");
        problems.extend(checker.problems);
        reached.extend(checker.reached);
    }
    // What a compared schema refers to (the parts of an `allOf`, the names of a
    // map's keys) is reached too.
    fn refs(node: &Value, out: &mut BTreeSet<String>) {
        match node {
            Value::Object(o) => {
                if let Some(n) = o
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.insert(n.to_string());
                }
                o.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    loop {
        let mut more = BTreeSet::new();
        for name in &reached {
            if let Some(schema) = schemas.get(name) {
                refs(schema, &mut more);
            }
        }
        let before = reached.len();
        reached.extend(more);
        if reached.len() == before {
            break;
        }
    }
    problems.sort();
    problems.dedup();
    let unreached: Vec<_> = schemas.keys().filter(|k| !reached.contains(*k)).collect();
    assert!(
        problems.is_empty() && unreached.is_empty(),
        "docs/openapi.yaml and relay-api-types differ ({} problems):\n{}\n\
         schemas no type reaches (remove them, or give them a type): {unreached:?}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_operation_names_the_schemas_of_its_types() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    // A body schema is a `$ref`, or an `allOf` of a `$ref` and constraints of the
    // operation (which fields must hold what).
    let json_ref = |content: &Value| -> Option<String> {
        let schema = &content["application/json"]["schema"];
        schema["$ref"]
            .as_str()
            .or_else(|| schema["allOf"][0]["$ref"].as_str())
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .map(str::to_string)
    };
    let known: BTreeSet<&str> = roots().iter().map(|r| r.name).collect();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            let id = op["operationId"].as_str().unwrap_or_default();
            let Some((_, body, answers)) = OPERATIONS.iter().find(|(o, _, _)| *o == id) else {
                problems.push(format!(
                    "{method} {path}: operation `{id}` is not in the table"
                ));
                continue;
            };
            seen.insert(id);
            let documented_body = json_ref(&op["requestBody"]["content"]);
            if documented_body.as_deref() != *body {
                problems.push(format!(
                    "{id}: JSON request body is {documented_body:?}, the server parses {body:?}"
                ));
            }
            for (code, answer) in op["responses"].as_object().expect("responses") {
                if !code.starts_with('2') {
                    continue;
                }
                let documented = json_ref(&answer["content"]);
                let expected = answers
                    .iter()
                    .find(|(c, _)| c == code)
                    .map(|(_, s)| s.to_string());
                if documented != expected {
                    problems.push(format!(
                        "{id} {code}: JSON answer is {documented:?}, the server builds {expected:?}"
                    ));
                }
            }
            for name in body.iter().chain(answers.iter().map(|(_, s)| s)) {
                if !known.contains(name) {
                    problems.push(format!("{id}: `{name}` has no type in the check"));
                }
            }
        }
    }
    for (id, _, _) in OPERATIONS {
        if !seen.contains(id) {
            problems.push(format!("`{id}` is in the table but not in the document"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_comparison_finds_differences() {
    // A document that differs from a type in each checked way is reported.
    let doc = serde_json::json!({
        "T": {
            "type": "object",
            "required": ["a", "b"],
            "properties": {
                "a": {"type": "string", "enum": ["x", "y"]},
                "b": {"type": "integer"},
                "c": {"type": "string"},
                "extra": {"type": "string"}
            }
        }
    });
    let ty = serde_json::json!({
        "type": "object",
        "required": ["a", "b", "c"],
        "properties": {
            "a": {"type": "string", "enum": ["x"]},
            "b": {"type": ["number", "null"]},
            "c": {"type": "string"}
        }
    });
    let empty = Map::new();
    let mut checker = Checker {
        doc: Side {
            prefix: "#/components/schemas/",
            defs: doc.as_object().unwrap(),
        },
        types: Side {
            prefix: "#/$defs/",
            defs: &empty,
        },
        role: Role::Answer,
        problems: Vec::new(),
        seen: BTreeSet::new(),
        reached: BTreeSet::new(),
        left_out_when_none: false,
    };
    checker.compare(&schema_ref("T"), &ty, "");
    let all = checker.problems.join("\n");
    for needle in [
        "property `extra` is documented",
        "`required` differs",
        "T.a: enum values differ",
        "T.b: the type is an Option",
        "T.b: the document has integer, the type number",
    ] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
    assert_eq!(checker.problems.len(), 5, "{all}");

    // An answer's field left out when it has no value never sends null: its
    // `Option` matches a document that does not allow null; a field always
    // present does not.
    let doc = serde_json::json!({
        "U": {"type": "object", "required": ["p"], "properties": {
            "p": {"type": "string"}, "q": {"type": "string"}}}
    });
    let ty = serde_json::json!({"type": "object", "required": ["p"], "properties": {
        "p": {"type": ["string", "null"]}, "q": {"type": ["string", "null"]}}});
    let mut checker = Checker {
        doc: Side {
            prefix: "#/components/schemas/",
            defs: doc.as_object().unwrap(),
        },
        types: Side {
            prefix: "#/$defs/",
            defs: &empty,
        },
        role: Role::Answer,
        problems: Vec::new(),
        seen: BTreeSet::new(),
        reached: BTreeSet::new(),
        left_out_when_none: false,
    };
    checker.compare(&schema_ref("U"), &ty, "");
    assert_eq!(
        checker.problems,
        vec!["U.p: the type is an Option (null is sent or accepted), the document does not allow null".to_string()]
    );
}
