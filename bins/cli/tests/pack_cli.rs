//! Runs the real `relay` binary against the shipped pack and the fixtures.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn relay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(args)
        .output()
        .expect("relay runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("relay-cli-test-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_tree(from: &Path, to: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![(from.to_owned(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let rel = format!("{prefix}{}", entry.file_name().to_str().unwrap());
            if entry.file_type().unwrap().is_dir() {
                pending.push((entry.path(), format!("{rel}/")));
            } else {
                let bytes = std::fs::read(entry.path()).unwrap();
                let target = to.join(&rel);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(target, &bytes).unwrap();
                files.insert(rel, bytes);
            }
        }
    }
    files
}

const PROVIDERS: [&str; 11] = [
    "deepseek",
    "glm",
    "glm-global",
    "minimax",
    "minimax-global",
    "moonshot",
    "moonshot-global",
    "qwen",
    "qwen-intl",
    "stepfun",
    "stepfun-global",
];

#[test]
fn validate_the_real_pack() {
    let pack = workspace().join("packs/openai-cn-pack");
    let out = relay(&["pack", "validate", pack.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(text.starts_with("pack openai-cn-pack 1.0.0 "), "{text}");
    for id in PROVIDERS {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{id} "))),
            "{id} missing from:\n{text}"
        );
    }
    assert!(text.contains("https://api.moonshot.cn/v1"));
    assert!(text.contains("valid: 11 provider(s)"));
}

#[test]
fn validate_the_real_pack_as_json_and_as_zip() {
    let pack_dir = workspace().join("packs/openai-cn-pack");
    let out = relay(&[
        "--output",
        "json",
        "pack",
        "validate",
        pack_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["version"], "1.0.0");
    let ids: Vec<&str> = doc["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, PROVIDERS);

    let dir = temp_dir("zip");
    let files = copy_tree(&pack_dir, &dir.join("unzipped"));
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (path, bytes) in &files {
        writer
            .start_file(
                format!("openai-cn-pack/{path}"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
        writer.write_all(bytes).unwrap();
    }
    let zip_path = dir.join("pack.zip");
    std::fs::write(&zip_path, writer.finish().unwrap().into_inner()).unwrap();
    let out = relay(&[
        "pack",
        "validate",
        zip_path.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let from_zip: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_zip, doc);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_invalid_fixture_prints_every_problem_and_exits_1() {
    let fixture = workspace().join("fixtures/packs/bad-provider-fields");
    let out = relay(&["pack", "validate", fixture.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let expected = match relay_pack::load_dir(&fixture) {
        Err(relay_pack::PackError::Invalid(problems)) => problems,
        other => panic!("fixture should be invalid: {other:?}"),
    };
    assert_eq!(expected.len(), 19);
    assert!(text.contains("invalid pack, 19 problem(s):"), "{text}");
    for problem in &expected {
        assert!(
            text.contains(&format!("  {problem}\n")),
            "missing {problem} in:\n{text}"
        );
    }
    assert!(text.contains(
        "  providers/deepseek.json: platform \"azure\" is not one of openai, anthropic, gemini, antigravity, grok, kimi, zhipu, deepseek, composite\n"
    ));

    let out = relay(&[
        "--output",
        "json",
        "pack",
        "validate",
        fixture.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["problems"].as_array().unwrap().len(), 19);
    assert_eq!(doc["problems"][2]["field"], "platform");
    assert_eq!(doc["problems"][2]["file"], "providers/deepseek.json");
}

#[test]
fn checksum_writes_a_file_that_then_validates() {
    let dir = temp_dir("checksum");
    let files = copy_tree(&workspace().join("packs/openai-cn-pack"), &dir);
    std::fs::remove_file(dir.join("checksums.txt")).unwrap();
    std::fs::write(dir.join("overlays/extra.md"), "An extra advisory note.\n").unwrap();

    let out = relay(&["pack", "validate", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("checksums.txt: file is missing"));

    let out = relay(&["pack", "checksum", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let count = files.len(); // the copied files minus checksums.txt, plus overlays/extra.md
    assert!(
        stdout(&out).contains(&format!("({count} files)")),
        "{}",
        stdout(&out)
    );
    let written = std::fs::read_to_string(dir.join("checksums.txt")).unwrap();
    assert_eq!(written.lines().count(), count);
    assert!(written.contains("  overlays/extra.md\n"));

    let out = relay(&["pack", "validate", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn usage_errors_exit_2_and_load_errors_exit_1() {
    assert_eq!(relay(&["pack"]).status.code(), Some(2));
    assert_eq!(relay(&["pack", "validate"]).status.code(), Some(2));
    assert_eq!(
        relay(&["--output", "xml", "pack", "validate", "."])
            .status
            .code(),
        Some(2)
    );

    let out = relay(&["pack", "validate", "/nonexistent/pack.zip"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: cannot load pack /nonexistent/pack.zip: /nonexistent/pack.zip: "),
        "{err}"
    );
}
