//! Keeps `docs/openapi.yaml` honest: every route the server registers is documented
//! there, every documented operation exists in the route table, and each operation
//! declares its path parameters, an id, a success response and the edge's answers
//! that apply to it: the operator-token failure and its throttling (`401`, `429`),
//! the slow or oversized body (`408`, `413`), and the refused body of open routes
//! (`413`).
//!
//! The YAML is read without a YAML library, by a line scan that relies on the file's
//! layout: `paths:` at column 0, each path key indented by two spaces, each operation
//! (method) key by four, the operation's own keys by six. Anything else at those
//! levels fails the test with the line number, so the layout cannot drift silently.

use relay_api::{router, RouterOptions};
use relay_app::{App, AppConfig};
use relay_store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

const SPEC: &str = "docs/openapi.yaml";
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One operation of the document.
#[derive(Debug)]
struct Operation {
    method: String,
    path: String,
    /// 1-based line of the method key.
    line: usize,
    /// The operation's lines (indented by six spaces or more), with their line numbers.
    body: Vec<(usize, String)>,
}

impl Operation {
    fn label(&self) -> String {
        format!(
            "{} {} ({SPEC}:{})",
            self.method.to_uppercase(),
            self.path,
            self.line
        )
    }

    /// Values of the operation's own `key: value` lines (six-space indent).
    fn field(&self, key: &str) -> Option<&str> {
        let prefix = format!("      {key}:");
        self.body
            .iter()
            .find_map(|(_, l)| l.strip_prefix(&prefix))
            .map(str::trim)
    }

    /// Status codes of the operation's `responses:` (keys at eight spaces).
    fn responses(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut inside = false;
        for (_, l) in &self.body {
            let indent = l.len() - l.trim_start().len();
            if indent == 6 {
                inside = l.trim_end() == "      responses:";
                continue;
            }
            if inside && indent == 8 {
                let key = l.trim().trim_end_matches(':').trim_matches('\'');
                out.push(key.to_string());
            }
        }
        out
    }

    /// Names of components referenced as parameters, plus inline `name:` values
    /// of parameters declared `in: path`.
    fn parameter_refs(&self) -> (Vec<String>, Vec<String>) {
        let mut refs = Vec::new();
        let mut inline_path = Vec::new();
        let mut inside = false;
        let mut pending_name: Option<String> = None;
        for (_, l) in &self.body {
            let indent = l.len() - l.trim_start().len();
            if indent == 6 {
                inside = l.trim_end() == "      parameters:";
                continue;
            }
            if !inside {
                continue;
            }
            let t = l.trim().trim_start_matches("- ");
            if let Some(r) = t.strip_prefix("$ref:") {
                let r = r.trim().trim_matches('\'').trim_matches('"');
                if let Some(name) = r.strip_prefix("#/components/parameters/") {
                    refs.push(name.to_string());
                }
            } else if let Some(n) = t.strip_prefix("name:") {
                pending_name = Some(n.trim().to_string());
            } else if t.trim() == "in: path" {
                if let Some(n) = pending_name.take() {
                    inline_path.push(n);
                }
            }
        }
        (refs, inline_path)
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Scans the `paths:` section. Fails on any line that does not follow the layout.
fn parse_paths(text: &str) -> Result<Vec<Operation>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_end() == "paths:")
        .map(|(i, _)| i)
        .collect();
    let start = match starts.as_slice() {
        [one] => *one,
        [] => return Err("no `paths:` key at column 0".into()),
        _ => return Err("several `paths:` keys at column 0".into()),
    };
    let mut ops: Vec<Operation> = Vec::new();
    let mut seen_paths = BTreeSet::new();
    let mut path: Option<String> = None;
    for (i, raw) in lines.iter().enumerate().skip(start + 1) {
        let n = i + 1;
        if raw.contains('\t') {
            return Err(format!("line {n}: tab character; indent with spaces"));
        }
        if is_blank_or_comment(raw) {
            continue;
        }
        let indent = indent_of(raw);
        if indent == 0 {
            break; // the next top-level key ends `paths:`
        }
        let t = raw.trim_end();
        match indent {
            2 => {
                let key = t.trim_start();
                let Some(p) = key.strip_suffix(':') else {
                    return Err(format!(
                        "line {n}: expected a path key like `  /api/x:` (two spaces, block style), found `{key}`"
                    ));
                };
                if !p.starts_with('/') || p.contains(' ') {
                    return Err(format!(
                        "line {n}: path keys under `paths:` must start with `/` and stand alone, found `{key}`"
                    ));
                }
                if !seen_paths.insert(p.to_string()) {
                    return Err(format!("line {n}: path `{p}` appears twice"));
                }
                path = Some(p.to_string());
            }
            4 => {
                let Some(p) = &path else {
                    return Err(format!("line {n}: method key before any path key"));
                };
                let key = t.trim_start();
                let Some(m) = key.strip_suffix(':') else {
                    return Err(format!(
                        "line {n}: expected a method key like `    get:` (four spaces, block style), found `{key}`"
                    ));
                };
                if !METHODS.contains(&m) {
                    return Err(format!(
                        "line {n}: `{m}` at four spaces under `{p}`: only lower-case HTTP methods belong there \
                         (path-level `parameters`/`summary` are not used in this file: put them in each operation)"
                    ));
                }
                if ops.iter().any(|o| &o.path == p && o.method == m) {
                    return Err(format!("line {n}: `{m}` appears twice under `{p}`"));
                }
                ops.push(Operation {
                    method: m.to_string(),
                    path: p.clone(),
                    line: n,
                    body: Vec::new(),
                });
            }
            i if i >= 6 => match ops.last_mut() {
                Some(op) if path.as_deref() == Some(op.path.as_str()) => {
                    op.body.push((n, t.to_string()))
                }
                _ => return Err(format!("line {n}: operation content outside an operation")),
            },
            other => {
                return Err(format!(
                    "line {n}: indent of {other} spaces; `paths:` uses 2 (path), 4 (method), 6+ (operation)"
                ))
            }
        }
    }
    if ops.is_empty() {
        return Err("`paths:` has no operation".into());
    }
    Ok(ops)
}

