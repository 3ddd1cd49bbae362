//! Architecture invariants of the workspace, checked from the sources.
//!
//! * The flow crates (`relay-access`, `relay-provision`, `relay-reconcile`) stand
//!   side by side on `relay-core`: none of them depends on another (their
//!   integration tests may, through dev-dependencies).

use std::fs;
use std::path::{Path, PathBuf};

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
