//! Architecture invariants of the workspace, checked from the sources.
//!
//! * The flow crates (`relay-access`, `relay-provision`, `relay-reconcile`) stand
//!   side by side on `relay-core`: none of them depends on another (their
//!   integration tests may, through dev-dependencies).
//! * Only `relay-sub2api` speaks the host's vocabulary: no source file of another
//!   crate (except the host simulation `sub2api-mock`, and `xtask`, which drives
//!   real hosts) names a host `extra` key or Responses mode, or compares a value
//!   with a host status or platform string. The adapter's typed vocabulary
//!   (`AccountStatus`, `ObjectStatus`, `Platform`, `ResponsesRoute`) replaces them;
//!   our own statuses are typed enums of `relay-domain`. Integration tests that
//!   read the host simulation's raw JSON state are not scanned.
//! * Each vocabulary is declared once: no enum name is declared in two shipped
//!   crates (our vocabularies live in `relay-domain` and are re-exported), except
//!   the listed pairs of same-named but different vocabularies.

use std::fs;
use std::path::{Path, PathBuf};

/// Crates allowed to speak the host's wire vocabulary.
const HOST_CRATES: [&str; 2] = ["relay-sub2api", "sub2api-mock"];

/// Host `extra` keys, Responses modes and credential keys, quoted.
const HOST_KEYS: [&str; 6] = [
    "\"openai_responses_mode\"",
    "\"openai_responses_supported\"",
    "\"extra.openai_responses_supported\"",
    "\"force_chat_completions\"",
    "\"force_responses\"",
    "\"api_protocol\"",
];

/// Host status and platform strings: comparing a value with one of them outside
/// the adapter means reading host vocabulary untyped.
const HOST_WORDS: [&str; 14] = [
    "active",
    "inactive",
    "error",
    "disabled",
    "expired",
    "suspended",
    "revoked",
    "openai",
    "anthropic",
    "gemini",
    "antigravity",
    "kimi",
    "zhipu",
    "deepseek",
];

/// Why `line` speaks host vocabulary, if it does.
fn host_vocabulary(line: &str) -> Option<String> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return None;
    }
    if let Some(key) = HOST_KEYS.iter().find(|k| code.contains(*k)) {
        return Some(format!("host key {key}"));
    }
    for word in HOST_WORDS {
        let quoted = format!("\"{word}\"");
        let mut from = 0;
        while let Some(at) = code[from..].find(&quoted) {
            let start = from + at;
            let end = start + quoted.len();
            let before = code[..start].trim_end();
            let after = code[end..].trim_start();
            let compared = before.ends_with("==")
                || before.ends_with("!=")
                || after.starts_with("==")
                || after.starts_with("!=");
            if compared {
                return Some(format!("comparison with host string {quoted}"));
            }
            from = end;
        }
    }
    None
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

const FLOW_CRATES: [&str; 3] = ["relay-access", "relay-provision", "relay-reconcile"];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates dir")
        .to_path_buf()
}

/// The names of the dependencies in the `[dependencies]` and
/// `[build-dependencies]` tables (and their target-specific forms) of a manifest.
fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let table = line.trim_matches(|c| c == '[' || c == ']');
            in_deps = table == "dependencies"
                || table == "build-dependencies"
                || (table.starts_with("target.")
                    && (table.ends_with(".dependencies")
                        || table.ends_with(".build-dependencies")));
            // `[dependencies.name]` tables name the dependency in the header.
            if let Some(name) = table
                .strip_prefix("dependencies.")
                .or_else(|| table.strip_prefix("build-dependencies."))
            {
                out.push(name.trim().to_string());
            }
            continue;
        }
        if !in_deps || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            let name = name.trim().trim_matches('"');
            let name = name.split('.').next().unwrap_or(name);
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn the_parser_reads_every_form_of_dependency() {
    let manifest = r#"
[package]
name = "x"

[dependencies]
relay-core.workspace = true
serde = { workspace = true }
"quoted" = "1"

[dev-dependencies]
relay-access.workspace = true

[dependencies.relay-provision]
path = "../relay-provision"

[target.'cfg(unix)'.dependencies]
libc = "0.2"
"#;
    assert_eq!(
        normal_dependencies(manifest),
        ["relay-core", "serde", "quoted", "relay-provision", "libc"]
    );
}

