//! Pack installation and provider queries (SPEC §4.2, §4.8).

use crate::app::App;
use crate::error::{AppError, AppResult};
use relay_domain::{PackId, ProviderEvent, ProviderId, ProviderStatus};
use relay_pack::{Pack, PackError, ProviderManifest};
use relay_store::{
    InstallRepository, NewPack, NewProvider, PackRecord, PackRepository, PackSourceKind,
    ProviderInstallRecord, ProviderRecord, ProviderRepository,
};
use serde::Serialize;
use serde_json::json;
use std::path::{Component, Path, PathBuf};

/// Where a pack comes from.
#[derive(Debug, Clone)]
pub enum PackSource {
    /// A directory or `.zip` file in the server's packs directory
    /// ([`crate::AppConfig::packs_root`]): relative to it, or absolute inside it.
    Path(String),
    /// An uploaded `.zip`.
    ZipBytes(Vec<u8>),
}

/// A pack with its providers, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PackView {
    /// The stored pack record (flattened into the view).
    #[serde(flatten)]
    pub pack: PackRecord,
    /// The pack's providers, each with its per-host installs.
    pub providers: Vec<ProviderSummary>,
    /// Providers of an earlier version that this install dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<ProviderId>,
}

/// One provider of a pack, with its per-host installs.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderSummary {
    /// Pack that declares the provider.
    pub pack_id: PackId,
    /// Provider id, unique within its pack.
    pub provider_id: ProviderId,
    /// Human-readable name from the manifest.
    pub display_name: String,
    /// Upstream base URL.
    pub base_url: String,
    /// Status of the provider record itself (each host's install has its own).
    pub status: ProviderStatus,
    /// The model the account test and the gateway probe ask for.
    pub smoke_test_model: String,
    /// Models the provider's group and channel serve by default.
    pub default_models: Vec<String>,
    /// Per-host state (filtered by host when asked).
    pub installs: Vec<ProviderInstallRecord>,
}

fn pack_error(e: PackError, root: Option<&Path>) -> AppError {
    match e {
        PackError::Invalid(problems) => AppError::InvalidPack {
            problems: problems.iter().map(ToString::to_string).collect(),
        },
        PackError::UnsafeZip(u) => AppError::InvalidPack {
            problems: vec![format!("unsafe zip: {u}")],
        },
        PackError::Archive(m) => AppError::InvalidPack {
            problems: vec![format!("unreadable zip archive: {m}")],
        },
        PackError::Io { path, source } => {
            // Name the file inside the packs directory, never an absolute path.
            let shown = root
                .and_then(|r| path.strip_prefix(r).ok())
                .map(|p| p.display().to_string())
                .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default();
            AppError::invalid("path", format!("cannot read `{shown}`: {}", source.kind()))
        }
    }
}

/// The one answer for a path the packs directory does not contain: it does not say
/// whether anything exists there.
fn outside_root() -> AppError {
    AppError::invalid(
        "path",
        "must name a pack directory or .zip inside the server's packs directory \
         (RELAY_PACKS_DIR), relative to it or absolute; to install a pack from anywhere \
         else, upload it (`relay pack install DIR` zips and uploads a directory)",
    )
}

/// What a server path names inside the packs directory.
#[derive(Debug)]
struct RootedPath {
    /// The absolute path (inside the canonical root, no symbolic link on the way).
    path: PathBuf,
    /// The path relative to the root, as stored and shown.
    relative: String,
    /// A directory (else a regular file, read as a zip).
    is_dir: bool,
}