/// Names defined under `components: <kind>:` (keys at four spaces), each with its lines.
fn components(text: &str, kind: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_components = false;
    let mut in_kind = false;
    let mut current: Option<String> = None;
    for raw in text.lines() {
        if is_blank_or_comment(raw) {
            continue;
        }
        let indent = indent_of(raw);
        let t = raw.trim_end();
        if indent == 0 {
            in_components = t == "components:";
            in_kind = false;
            current = None;
            continue;
        }
        if !in_components {
            continue;
        }
        if indent == 2 {
            in_kind = t.trim_start() == format!("{kind}:");
            current = None;
            continue;
        }
        if !in_kind {
            continue;
        }
        if indent == 4 {
            let name = t.trim_start().trim_end_matches(':').to_string();
            out.insert(name.clone(), Vec::new());
            current = Some(name);
        } else if let Some(c) = &current {
            out.get_mut(c)
                .expect("current component")
                .push(t.to_string());
        }
    }
    out
}

/// `{name}` parameters of a route template.
fn template_params(template: &str) -> BTreeSet<String> {
    template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

fn spec_text() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(SPEC);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn spec_operations() -> Vec<Operation> {
    parse_paths(&spec_text())
        .unwrap_or_else(|e| panic!("{SPEC} does not follow the layout this test reads: {e}"))
}

fn registered_routes() -> BTreeSet<(String, String)> {
    let app = Arc::new(App::new(
        Store::open_in_memory().expect("in-memory store"),
        AppConfig::default(),
    ));
    router(app, RouterOptions::default())
        .routes()
        .into_iter()
        .map(|(m, t)| (m.to_lowercase(), t))
        .collect()
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let routes = registered_routes();
    assert!(!routes.is_empty(), "the router registered no route");
    let documented: BTreeSet<(String, String)> = spec_operations()
        .into_iter()
        .map(|o| (o.method, o.path))
        .collect();
    let undocumented: Vec<String> = routes
        .difference(&documented)
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    let unrouted: Vec<String> = documented
        .difference(&routes)
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "{SPEC} and the route table of relay_api::router differ.\n\
         Registered but not documented (add them under `paths:`): {undocumented:#?}\n\
         Documented but not registered (remove or fix them): {unrouted:#?}"
    );
}

#[test]
fn metrics_access_option_does_not_change_the_route_table() {
    let app = Arc::new(App::new(
        Store::open_in_memory().expect("in-memory store"),
        AppConfig::default(),
    ));
    let public = router(
        app,
        RouterOptions {
            metrics_public: true,
        },
    )
    .routes()
    .into_iter()
    .map(|(m, t)| (m.to_lowercase(), t))
    .collect::<BTreeSet<_>>();
    assert_eq!(public, registered_routes());
}

