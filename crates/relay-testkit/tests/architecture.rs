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
