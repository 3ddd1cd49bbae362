//! The shipped pack validates, loads identically from a zip, and its manifests behave.

use std::collections::BTreeMap;

use crate::common::{p, problems, read_tree, real_pack_dir, temp_dir, write_tree, zip_files};
use relay_pack::{
    host_compatible, load_dir, load_zip, load_zip_bytes, parse_host_version, write_checksums, Pack,
    Platform, ProviderManifest, Severity,
};

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

fn real() -> Pack {
    load_dir(&real_pack_dir()).expect("the shipped pack is valid")
}

#[test]
fn real_pack_validates() {
    let pack = real();
    assert_eq!(pack.manifest.pack_id, "openai-cn-pack");
    assert_eq!(pack.manifest.version.to_string(), "1.0.0");
    let ids: Vec<&str> = pack
        .providers
        .iter()
        .map(|p| p.provider_id.as_str())
        .collect();
    assert_eq!(ids, PROVIDERS);
    for provider in &pack.providers {
        assert!(
            provider.base_url.starts_with("https://"),
            "{}",
            provider.provider_id
        );
        assert_eq!(provider.platform, Platform::Openai);
        assert!(provider.default_models.contains(&provider.smoke_test_model));
        let identity: BTreeMap<String, String> = provider
            .default_models
            .iter()
            .map(|m| (m.clone(), m.clone()))
            .collect();
        assert_eq!(
            provider.channel_template.model_mapping, identity,
            "{}",
            provider.provider_id
        );
        assert!(provider.force_disable_openai_responses_api);
    }
    // DeepSeek, Kimi and GLM use the host's native CN platform where it exists
    // (sub2api ≥ 0.1.178), `openai` elsewhere; the others stay on `openai`.
    let native: Vec<(&str, Option<Platform>)> = pack
        .providers
        .iter()
        .map(|p| {
            (
                p.provider_id.as_str(),
                p.native_platform.as_ref().map(|n| n.platform),
            )
        })
        .collect();
    assert_eq!(
        native,
        [
            ("deepseek", Some(Platform::Deepseek)),
            ("glm", Some(Platform::Zhipu)),
            ("glm-global", Some(Platform::Zhipu)),
            ("minimax", None),
            ("minimax-global", None),
            ("moonshot", Some(Platform::Kimi)),
            ("moonshot-global", Some(Platform::Kimi)),
            ("qwen", None),
            ("qwen-intl", None),
            ("stepfun", None),
            ("stepfun-global", None),
        ]
    );
    for n in pack
        .providers
        .iter()
        .filter_map(|p| p.native_platform.as_ref())
    {
        assert!(n
            .host_version
            .matches(&parse_host_version("0.1.178").unwrap()));
        assert!(n
            .host_version
            .matches(&parse_host_version("0.1.179").unwrap()));
        assert!(!n
            .host_version
            .matches(&parse_host_version("0.1.177").unwrap()));
        assert!(!n
            .host_version
            .matches(&parse_host_version("0.1.27").unwrap()));
    }
    let smoke: Vec<(&str, &str)> = ["deepseek", "moonshot", "minimax", "qwen", "glm", "stepfun"]
        .iter()
        .map(|id| (*id, pack.provider(id).unwrap().smoke_test_model.as_str()))
        .collect();
    assert_eq!(
        smoke,
        [
            ("deepseek", "deepseek-flash"),
            ("moonshot", "kimi-k2.6"),
            ("minimax", "MiniMax-M2.7"),
            ("qwen", "qwen-flash"),
            ("glm", "glm-4.7-flash"),
            ("stepfun", "step-3.5-flash"),
        ]
    );
    assert_eq!(
        pack.source_digest,
        relay_pack::checksums::sha256_hex(
            &std::fs::read(real_pack_dir().join("checksums.txt")).unwrap()
        )
    );
    assert!(pack.files.contains_key("README.md"));
    assert!(pack.files.contains_key("overlays/glm-base-url.md"));
}