/// Resolves `requested` inside `root` without following a symbolic link and without
/// opening anything: every component must be a real directory (or, last, a
/// directory or a regular file); `..`, links, FIFOs, sockets and devices are refused.
fn resolve_in_root(root: &Path, requested: &str) -> AppResult<RootedPath> {
    let canonical_root = std::fs::canonicalize(root).map_err(|_| {
        AppError::invalid(
            "path",
            "the server's packs directory (RELAY_PACKS_DIR) does not exist: create it, or \
             upload the pack (`relay pack install DIR` zips and uploads a directory)",
        )
    })?;
    let asked = Path::new(requested);
    let relative = if asked.is_absolute() {
        asked
            .strip_prefix(root)
            .or_else(|_| asked.strip_prefix(&canonical_root))
            .map_err(|_| outside_root())?
            .to_path_buf()
    } else {
        asked.to_path_buf()
    };
    let mut parts = Vec::new();
    for c in relative.components() {
        match c {
            Component::Normal(part) => parts.push(part.to_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(outside_root())
            }
        }
    }
    let shown = parts
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let shown = if shown.is_empty() {
        ".".to_string()
    } else {
        shown
    };
    let mut path = canonical_root.clone();
    let mut is_dir = true;
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let meta = std::fs::symlink_metadata(&path).map_err(|_| {
            AppError::invalid(
                "path",
                format!("`{shown}` does not exist in the server's packs directory"),
            )
        })?;
        let last = i + 1 == parts.len();
        let kind = meta.file_type();
        if kind.is_symlink() {
            return Err(AppError::invalid(
                "path",
                format!(
                    "`{shown}`: symbolic links are not followed in the packs directory; \
                     copy the pack there, or upload it"
                ),
            ));
        }
        if kind.is_dir() {
            continue;
        }
        if last && kind.is_file() {
            is_dir = false;
            continue;
        }
        return Err(AppError::invalid(
            "path",
            format!("`{shown}` is not a pack directory or a regular .zip file"),
        ));
    }
    // Belt and braces: the resolved path is still inside the root.
    match std::fs::canonicalize(&path) {
        Ok(c) if c.starts_with(&canonical_root) => {}
        _ => return Err(outside_root()),
    }
    Ok(RootedPath {
        path,
        relative: shown,
        is_dir,
    })
}

/// A pack's stored `source_path` as the API shows it: relative to the packs
/// directory; an absolute path recorded by an earlier release outside it shows only
/// its last component.
fn shown_source_path(stored: &str, root: Option<&Path>) -> String {
    let path = Path::new(stored);
    if !path.is_absolute() {
        return stored.to_string();
    }
    if let Some(root) = root {
        let canonical = std::fs::canonicalize(root).ok();
        let inside = path
            .strip_prefix(root)
            .ok()
            .or_else(|| canonical.as_deref().and_then(|c| path.strip_prefix(c).ok()));
        if let Some(rel) = inside {
            let rel = rel.display().to_string();
            return if rel.is_empty() { ".".into() } else { rel };
        }
    }
    match path.file_name() {
        Some(name) => format!("…/{}", name.to_string_lossy()),
        None => "…".into(),
    }
}