#[test]
fn no_flow_crate_depends_on_another() {
    let mut violations = Vec::new();
    for krate in FLOW_CRATES {
        let path = crates_dir().join(krate).join("Cargo.toml");
        let manifest = fs::read_to_string(&path).expect("manifest");
        let deps = normal_dependencies(&manifest);
        assert!(
            deps.iter().any(|d| d == "relay-core"),
            "{krate} must stand on relay-core"
        );
        for other in FLOW_CRATES.iter().filter(|o| **o != krate) {
            if deps.iter().any(|d| d == other) {
                violations.push(format!("{krate} depends on {other}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the flow crates must stand side by side on relay-core: {violations:?}"
    );
}

#[test]
fn the_vocabulary_check_tells_host_strings_from_ours() {
    for bad in [
        r#"if account.status == "error" {"#,
        r#"    if "active" != k.status {"#,
        r#"a.platform == "openai" && x"#,
        r#"extra.insert("openai_responses_mode".into(), v);"#,
        r#"field: Some("extra.openai_responses_supported".into()),"#,
        r#".get("api_protocol")"#,
    ] {
        assert!(host_vocabulary(bad).is_some(), "{bad}");
    }
    for fine in [
        r#"// compares with "active" in prose == fine"#,
        r#"status: "active".into(),"#,
        r#"if phase == "rollback" {"#,
        r#"Active => "active","#,
        r#"format!("group is {}", "inactive")"#,
    ] {
        assert!(host_vocabulary(fine).is_none(), "{fine}");
    }
}

#[test]
fn only_the_adapter_speaks_host_vocabulary() {
    let root = crates_dir().parent().expect("workspace root").to_path_buf();
    let mut dirs = Vec::new();
    for parent in ["crates", "bins"] {
        for entry in fs::read_dir(root.join(parent)).expect("members").flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !HOST_CRATES.contains(&name.as_str()) {
                dirs.push(entry.path().join("src"));
            }
        }
    }
    assert!(dirs.len() >= 10, "{dirs:?}");
    let mut files = Vec::new();
    for dir in &dirs {
        rust_files(dir, &mut files);
    }
    let mut found = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).expect("source");
        for (n, line) in text.lines().enumerate() {
            if let Some(why) = host_vocabulary(line) {
                found.push(format!(
                    "{}:{}: {why}: {}",
                    file.strip_prefix(&root).unwrap_or(&file).display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "host vocabulary outside relay-sub2api (use its typed API):\n{}",
        found.join("\n")
    );
}

/// The crate graph drawn in `docs/ARCHITECTURE.md`: every workspace crate's
/// internal `[dependencies]`, exactly. A new edge is an architecture change: draw it
/// there first, then add it here. Dev-only crates (`sub2api-mock`, `relay-testkit`)
/// and `xtask` are listed with no internal dependencies they may use in shipped code.
const GRAPH: &[(&str, &[&str])] = &[
    ("relay-domain", &[]),
    ("relay-pack", &["relay-domain"]),
    ("relay-store", &["relay-domain"]),
    ("relay-sub2api", &["relay-domain"]),
    ("relay-upstream", &["relay-domain"]),
    ("relay-api-types", &["relay-domain"]),
    (
        "relay-core",
        &["relay-domain", "relay-pack", "relay-sub2api"],
    ),
    (
        "relay-access",
        &["relay-core", "relay-domain", "relay-sub2api"],
    ),
    (
        "relay-provision",
        &["relay-core", "relay-domain", "relay-pack", "relay-sub2api"],
    ),
    (
        "relay-reconcile",
        &["relay-core", "relay-domain", "relay-pack", "relay-sub2api"],
    ),
    (
        "relay-app",
        &[
            "relay-access",
            "relay-core",
            "relay-domain",
            "relay-pack",
            "relay-provision",
            "relay-reconcile",
            "relay-store",
            "relay-sub2api",
            "relay-upstream",
        ],
    ),
    (
        "relay-api",
        &["relay-api-types", "relay-app", "relay-domain"],
    ),
    (
        "relay-server",
        &["relay-api", "relay-app", "relay-domain", "relay-store"],
    ),
    (
        "relay-cli",
        &["relay-api-types", "relay-domain", "relay-pack"],
    ),
    ("sub2api-mock", &[]),
    (
        "relay-testkit",
        &[
            "relay-access",
            "relay-core",
            "relay-domain",
            "relay-pack",
            "relay-provision",
            "relay-reconcile",
            "relay-sub2api",
            "sub2api-mock",
        ],
    ),
    ("xtask", &["relay-store"]),
];

/// Crates that exist only for tests: not floors of the shipped tower.
const TEST_ONLY: [&str; 2] = ["sub2api-mock", "relay-testkit"];

/// Every workspace member: (package name, member directory).
fn members() -> Vec<(String, PathBuf)> {
    let root = crates_dir().parent().expect("workspace root").to_path_buf();
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("workspace manifest");
    let list = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("workspace members");
    list.split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|m| {
            let dir = root.join(m);
            let text = fs::read_to_string(dir.join("Cargo.toml")).expect("member manifest");
            let name = text
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
                })
                .expect("package name");
            (name, dir)
        })
        .collect()
}

/// Each member's internal dependencies, sorted.
fn internal_graph() -> Vec<(String, Vec<String>)> {
    let members = members();
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    members
        .iter()
        .map(|(name, dir)| {
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
            let mut deps: Vec<String> = normal_dependencies(&manifest)
                .into_iter()
                .filter(|d| names.contains(&d.as_str()))
                .collect();
            deps.sort();
            deps.dedup();
            (name.clone(), deps)
        })
        .collect()
}

#[test]
fn the_crate_graph_is_the_one_drawn() {
    let actual = internal_graph();
    let mut problems = Vec::new();
    for (name, deps) in &actual {
        match GRAPH.iter().find(|(n, _)| n == name) {
            None => problems.push(format!("{name} is not in the drawn graph")),
            Some((_, drawn)) => {
                let mut drawn: Vec<String> = drawn.iter().map(|d| d.to_string()).collect();
                drawn.sort();
                if &drawn != deps {
                    problems.push(format!("{name} depends on {deps:?}, drawn: {drawn:?}"));
                }
            }
        }
    }
    for (name, _) in GRAPH {
        if !actual.iter().any(|(n, _)| n == name) {
            problems.push(format!("{name} is drawn but not a workspace member"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/ARCHITECTURE.md's crate graph and the manifests disagree:\n{}",
        problems.join("\n")
    );
}

/// The floor of every shipped crate: 1 for a crate with no internal dependency,
/// else one above its highest dependency.
fn floors(graph: &[(String, Vec<String>)]) -> Vec<(String, usize)> {
    fn floor(name: &str, graph: &[(String, Vec<String>)], seen: &mut Vec<String>) -> usize {
        assert!(
            !seen.iter().any(|s| s == name),
            "dependency cycle at {name}"
        );
        seen.push(name.to_string());
        let deps = &graph.iter().find(|(n, _)| n == name).expect("member").1;
        let f = 1 + deps
            .iter()
            .map(|d| floor(d, graph, seen))
            .max()
            .unwrap_or(0);
        seen.pop();
        f
    }
    graph
        .iter()
        .filter(|(n, _)| !TEST_ONLY.contains(&n.as_str()) && n != "xtask")
        .map(|(n, _)| (n.clone(), floor(n, graph, &mut Vec::new())))
        .collect()
}

#[test]
fn the_tower_has_seven_floors() {
    let floors = floors(&internal_graph());
    let top = floors.iter().map(|(_, f)| *f).max().unwrap_or(0);
    assert_eq!(
        top, 7,
        "relay-domain to the binaries should be 7 floors: {floors:?}"
    );
    let floor_of = |name: &str| floors.iter().find(|(n, _)| n == name).expect(name).1;
    let flow: Vec<usize> = FLOW_CRATES.iter().map(|c| floor_of(c)).collect();
    assert!(
        flow.iter().all(|f| *f == floor_of("relay-core") + 1),
        "the flow crates stand on one floor, right above relay-core: {floors:?}"
    );
}

/// Source files of the members whose package name passes `keep`.
fn sources_of(keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (name, dir) in members() {
        if keep(&name) {
            rust_files(&dir.join("src"), &mut files);
        }
    }
    files
}

/// Lines of `files` for which `hit` says yes, as `path:line: text`.
fn lines_where(files: &[PathBuf], hit: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = fs::read_to_string(file).expect("source");
        for (n, line) in text.lines().enumerate() {
            if hit(line) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

/// A string literal that starts an SQL statement.
fn is_sql(line: &str) -> bool {
    line.split('"').skip(1).step_by(2).any(|lit| {
        let lit = lit.trim_start();
        [
            "SELECT ",
            "INSERT INTO",
            "UPDATE ",
            "DELETE FROM",
            "CREATE TABLE",
        ]
        .iter()
        .any(|kw| lit.starts_with(kw))
    })
}

#[test]
fn only_the_store_speaks_sql() {
    assert!(is_sql(
        r#"conn.execute("INSERT INTO hosts (id) VALUES (?1)", [id])"#
    ));
    assert!(is_sql(r#"let q = " SELECT id FROM batches";"#));
    assert!(!is_sql(r#"// SELECT in prose "select""#));
    assert!(!is_sql(r#"tracing::info!("UPDATEd {n} rows")"#));
    let files = sources_of(|name| name != "relay-store");
    assert!(files.len() > 50, "{} files", files.len());
    let found = lines_where(&files, is_sql);
    assert!(
        found.is_empty(),
        "SQL outside relay-store:\n{}",
        found.join("\n")
    );
}

/// The synchronous core: blocking libraries meant to be embedded anywhere.
const SYNC_CRATES: [&str; 10] = [
    "relay-domain",
    "relay-pack",
    "relay-store",
    "relay-sub2api",
    "relay-upstream",
    "relay-core",
    "relay-access",
    "relay-provision",
    "relay-reconcile",
    "relay-app",
];

#[test]
fn the_core_is_synchronous() {
    let files = sources_of(|name| SYNC_CRATES.contains(&name));
    let found = lines_where(&files, |line| {
        let code = line.split("//").next().unwrap_or("");
        code.contains("async fn") || code.contains(".await") || code.contains("tokio::")
    });
    assert!(
        found.is_empty(),
        "async code in the synchronous core (it belongs in relay-api):\n{}",
        found.join("\n")
    );
}

/// An untyped JSON field lookup: `value["field"]` or `value.get("field")`.
fn untyped_lookup(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    let is_field = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let quoted_after = |open: &str, close: &str| {
        code.match_indices(open).any(|(i, _)| {
            code[i + open.len()..]
                .split_once(close)
                .is_some_and(|(field, _)| is_field(field))
        })
    };
    // `client.get("/api/hosts")` is an HTTP call, not a field: paths start with `/`.
    quoted_after("[\"", "\"]") || quoted_after(".get(\"", "\")") || code.contains(".pointer(\"")
}

#[test]
fn the_cli_reads_typed_answers_only() {
    assert!(untyped_lookup(r#"let id = v["batch_id"].as_str();"#));
    assert!(untyped_lookup(r#"v.get("status").and_then(Value::as_str)"#));
    assert!(untyped_lookup(r#"v.pointer("/report/outcome")"#));
    assert!(!untyped_lookup(r#"let names = ["a", "b"];"#));
    assert!(!untyped_lookup(
        r#"let doc = client.get("/api/hosts", &[])?;"#
    ));
    assert!(!untyped_lookup(r#"// v["field"] in prose"#));
    let files = sources_of(|name| name == "relay-cli");
    assert!(files.len() > 5, "{files:?}");
    let found = lines_where(&files, untyped_lookup);
    assert!(
        found.is_empty(),
        "untyped JSON field access in the CLI (read a relay-api-types type):\n{}",
        found.join("\n")
    );
}

/// The macros that declare a vocabulary enum (`relay_domain::string_enum!`, the
/// contract's `contract_enum!`, the adapter's `host_enum!`).
const ENUM_MACROS: [&str; 3] = ["string_enum!", "contract_enum!", "host_enum!"];

/// What follows the opening of a call of one of [`ENUM_MACROS`] on `code`
/// (`name!(` or `name! {`), if `code` calls one.
fn enum_macro_call(code: &str) -> Option<&str> {
    ENUM_MACROS.iter().find_map(|m| {
        let at = code.find(m)? + m.len();
        let rest = code[at..].trim_start();
        rest.strip_prefix('(').or_else(|| rest.strip_prefix('{'))
    })
}

/// The leading identifier of `text`, if it starts with one.
fn leading_ident(text: &str) -> Option<String> {
    let ident: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        .then_some(ident)
}

/// The enums `text` (one source file) declares: every `pub enum Name`, and the name
/// each vocabulary macro call declares (on the call's line, or on its first line that
/// is not a doc comment or an attribute). Macro definitions (`pub enum $name`) and
/// comments declare nothing.
fn declared_enums(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_call = false;
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") && !code.starts_with("///") {
            continue;
        }
        if in_call {
            if code.is_empty() || code.starts_with("///") || code.starts_with("#[") {
                continue;
            }
            names.extend(leading_ident(code));
            in_call = false;
            continue;
        }
        if code.starts_with("///") {
            continue;
        }
        if let Some(rest) = code.strip_prefix("pub enum ") {
            names.extend(leading_ident(rest));
        } else if !code.starts_with("macro_rules!") {
            if let Some(rest) = enum_macro_call(code) {
                match leading_ident(rest.trim_start()) {
                    Some(name) => names.push(name),
                    None => in_call = rest.trim().is_empty(),
                }
            }
        }
    }
    names
}

/// Names declared in more than one crate, as one line each, leaving out the pairs
/// of `allowed`. `declared` holds (crate, name) pairs.
fn declared_twice(declared: &[(String, String)], allowed: &[(&str, [&str; 2])]) -> Vec<String> {
    let mut by_name: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (krate, name) in declared {
        let crates = by_name.entry(name.as_str()).or_default();
        if !crates.contains(&krate.as_str()) {
            crates.push(krate);
        }
    }
    by_name
        .into_iter()
        .filter(|(_, crates)| crates.len() > 1)
        .filter(|(name, crates)| {
            let mut crates = crates.clone();
            crates.sort_unstable();
            !allowed.iter().any(|(n, pair)| {
                let mut pair = pair.to_vec();
                pair.sort_unstable();
                n == name && pair == crates
            })
        })
        .map(|(name, crates)| format!("{name}: declared in {}", crates.join(", ")))
        .collect()
}

/// Same-named enums that are genuinely different vocabularies.
const SAME_NAME_DIFFERENT_VOCABULARY: &[(&str, [&str; 2])] = &[
    // The host's platform as the adapter reads it: an open set that keeps any value
    // a host sends (`Other`). Ours (relay-domain) is the closed set the manager
    // creates groups and accounts on, named in packs.
    ("Platform", ["relay-domain", "relay-sub2api"]),
    // How a lookup of an object by its deterministic name ended, with the host's ids:
    // provision's carries `ObjectId`s; the contract's is its wire form (plain
    // integers), like every other report body of relay-api-types.
    ("Resolution", ["relay-provision", "relay-api-types"]),
];

#[test]
fn the_vocabulary_scanner_reads_every_form_of_declaration() {
    let text = r#"
/// Docs.
#[derive(Debug)]
pub enum Plain {
    A,
}
pub enum Borrowed<'a> { B(&'a str) }
// pub enum Commented {}
/// pub enum InDocs
relay_domain::string_enum!(
    /// What it is.
    Spread, "spread" {
        /// One.
        One => "one",
    }
);
string_enum!(Inline { One => "one" });
contract_enum!(
    Contract, "contract" {
        A => "a",
    }
);
host_enum! {
    /// Host.
    #[allow(missing_docs)]
    Hosted {
        A => "a",
    }
}
string_enums!(NotADeclaration);
macro_rules! string_enum {
    ($name:ident) => {
        pub enum $name {}
    };
}
"#;
    assert_eq!(
        declared_enums(text),
        ["Plain", "Borrowed", "Spread", "Inline", "Contract", "Hosted"]
    );
    let declared: Vec<(String, String)> = [
        ("relay-domain", "Verdict"),
        ("relay-core", "Verdict"),
        ("relay-domain", "Platform"),
        ("relay-sub2api", "Platform"),
        ("relay-domain", "Severity"),
        ("relay-domain", "Severity"),
        ("relay-pack", "Other"),
    ]
    .iter()
    .map(|(c, n)| (c.to_string(), n.to_string()))
    .collect();
    assert_eq!(
        declared_twice(&declared, &[]),
        [
            "Platform: declared in relay-domain, relay-sub2api",
            "Verdict: declared in relay-domain, relay-core"
        ]
    );
    assert_eq!(
        declared_twice(
            &declared,
            &[("Platform", ["relay-sub2api", "relay-domain"])]
        ),
        ["Verdict: declared in relay-domain, relay-core"]
    );
}

#[test]
fn each_vocabulary_is_defined_once() {
    let mut declared = Vec::new();
    for (name, dir) in members() {
        if TEST_ONLY.contains(&name.as_str()) || name == "xtask" {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            let text = fs::read_to_string(&file).expect("source");
            declared.extend(declared_enums(&text).into_iter().map(|e| (name.clone(), e)));
        }
    }
    assert!(
        declared
            .iter()
            .any(|(c, n)| c == "relay-domain" && n == "BatchStatus")
            && declared
                .iter()
                .any(|(c, n)| c == "relay-api-types" && n == "Capability")
            && declared
                .iter()
                .any(|(c, n)| c == "relay-sub2api" && n == "AccountStatus"),
        "the scan misses declarations: {declared:?}"
    );
    let twice = declared_twice(&declared, SAME_NAME_DIFFERENT_VOCABULARY);
    assert!(
        twice.is_empty(),
        "a vocabulary declared in two crates (declare it once, in relay-domain, and re-export it):\n{}",
        twice.join("\n")
    );
    for (name, pair) in SAME_NAME_DIFFERENT_VOCABULARY {
        for krate in pair {
            assert!(
                declared.iter().any(|(c, n)| c == krate && n == name),
                "{name} is no longer declared in {krate}: drop it from the allow-list"
            );
        }
    }
}

/// The library crates meant to be embedded in other Rust tools.
const LIBRARIES: [&str; 12] = [
    "relay-domain",
    "relay-pack",
    "relay-store",
    "relay-sub2api",
    "relay-upstream",
    "relay-api-types",
    "relay-core",
    "relay-access",
    "relay-provision",
    "relay-reconcile",
    "relay-app",
    "relay-api",
];

#[test]
fn every_library_is_documented_and_has_a_running_example() {
    let mut problems = Vec::new();
    for (name, dir) in members() {
        if !LIBRARIES.contains(&name.as_str()) {
            continue;
        }
        let lib = fs::read_to_string(dir.join("src/lib.rs")).expect("lib.rs");
        if !lib.contains("#![warn(missing_docs)]") {
            problems.push(format!("{name}: src/lib.rs lacks #![warn(missing_docs)]"));
        }
        let mut examples = Vec::new();
        rust_files(&dir.join("examples"), &mut examples);
        if examples.is_empty() {
            problems.push(format!("{name}: no runnable example in examples/"));
        }
        let mut tests = Vec::new();
        rust_files(&dir.join("tests"), &mut tests);
        let test_text: String = tests
            .iter()
            .map(|t| fs::read_to_string(t).expect("test source"))
            .collect();
        for example in examples {
            let file = example.file_name().expect("file").to_string_lossy();
            if !test_text.contains(&format!("../examples/{file}")) {
                problems.push(format!("{name}: no test runs examples/{file}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
