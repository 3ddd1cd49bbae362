//! Embedding `relay-store` in another Rust tool: open a throw-away in-memory store,
//! register a host with its admin key, and read it back — the record carries no
//! secret, the key is sealed at rest and only `admin_secret` opens it.
//!
//! Run with `cargo run -p relay-store --example in_memory_store`.

use relay_domain::{HostId, HostStatus, Secret};
use relay_store::{HostAuthKind, HostRepository, NewHost, Store};

/// Runs the example; `pub` so the crate's tests can run it too.
pub fn main() {
    // In memory: migrations applied, a random master key, nothing on disk. A tool
    // keeping state would use `Store::open(data_dir, master_key)` instead.
    let store = Store::open_in_memory().expect("in-memory store");
    println!("schema version {}", store.schema_version().expect("schema"));

    let admin_key = Secret::new("admin-3f5e7a9c1b2d4f6e8a0c2e4f6a8b0d2e4f6a8c0e");
    let id = HostId::from_random(&[0x2a, 0x17, 0x99, 0x05]);
    let created = store
        .hosts()
        .create(&NewHost {
            id: id.clone(),
            name: "staging".into(),
            base_url: "https://staging.example.test".into(),
            auth_kind: HostAuthKind::ApiKey,
            admin_email: None,
            admin_secret: admin_key.clone(),
            version: Some("0.1.179".into()),
            status: HostStatus::Supported,
        })
        .expect("create host");

    // The record read back has no secret field, and its `Debug` form cannot leak one.
    let host = store.hosts().get(&id).expect("read host");
    assert_eq!(host, created);
    assert!(!format!("{host:?}").contains(admin_key.expose()));
    println!(
        "{} {} {} ({})",
        host.id,
        host.name,
        host.base_url,
        host.status.as_str()
    );

    // The credential is sealed (XChaCha20-Poly1305, bound to the host row); only the
    // repository's `admin_secret` opens it, with the store's master key.
    let opened = store.hosts().admin_secret(&id).expect("open admin secret");
    assert_eq!(opened.expose(), admin_key.expose());
    println!("admin secret opens as {opened:?}");

    // The same sealing, directly: the sealed text does not contain the secret, and a
    // value sealed for one purpose does not open for another.
    let sealed = store
        .sealer()
        .seal(&admin_key, "example:purpose")
        .expect("seal");
    assert!(!sealed.contains(admin_key.expose()));
    assert!(store.sealer().open(&sealed, "another:purpose").is_err());
    println!("sealed form: {}…", &sealed[..sealed.len().min(24)]);

    // Every secret the store sealed or opened is known to its redactor, so a host's
    // answer quoting the key is masked before anything stores or prints it.
    let quoted = format!("invalid admin key {}", admin_key.expose());
    let safe = store.redactor().redact(&quoted);
    assert!(!safe.contains(admin_key.expose()));
    println!("redacted: {safe}");
}