impl App {
    /// Validates and installs (or upgrades) a pack atomically with its providers.
    pub fn install_pack(&self, source: PackSource) -> AppResult<PackView> {
        let (pack, kind, label) = match source {
            PackSource::Path(p) => {
                if p.trim().is_empty() {
                    return Err(AppError::invalid(
                        "path",
                        "is empty: pass a pack directory or .zip in the server's packs directory",
                    ));
                }
                let Some(root) = self.config().packs_root.as_deref() else {
                    return Err(AppError::invalid(
                        "path",
                        "installing from a server path is off (no packs directory is \
                         configured); upload the pack instead",
                    ));
                };
                let found = resolve_in_root(root, p.trim())?;
                let canonical = std::fs::canonicalize(root).ok();
                let err = |e| pack_error(e, canonical.as_deref());
                if found.is_dir {
                    (
                        relay_pack::load_dir(&found.path).map_err(err)?,
                        PackSourceKind::Dir,
                        found.relative,
                    )
                } else {
                    (
                        relay_pack::load_zip(&found.path).map_err(err)?,
                        PackSourceKind::Zip,
                        found.relative,
                    )
                }
            }
            PackSource::ZipBytes(bytes) => (
                relay_pack::load_zip_bytes(&bytes).map_err(|e| pack_error(e, None))?,
                PackSourceKind::Zip,
                "upload".to_string(),
            ),
        };
        let installed = self
            .store()
            .packs()
            .install(&new_pack(&pack, kind, label)?)
            .map_err(|e| match e {
                relay_store::StoreError::InUse {
                    kind,
                    id,
                    references,
                } => AppError::Conflict {
                    code: "pack_in_use",
                    message: format!(
                        "this version drops {kind} `{id}`, which is still in use ({references}): roll it back first"
                    ),
                },
                other => other.into(),
            })?;
        tracing::info!(pack_id = %installed.pack.pack_id, version = %installed.pack.version, "pack installed");
        self.refresh_host_statuses()?;
        let mut pack = installed.pack;
        pack.source_path =
            shown_source_path(&pack.source_path, self.config().packs_root.as_deref());
        let providers = installed
            .providers
            .iter()
            .map(|p| self.summary(p, None))
            .collect::<AppResult<Vec<_>>>()?;
        Ok(PackView {
            pack,
            providers,
            removed: installed.removed,
        })
    }

    fn summary(
        &self,
        p: &ProviderRecord,
        host: Option<&relay_domain::HostId>,
    ) -> AppResult<ProviderSummary> {
        let manifest = manifest_of(p)?;
        let installs =
            self.store()
                .installs()
                .list(host, Some(&p.pack_id), Some(&p.provider_id))?;
        Ok(ProviderSummary {
            pack_id: p.pack_id.clone(),
            provider_id: p.provider_id.clone(),
            display_name: p.display_name.clone(),
            base_url: p.base_url.clone(),
            status: p.status,
            smoke_test_model: manifest.smoke_test_model,
            default_models: manifest.default_models,
            installs,
        })
    }

    /// Every installed pack with its providers.
    pub fn list_packs(&self) -> AppResult<Vec<PackView>> {
        let packs = self.store().packs().list()?;
        packs.into_iter().map(|p| self.pack_view(p)).collect()
    }

    fn pack_view(&self, mut pack: PackRecord) -> AppResult<PackView> {
        pack.source_path =
            shown_source_path(&pack.source_path, self.config().packs_root.as_deref());
        let providers = self
            .store()
            .providers()
            .list_by_pack(&pack.pack_id)?
            .iter()
            .map(|p| self.summary(p, None))
            .collect::<AppResult<Vec<_>>>()?;
        Ok(PackView {
            pack,
            providers,
            removed: Vec::new(),
        })
    }

    /// One pack with its providers.
    pub fn get_pack(&self, pack_id: &str) -> AppResult<PackView> {
        let pack = self.store().packs().get(&PackId(pack_id.to_string()))?;
        self.pack_view(pack)
    }

    /// Providers of every pack (or of one pack), with installs (of one host, when given).
    pub fn list_providers(
        &self,
        pack_id: Option<&str>,
        host_id: Option<&str>,
    ) -> AppResult<Vec<ProviderSummary>> {
        let host = match host_id {
            Some(h) => Some(self.resolve_host(h)?.id),
            None => None,
        };
        let records = match pack_id {
            Some(p) => {
                let pack = PackId(p.to_string());
                self.store().packs().get(&pack)?;
                self.store().providers().list_by_pack(&pack)?
            }
            None => self.store().providers().list()?,
        };
        records
            .iter()
            .map(|p| self.summary(p, host.as_ref()))
            .collect()
    }