#[test]
fn checksums_of_the_real_pack_are_what_write_checksums_produces() {
    let dir = temp_dir("rewrite");
    write_tree(&dir, &read_tree(&real_pack_dir()));
    let content = write_checksums(&dir).unwrap();
    assert_eq!(
        content,
        std::fs::read_to_string(real_pack_dir().join("checksums.txt")).unwrap()
    );
    assert_eq!(content.lines().count(), real().files.len() - 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn zip_of_the_real_pack_loads_identically_at_root_or_under_one_directory() {
    let from_dir = real();
    let files = read_tree(&real_pack_dir());
    assert_eq!(load_zip_bytes(&zip_files(&files, "")).unwrap(), from_dir);
    assert_eq!(
        load_zip_bytes(&zip_files(&files, "openai-cn-pack/")).unwrap(),
        from_dir
    );

    let dir = temp_dir("zip");
    let path = dir.join("openai-cn-pack.zip");
    std::fs::write(&path, zip_files(&files, "openai-cn-pack/")).unwrap();
    assert_eq!(load_zip(&path).unwrap(), from_dir);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_zip_with_two_top_level_directories_is_not_unwrapped() {
    let mut files = BTreeMap::new();
    for (path, bytes) in read_tree(&real_pack_dir()) {
        files.insert(format!("a/{path}"), bytes);
    }
    files.insert("b/extra.txt".to_owned(), b"x".to_vec());
    let problems = problems(load_zip_bytes(&zip_files(&files, "")));
    assert!(problems.contains(&p("pack.json", None, "file is missing")));
    assert!(problems.contains(&p(
        "checksums.txt",
        None,
        "file is missing (it must list the SHA-256 of every other pack file)"
    )));
}

#[test]
fn aliases_resolve_to_canonical_ids() {
    let pack = real();
    let resolve = |provider: &str, name: &str| {
        pack.provider(provider)
            .unwrap()
            .canonical_model(name)
            .map(str::to_owned)
    };
    for typed in [
        "kimi 2.6",
        "Kimi-K2.6",
        "kimi k2.6",
        "KIMI_K2.6",
        "k2.6",
        "kimi-k2-6",
        "moonshotai/Kimi-K2.6",
    ] {
        assert_eq!(
            resolve("moonshot", typed).as_deref(),
            Some("kimi-k2.6"),
            "{typed}"
        );
    }
    assert_eq!(
        resolve("moonshot", "kimi-latest").as_deref(),
        Some("kimi-k2.6")
    );
    assert_eq!(
        resolve("minimax", "minimax m2.7").as_deref(),
        Some("MiniMax-M2.7")
    );
    assert_eq!(resolve("minimax", "M3").as_deref(), Some("MiniMax-M3"));
    assert_eq!(
        resolve("deepseek", "DeepSeek V4").as_deref(),
        Some("deepseek-v4-pro")
    );
    assert_eq!(
        resolve("deepseek", "deepseek-chat").as_deref(),
        Some("deepseek-flash")
    );
    assert_eq!(resolve("qwen", "Qwen Max").as_deref(), Some("qwen3.7-max"));
    assert_eq!(resolve("glm", "GLM 4.6").as_deref(), Some("glm-4.6"));
    assert_eq!(resolve("glm", "glm4.6").as_deref(), Some("glm-4.6"));
    assert_eq!(
        resolve("stepfun", "Step 3").as_deref(),
        Some("step-3.7-flash")
    );
    assert_eq!(resolve("moonshot", "gpt-4o"), None);
    assert_eq!(resolve("moonshot", "  "), None);
}

#[test]
fn key_hints_warn_on_foreign_key_shapes() {
    let pack = real();
    let hint = |id: &str| pack.provider(id).unwrap().key_hint.clone().unwrap();
    assert!(hint("glm").matches("0123456789abcdef0123456789abcdef.auuRSiYueq7Mvc6m"));
    assert!(!hint("glm").matches("sk-0123456789abcdef0123456789abcdef"));
    assert!(hint("minimax").matches("sk-api-abc"));
    assert!(!hint("minimax").matches("sk-cp-abc"));
    assert!(hint("deepseek").matches("sk-0123456789abcdef0123456789abcdef"));
    assert!(pack.provider("stepfun").unwrap().key_hint.is_none());
}

#[test]
fn host_compatibility_and_overlays() {
    let pack = real();
    assert_eq!(host_compatible(&pack.manifest, "0.1.131"), Ok(true));
    assert_eq!(host_compatible(&pack.manifest, "v0.1.131"), Ok(true));
    assert_eq!(host_compatible(&pack.manifest, " 0.2.9 "), Ok(true));
    assert_eq!(host_compatible(&pack.manifest, "0.1.99"), Ok(false));
    assert_eq!(host_compatible(&pack.manifest, "0.3.0"), Ok(false));
    let err = host_compatible(&pack.manifest, "latest").unwrap_err();
    assert_eq!(err.version, "latest");
    assert!(err
        .to_string()
        .starts_with("host version \"latest\" is not valid semver: "));

    // The GLM `/v4` root works on hosts that join version-suffixed bases (≈0.1.127 on,
    // checked on 0.1.179); only older builds get the advisory note.
    let glm = pack.provider("glm").unwrap();
    assert!(glm
        .overlays_for(&parse_host_version("0.1.131").unwrap())
        .is_empty());
    let notes = glm.overlays_for(&parse_host_version("0.1.120").unwrap());
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].severity, Severity::Warning);
    assert!(
        notes[0].note.contains("upgrade the host"),
        "{}",
        notes[0].note
    );
    assert!(pack
        .provider("deepseek")
        .unwrap()
        .overlays_for(&parse_host_version("0.1.131").unwrap())
        .is_empty());
}

#[test]
fn manifests_round_trip_through_serde() {
    for provider in real().providers {
        let json = serde_json::to_string(&provider).unwrap();
        let back: ProviderManifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, provider);
    }
    let manifest = real().manifest;
    let back: relay_pack::PackManifest =
        serde_json::from_str(&serde_json::to_string(&manifest).unwrap()).unwrap();
    assert_eq!(back, manifest);
}

