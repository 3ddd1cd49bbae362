//! Shared fixtures of the relay-store integration tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use relay_domain::{HostId, HostStatus, PackId, ProviderId, ProviderStatus, Secret};
use relay_store::{
    HostAuthKind, HostRepository, NewHost, NewPack, NewProvider, PackRepository, PackSourceKind,
    Store,
};
use serde_json::json;

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "relay-store-{tag}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A data directory must be private (0700): the store refuses a looser one.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fixed base64 master key (32 bytes of 0x07).
pub const KEY_A: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
/// Another fixed master key (32 bytes of 0x09).
pub const KEY_B: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";

pub fn new_host(id: &str, name: &str) -> NewHost {
    NewHost {
        id: HostId::new(id),
        name: name.to_string(),
        base_url: format!("https://{name}.example.test"),
        auth_kind: HostAuthKind::ApiKey,
        admin_email: None,
        admin_secret: Secret::new(format!("admin-secret-of-{id}")),
        version: Some("0.1.120".into()),
        status: HostStatus::Supported,
    }
}

pub fn new_provider(id: &str) -> NewProvider {
    NewProvider {
        provider_id: ProviderId(id.to_string()),
        display_name: format!("Provider {id}"),
        base_url: format!("https://api.{id}.example.test/v1"),
        manifest: json!({
            "provider_id": id,
            "default_models": [format!("{id}-chat")],
            "smoke_test_model": format!("{id}-chat"),
        }),
        status: ProviderStatus::Installed,
    }
}

pub fn new_pack(pack_id: &str, providers: &[&str]) -> NewPack {
    NewPack {
        pack_id: PackId(pack_id.to_string()),
        version: "1.0.0".into(),
        name: format!("Pack {pack_id}"),
        description: "test pack".into(),
        host_compat: ">=0.1.100, <0.3.0".into(),
        source_digest: "ab".repeat(32),
        source_kind: PackSourceKind::Dir,
        source_path: format!("/packs/{pack_id}"),
        overlays: json!([]),
        providers: providers.iter().map(|p| new_provider(p)).collect(),
    }
}

/// A store with host `host_1` and pack `cn` holding providers `deepseek` and `kimi`.
pub fn seeded(store: &Store) {
    store.hosts().create(&new_host("host_1", "main")).unwrap();
    store
        .packs()
        .install(&new_pack("cn", &["deepseek", "kimi"]))
        .unwrap();
}

pub fn host1() -> HostId {
    HostId::new("host_1")
}

pub fn pack_cn() -> PackId {
    PackId("cn".into())
}

pub fn deepseek() -> ProviderId {
    ProviderId("deepseek".into())
}

/// The PostgreSQL database the suite runs against (`RELAY_TEST_DATABASE_URL`,
/// set by `.ci/run` and `cargo xtask ci`); `None` runs it on SQLite.
pub fn test_database_url() -> Option<String> {
    std::env::var("RELAY_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh, empty store on the backend under test: SQLite in memory, or a new
/// schema of the test PostgreSQL database.
pub fn memory_store() -> Store {
    match test_database_url() {
        Some(url) => Store::open_postgres_scratch(&url).unwrap(),
        None => Store::open_in_memory().unwrap(),
    }
}

/// On PostgreSQL, the URL of `dir`'s own schema (created when missing): the same
/// schema every time `dir` is opened. `None` on SQLite.
pub fn database_url_for(dir: &TempDir) -> Option<String> {
    let url = test_database_url()?;
    let schema = format!(
        "relay_test_{}",
        dir.path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    Some(relay_store::schemas::postgres_schema_url(&url, &schema.to_ascii_lowercase()).unwrap())
}

/// Opens the store of `dir` on the backend under test: its `relay.db`, or (on
/// PostgreSQL) its own schema ([`database_url_for`]).
pub fn open_store(dir: &TempDir, key: Option<&str>) -> relay_store::Result<Store> {
    match database_url_for(dir) {
        Some(url) => Store::open_postgres(&url, dir.path(), key),
        None => Store::open(dir.path(), key),
    }
}