    /// Resolves a provider id to exactly one pack: `pack_id` when given, else the
    /// only pack that has it; several candidates answer `ambiguous_provider`.
    pub fn resolve_provider(
        &self,
        provider_id: &str,
        pack_id: Option<&str>,
    ) -> AppResult<(ProviderRecord, ProviderManifest)> {
        let pid = ProviderId(provider_id.to_string());
        let record = match pack_id {
            Some(p) => {
                let pack = PackId(p.to_string());
                self.store().packs().get(&pack)?;
                self.store().providers().get(&pack, &pid)?
            }
            None => {
                let mut found = self.store().providers().find_by_provider_id(&pid)?;
                match found.len() {
                    0 => {
                        return Err(AppError::NotFound {
                            kind: "provider",
                            id: provider_id.to_string(),
                        })
                    }
                    1 => found.remove(0),
                    _ => {
                        return Err(AppError::Ambiguous {
                            provider_id: provider_id.to_string(),
                            candidates: found.iter().map(|r| r.pack_id.0.clone()).collect(),
                        })
                    }
                }
            }
        };
        let manifest = manifest_of(&record)?;
        Ok((record, manifest))
    }
}

/// The provider manifest stored with a provider record.
pub fn manifest_of(record: &ProviderRecord) -> AppResult<ProviderManifest> {
    serde_json::from_value(record.manifest.clone()).map_err(|e| {
        AppError::Internal(format!(
            "stored manifest of {}/{} is unreadable: {e}",
            record.pack_id, record.provider_id
        ))
    })
}

fn new_pack(pack: &Pack, kind: PackSourceKind, label: String) -> AppResult<NewPack> {
    let mut providers = Vec::with_capacity(pack.providers.len());
    for p in &pack.providers {
        // A loaded pack passed validation: discovered → validated → installed.
        let status = ProviderStatus::Discovered
            .transition(ProviderEvent::Validate)
            .and_then(|s| s.transition(ProviderEvent::Install))
            .map_err(|e| AppError::Internal(e.to_string()))?;
        providers.push(NewProvider {
            provider_id: ProviderId(p.provider_id.clone()),
            display_name: p.display_name.clone(),
            base_url: p.base_url.clone(),
            manifest: serde_json::to_value(p)
                .map_err(|e| AppError::Internal(format!("cannot encode manifest: {e}")))?,
            status,
        });
    }
    let overlays: Vec<_> = pack
        .providers
        .iter()
        .flat_map(|p| {
            p.host_overlays
                .iter()
                .map(move |o| json!({"provider_id": p.provider_id, "overlay": o}))
        })
        .collect();
    Ok(NewPack {
        pack_id: PackId(pack.manifest.pack_id.clone()),
        version: pack.manifest.version.to_string(),
        name: pack.manifest.name.clone(),
        description: pack.manifest.description.clone(),
        host_compat: pack.manifest.host_compat.to_string(),
        source_digest: pack.source_digest.clone(),
        source_kind: kind,
        source_path: label,
        overlays: serde_json::Value::Array(overlays),
        providers,
    })
}