/// The real pack with one provider manifest replaced (checksums regenerated).
fn with_provider_json(
    id: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<relay_pack::Problem> {
    let mut files = read_tree(&real_pack_dir());
    let path = format!("providers/{id}.json");
    let mut value: serde_json::Value = serde_json::from_slice(&files[&path]).unwrap();
    edit(&mut value);
    files.insert(path, serde_json::to_vec_pretty(&value).unwrap());
    files.remove("checksums.txt");
    let checksums =
        relay_pack::checksums::render(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    files.insert("checksums.txt".to_owned(), checksums.into_bytes());
    problems(Pack::from_files(files))
}

#[test]
fn provider_id_must_match_the_id_pattern() {
    assert_eq!(
        with_provider_json("deepseek", |v| v["provider_id"] = "Deep_Seek".into()),
        [p(
            "providers/deepseek.json",
            Some("provider_id"),
            "provider_id \"Deep_Seek\" must match ^[a-z0-9][a-z0-9-]*$"
        )]
    );
}

#[test]
fn ambiguous_aliases_are_rejected() {
    assert_eq!(
        with_provider_json("moonshot", |v| {
            v["model_aliases"]["Kimi K3"] = "kimi-k2.6".into();
        }),
        [p(
            "providers/moonshot.json",
            Some("model_aliases.Kimi K3"),
            "model_aliases \"Kimi K3\" targets \"kimi-k2.6\" but already names default model \"kimi-k3\""
        )]
    );
}

#[test]
fn key_hint_must_be_an_object_with_prefixes_or_a_pattern() {
    let f = "providers/deepseek.json";
    assert_eq!(
        with_provider_json("deepseek", |v| v["key_hint"] = "sk-".into()),
        [p(
            f,
            Some("key_hint"),
            "key_hint must be an object like {\"prefixes\": [\"sk-\"], \"pattern\": \"sk-{hex:32}\"}"
        )]
    );
    assert_eq!(
        with_provider_json("deepseek", |v| v["key_hint"] =
            serde_json::json!({"note": "x"})),
        [p(
            f,
            Some("key_hint"),
            "key_hint needs prefixes or a pattern"
        )]
    );
}

#[test]
fn native_platform_is_validated_by_file_and_field() {
    let f = "providers/deepseek.json";
    assert_eq!(
        with_provider_json("deepseek", |v| v["native_platform"] = "deepseek".into()),
        [p(
            f,
            Some("native_platform"),
            "native_platform must be an object like {\"platform\": \"deepseek\", \"host_version\": \">=0.1.178\"}"
        )]
    );
    assert_eq!(
        with_provider_json("deepseek", |v| {
            v["native_platform"] =
                serde_json::json!({"platform": "anthropic", "host_version": "0.1.x.y", "since": 1})
        }),
        [
            p(
                f,
                Some("native_platform.since"),
                "unknown field \"native_platform.since\" (expected one of: platform, host_version)"
            ),
            p(
                f,
                Some("native_platform.platform"),
                "native_platform.platform \"anthropic\" is not one of the host's native CN platforms (kimi, zhipu, deepseek)"
            ),
            p(
                f,
                Some("native_platform.host_version"),
                "native_platform.host_version \"0.1.x.y\" is not a valid semver requirement: expected comma after patch version number, found '.'"
            ),
        ]
    );
    assert_eq!(
        with_provider_json("deepseek", |v| {
            v["native_platform"] = serde_json::json!({"platform": "sora"})
        }),
        [
            p(
                f,
                Some("native_platform.platform"),
                "native_platform.platform \"sora\" is not one of openai, anthropic, gemini, antigravity, grok, kimi, zhipu, deepseek, composite"
            ),
            p(
                f,
                Some("native_platform.host_version"),
                "missing required field \"native_platform.host_version\""
            ),
        ]
    );
    assert_eq!(
        with_provider_json("deepseek", |v| v["platform"] = "deepseek".into()),
        [p(
            f,
            Some("native_platform.platform"),
            "native_platform.platform \"deepseek\" is already the provider's platform; drop native_platform or set platform to the fallback (e.g. openai)"
        )]
    );
}

#[test]
fn channel_mapping_targets_and_duplicate_prices_are_checked() {
    let f = "providers/minimax.json";
    assert_eq!(
        with_provider_json("minimax", |v| {
            v["channel_template"]["model_mapping"]["fast"] = "MiniMax-M9".into();
            v["channel_template"]["model_pricing"][1]["models"] = serde_json::json!(["MiniMax-M3"]);
        }),
        [
            p(
                f,
                Some("channel_template.model_mapping.fast"),
                "channel_template.model_mapping.fast maps to \"MiniMax-M9\", which is not in default_models"
            ),
            p(
                f,
                Some("channel_template.model_pricing[1].models"),
                "channel_template.model_pricing[1].models: \"MiniMax-M3\" is already priced by model_pricing[0]"
            ),
        ]
    );
}

#[test]
fn a_manifest_that_is_not_an_object_and_stray_files_under_providers() {
    let mut files = read_tree(&real_pack_dir());
    files.insert("providers/deepseek.json".to_owned(), b"[1, 2]".to_vec());
    files.insert("providers/notes.txt".to_owned(), b"hello".to_vec());
    files.remove("checksums.txt");
    let checksums =
        relay_pack::checksums::render(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    files.insert("checksums.txt".to_owned(), checksums.into_bytes());
    assert_eq!(
        problems(Pack::from_files(files)),
        [
            p("providers/deepseek.json", None, "must hold a JSON object"),
            p(
                "providers/notes.txt",
                None,
                "only provider manifests (providers/<provider_id>.json) may live under providers/"
            ),
        ]
    );
}

#[cfg(unix)]
#[test]
fn directory_symlinks_are_reported() {
    let dir = temp_dir("symlink-dir");
    write_tree(&dir, &read_tree(&real_pack_dir()));
    std::os::unix::fs::symlink("/etc/hostname", dir.join("overlays/link.md")).unwrap();
    let problems = problems(load_dir(&dir));
    assert_eq!(
        problems,
        [p(
            "overlays/link.md",
            None,
            "symbolic links are not allowed in a pack"
        )]
    );
    assert!(matches!(
        write_checksums(&dir),
        Err(relay_pack::PackError::Invalid(_))
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs `f` on a thread and fails the test if it does not finish in 10 s (a FIFO
/// that was opened for reading would block it forever).
#[cfg(unix)]
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("loading blocked: a FIFO was opened")
}

#[cfg(unix)]
#[test]
fn fifos_are_reported_and_never_opened() {
    let dir = temp_dir("fifo-dir");
    write_tree(&dir, &read_tree(&real_pack_dir()));
    let fifo = dir.join("overlays/pipe.md");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let d = dir.clone();
    let problems = problems(within_10s(move || load_dir(&d)));
    assert_eq!(
        problems,
        [p(
            "overlays/pipe.md",
            None,
            "only directories and regular files are allowed in a pack (not FIFOs, sockets or devices)"
        )]
    );
    // A FIFO given as a zip is refused on the open handle, without blocking.
    let err = within_10s(move || load_zip(&fifo).unwrap_err().to_string());
    assert!(err.contains("not a regular file"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_symlink_given_as_a_zip_is_not_followed() {
    let dir = temp_dir("zip-link");
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("pack.zip");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    let err = load_zip(&link).unwrap_err();
    assert!(matches!(err, relay_pack::PackError::Io { .. }), "{err:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn load_dir_of_a_missing_directory_is_an_io_error() {
    let err = load_dir(std::path::Path::new("/nonexistent/relay-pack")).unwrap_err();
    assert!(matches!(err, relay_pack::PackError::Io { .. }), "{err:?}");
    assert!(err.to_string().starts_with("/nonexistent/relay-pack: "));
}
