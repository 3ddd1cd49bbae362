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
use std::path::Path;

/// Where a pack comes from.
#[derive(Debug, Clone)]
pub enum PackSource {
    /// A directory or `.zip` file on the server's file system.
    Path(String),
    /// An uploaded `.zip`.
    ZipBytes(Vec<u8>),
}

/// A pack with its providers, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PackView {
    /// The stored pack.
    #[serde(flatten)]
    pub pack: PackRecord,
    /// Its providers.
    pub providers: Vec<ProviderSummary>,
    /// Providers of an earlier version that this install dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<ProviderId>,
}

/// One provider of a pack, with its per-host installs.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderSummary {
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Display name.
    pub display_name: String,
    /// Upstream base URL.
    pub base_url: String,
    /// Pack-level status.
    pub status: ProviderStatus,
    /// Smoke-test model.
    pub smoke_test_model: String,
    /// Default models.
    pub default_models: Vec<String>,
    /// Per-host state (filtered by host when asked).
    pub installs: Vec<ProviderInstallRecord>,
}

fn pack_error(e: PackError) -> AppError {
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
            AppError::invalid("path", format!("cannot read {}: {source}", path.display()))
        }
    }
}

impl App {
    /// Validates and installs (or upgrades) a pack atomically with its providers.
    pub fn install_pack(&self, source: PackSource) -> AppResult<PackView> {
        let (pack, kind, label) = match source {
            PackSource::Path(p) => {
                let path = Path::new(&p);
                if p.trim().is_empty() {
                    return Err(AppError::invalid(
                        "path",
                        "is empty: pass a pack directory or .zip",
                    ));
                }
                if !path.exists() {
                    return Err(AppError::invalid(
                        "path",
                        format!("`{p}` does not exist on the server"),
                    ));
                }
                if path.is_dir() {
                    (
                        relay_pack::load_dir(path).map_err(pack_error)?,
                        PackSourceKind::Dir,
                        p,
                    )
                } else {
                    (
                        relay_pack::load_zip(path).map_err(pack_error)?,
                        PackSourceKind::Zip,
                        p,
                    )
                }
            }
            PackSource::ZipBytes(bytes) => (
                relay_pack::load_zip_bytes(&bytes).map_err(pack_error)?,
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
        let providers = installed
            .providers
            .iter()
            .map(|p| self.summary(p, None))
            .collect::<AppResult<Vec<_>>>()?;
        Ok(PackView {
            pack: installed.pack,
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

    fn pack_view(&self, pack: PackRecord) -> AppResult<PackView> {
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