impl App {
    /// The files of an installed pack, read again from where it was installed (a
    /// directory or zip in the packs directory) and checked to be the very content
    /// installed (same `checksums.txt` digest). An uploaded pack's files are not
    /// kept: `pack_source_unavailable`.
    pub(crate) fn load_installed_pack(&self, pack_id: &PackId) -> AppResult<Pack> {
        let record = self.store().packs().get(pack_id)?;
        let unavailable = |why: String| AppError::Conflict {
            code: "pack_source_unavailable",
            message: format!(
                "the files of pack `{pack_id}` cannot be read again ({why}): install it from \
                 the server's packs directory (RELAY_PACKS_DIR) to propose changes to it"
            ),
        };
        if record.source_path == "upload" {
            return Err(unavailable(
                "it was uploaded, and uploads are not kept".into(),
            ));
        }
        let Some(root) = self.config().packs_root.as_deref() else {
            return Err(unavailable("no packs directory is configured".into()));
        };
        let found =
            resolve_in_root(root, &record.source_path).map_err(|e| unavailable(e.to_string()))?;
        let pack = if found.is_dir {
            relay_pack::load_dir(&found.path)
        } else {
            relay_pack::load_zip(&found.path)
        }
        .map_err(|e| unavailable(pack_error(e, Some(root)).to_string()))?;
        if pack.source_digest != record.source_digest {
            return Err(AppError::Conflict {
                code: "pack_source_changed",
                message: format!(
                    "the files of pack `{pack_id}` at {} changed since it was installed: \
                     install them again (or restore them) first",
                    record.source_path
                ),
            });
        }
        Ok(pack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "relay-app-packs-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn message(e: AppError) -> String {
        e.to_string()
    }

    #[test]
    fn paths_resolve_inside_the_root_only() {
        let base = temp("root");
        let root = base.join("packs");
        std::fs::create_dir_all(root.join("good/providers")).unwrap();
        std::fs::write(root.join("pack.zip"), b"zip").unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();

        let found = resolve_in_root(&root, "good").unwrap();
        assert!(found.is_dir);
        assert_eq!(found.relative, "good");
        let abs = root.join("good");
        let found = resolve_in_root(&root, abs.to_str().unwrap()).unwrap();
        assert_eq!(found.relative, "good");
        let found = resolve_in_root(&root, "./pack.zip").unwrap();
        assert!(!found.is_dir);
        assert_eq!(found.relative, "pack.zip");

        // Outside the root, existing or not, gives one answer naming no path.
        let outside = base.join("outside");
        let missing_outside = base.join("no-such-thing");
        let a = message(resolve_in_root(&root, outside.to_str().unwrap()).unwrap_err());
        let b = message(resolve_in_root(&root, missing_outside.to_str().unwrap()).unwrap_err());
        let c = message(resolve_in_root(&root, "../outside").unwrap_err());
        let d = message(resolve_in_root(&root, "/etc").unwrap_err());
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, d);
        assert!(
            !a.contains(base.to_str().unwrap()) && !a.contains("/etc"),
            "{a}"
        );
        assert!(a.contains("upload"), "{a}");

        // Inside: missing is named relative to the root.
        let e = message(resolve_in_root(&root, "nope").unwrap_err());
        assert!(e.contains("`nope` does not exist"), "{e}");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[cfg(unix)]
    #[test]
    fn links_fifos_and_a_missing_root_are_refused_without_opening() {
        let base = temp("links");
        let root = base.join("packs");
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        std::os::unix::fs::symlink(root.join("."), root.join("self")).unwrap();
        let fifo = root.join("pipe.zip");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let e = message(resolve_in_root(&root, "etc").unwrap_err());
        assert!(e.contains("symbolic links are not followed"), "{e}");
        let e = message(resolve_in_root(&root, "etc/passwd").unwrap_err());
        assert!(e.contains("symbolic links are not followed"), "{e}");
        let e = message(resolve_in_root(&root, "self").unwrap_err());
        assert!(e.contains("symbolic links"), "{e}");
        // The FIFO is refused from its metadata (a blocking open would hang here).
        let e = message(resolve_in_root(&root, "pipe.zip").unwrap_err());
        assert!(
            e.contains("not a pack directory or a regular .zip file"),
            "{e}"
        );
        let e = message(resolve_in_root(&base.join("absent"), "x").unwrap_err());
        assert!(
            e.contains("does not exist") && !e.contains(base.to_str().unwrap()),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn source_paths_are_shown_relative_to_the_root() {
        let root = Path::new("/opt/relay/packs");
        assert_eq!(
            shown_source_path("openai-cn-pack", Some(root)),
            "openai-cn-pack"
        );
        assert_eq!(shown_source_path("upload", Some(root)), "upload");
        assert_eq!(
            shown_source_path("/opt/relay/packs/openai-cn-pack", Some(root)),
            "openai-cn-pack"
        );
        assert_eq!(
            shown_source_path("/home/alice/src/packs/openai-cn-pack", Some(root)),
            "…/openai-cn-pack"
        );
        assert_eq!(shown_source_path("/srv/x/pack.zip", None), "…/pack.zip");
    }
}