#[test]
fn operations_declare_ids_parameters_and_responses() {
    let text = spec_text();
    let ops = spec_operations();
    let params = components(&text, "parameters");
    let mut ids = BTreeSet::new();
    let mut problems = Vec::new();
    for op in &ops {
        let label = op.label();
        match op.field("operationId") {
            Some(id) if !id.is_empty() => {
                if !ids.insert(id.to_string()) {
                    problems.push(format!("{label}: operationId `{id}` is used twice"));
                }
            }
            _ => problems.push(format!("{label}: no operationId")),
        }
        if op.field("summary").is_none() || op.field("description").is_none() {
            problems.push(format!("{label}: needs a summary and a description"));
        }

        let (refs, inline) = op.parameter_refs();
        let mut declared: BTreeSet<String> = inline.into_iter().collect();
        for r in &refs {
            let Some(lines) = params.get(r) else {
                problems.push(format!("{label}: unknown parameter component `{r}`"));
                continue;
            };
            let field = |k: &str| {
                lines
                    .iter()
                    .find_map(|l| l.trim().strip_prefix(k).map(|v| v.trim().to_string()))
            };
            if field("in:").as_deref() == Some("path") {
                if let Some(name) = field("name:") {
                    declared.insert(name);
                }
            }
        }
        let expected = template_params(&op.path);
        if declared != expected {
            problems.push(format!(
                "{label}: path parameters declared {declared:?}, template has {expected:?}"
            ));
        }

        let codes = op.responses();
        if !codes.iter().any(|c| c.starts_with('2')) {
            problems.push(format!("{label}: no 2xx response"));
        }
        let api = op.path == "/api" || op.path.starts_with("/api/");
        let open = op.field("security") == Some("[]");
        if api && open {
            problems.push(format!(
                "{label}: `/api/*` always needs the operator token; remove `security: []`"
            ));
        }
        if api && !codes.iter().any(|c| c == "401") {
            problems.push(format!("{label}: `/api/*` operations must document 401"));
        }
        let has = |code: &str| codes.iter().any(|c| c == code);
        // Every route that can check the token can answer 429 (failed checks are
        // throttled per address).
        if (api || op.path == "/metrics") && !has("429") {
            problems.push(format!(
                "{label}: token routes must document 429 (throttled token checks)"
            ));
        }
        // A body can arrive too slowly or be too large.
        let takes_body = op.body.iter().any(|(_, l)| l == "      requestBody:");
        if takes_body && !(has("408") && has("413")) {
            problems.push(format!(
                "{label}: operations with a request body must document 408 and 413"
            ));
        }
        // Open routes refuse bodies with 413.
        if open && !has("413") {
            problems.push(format!(
                "{label}: open operations must document 413 (they take no body)"
            ));
        }
        for c in &codes {
            let ok = c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                problems.push(format!("{label}: response key `{c}` is not a status code"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{SPEC} has problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn document_header_and_references_resolve() {
    let text = spec_text();
    assert!(
        text.lines().any(|l| l.starts_with("openapi: 3.1.")),
        "{SPEC} must declare `openapi: 3.1.x`"
    );
    assert!(
        text.contains("\nsecurity:\n  - operatorToken: []\n"),
        "{SPEC} must apply `operatorToken` to every operation by default"
    );
    let schemes = components(&text, "securitySchemes");
    let token = schemes
        .get("operatorToken")
        .unwrap_or_else(|| panic!("{SPEC}: no components.securitySchemes.operatorToken"));
    assert!(token.iter().any(|l| l.trim() == "type: http"));
    assert!(token.iter().any(|l| l.trim() == "scheme: bearer"));

    let mut missing = Vec::new();
    let mut kinds: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let Some((_, r)) = line.split_once("$ref:") else {
            continue;
        };
        let r = r.trim().trim_matches('\'').trim_matches('"');
        let Some(rest) = r.strip_prefix("#/components/") else {
            missing.push(format!(
                "line {}: only local component refs are used: `{r}`",
                n + 1
            ));
            continue;
        };
        let Some((kind, name)) = rest.split_once('/') else {
            missing.push(format!("line {}: malformed ref `{r}`", n + 1));
            continue;
        };
        let defined = kinds
            .entry(kind.to_string())
            .or_insert_with(|| components(&text, kind));
        if !defined.contains_key(name) {
            missing.push(format!("line {}: `{r}` is not defined", n + 1));
        }
    }
    assert!(missing.is_empty(), "{SPEC}:\n{}", missing.join("\n"));
}

#[test]
fn the_scan_rejects_layout_drift() {
    let good = "paths:\n  /a/{id}:\n    get:\n      operationId: a\ncomponents:\n  x: 1\n";
    let ops = parse_paths(good).unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(
        (ops[0].method.as_str(), ops[0].path.as_str()),
        ("get", "/a/{id}")
    );
    assert_eq!(ops[0].field("operationId"), Some("a"));

    for (bad, why) in [
        ("paths:\n   /a:\n    get:\n", "3-space path"),
        ("paths:\n  /a:\n     get:\n", "5-space method"),
        ("paths:\n  /a:\n    parameters:\n", "path-level key"),
        ("paths:\n  /a:\n    GET:\n", "upper-case method"),
        ("paths:\n  /a: {get: {}}\n", "flow style"),
        ("paths:\n  a:\n    get:\n", "path without /"),
        (
            "paths:\n  /a:\n    get:\n  /a:\n    post:\n",
            "duplicate path",
        ),
        ("paths:\n  /a:\n\tget:\n", "tab"),
        ("info:\n  x: 1\n", "no paths"),
        ("paths:\ncomponents:\n", "no operations"),
    ] {
        assert!(parse_paths(bad).is_err(), "accepted {why}: {bad:?}");
    }
    assert_eq!(
        template_params("/api/x/{a}/y/{b}"),
        ["a".to_string(), "b".to_string()].into()
    );
}
