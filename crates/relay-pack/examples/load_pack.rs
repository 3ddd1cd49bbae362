//! Embedding `relay-pack` in another Rust tool: load and validate the bundled model
//! pack (`packs/openai-cn-pack`), read its providers, check a host version against
//! it, and see how a tampered copy is refused with every problem named.
//!
//! Run with `cargo run -p relay-pack --example load_pack`.

use std::path::PathBuf;

use relay_pack::{host_compatible, load_dir, Pack, PackError};

/// Runs the example; `pub` so the crate's tests can run it too.
pub fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packs/openai-cn-pack");
    // `load_dir` reads every file, checks `checksums.txt` and validates each
    // manifest; an invalid pack comes back as `PackError::Invalid` with all problems.
    let pack = match load_dir(&dir) {
        Ok(pack) => pack,
        Err(e) => panic!("{} does not load: {e}", dir.display()),
    };
    let manifest = &pack.manifest;
    println!(
        "{} {} ({} providers, digest {}…)",
        manifest.pack_id,
        manifest.version,
        pack.providers.len(),
        &pack.source_digest[..12]
    );
    for provider in &pack.providers {
        println!(
            "  {:<16} {:<8} {} (smoke test: {})",
            provider.provider_id,
            provider.platform.as_str(),
            provider.base_url,
            provider.smoke_test_model
        );
    }

    // Host compatibility is plain semver against the pack's `host_compat`.
    for version in ["0.1.179", "v0.3.0"] {
        let ok = host_compatible(manifest, version).expect("a semver host version");
        println!(
            "host {version}: {}",
            if ok { "compatible" } else { "not compatible" }
        );
    }

    // Users type model names loosely; a provider resolves them to its canonical ids.
    let deepseek = pack.provider("deepseek").expect("the pack has deepseek");
    let model = &deepseek.default_models[0];
    let typed = model.to_uppercase().replace('-', " ");
    assert_eq!(deepseek.canonical_model(&typed), Some(model.as_str()));
    println!("\"{typed}\" resolves to {model}");

    // A file changed after `checksums.txt` was written is refused, naming the file.
    let mut files = pack.files.clone();
    files.insert("README.md".into(), b"edited by hand".to_vec());
    match Pack::from_files(files) {
        Err(PackError::Invalid(problems)) => {
            assert!(problems.iter().any(|p| p.file == "README.md"));
            for problem in &problems {
                println!("tampered copy: {problem}");
            }
        }
        other => panic!("a tampered pack must be invalid, got {other:?}"),
    }
}
