//! Installed packs and their provider manifests.

use crate::db::{params, Conn, DbResult, OptionalExtension, Row};
use relay_domain::{PackId, ProviderId, ProviderStatus};

use crate::error::{Result, StoreError};
use crate::records::{InstalledPack, NewPack, PackRecord, ProviderRecord, Timestamp};
use crate::sql::{json, parsed, ts};
use crate::Store;

/// Installed packs. A pack and its providers are written in one transaction.
pub trait PackRepository {
    /// Installs a pack, or re-installs a newer copy of it: the pack row and every
    /// provider are upserted, and providers the new copy no longer has are removed
    /// (refused with [`StoreError::InUse`] while a host uses them). All or nothing.
    fn install(&self, pack: &NewPack) -> Result<InstalledPack>;
    /// The pack, or [`StoreError::NotFound`].
    fn get(&self, pack_id: &PackId) -> Result<PackRecord>;
    /// The pack, if installed.
    fn find(&self, pack_id: &PackId) -> Result<Option<PackRecord>>;
    /// Every pack, by id.
    fn list(&self) -> Result<Vec<PackRecord>>;
    /// Removes a pack and its providers. Refused with [`StoreError::InUse`] while a
    /// host install, batch, managed resource or reconcile run references one of them.
    fn delete(&self, pack_id: &PackId) -> Result<()>;
}

/// Provider manifests of installed packs.
pub trait ProviderRepository {
    /// Providers of one pack, by id.
    fn list_by_pack(&self, pack_id: &PackId) -> Result<Vec<ProviderRecord>>;
    /// Every provider of every pack.
    fn list(&self) -> Result<Vec<ProviderRecord>>;
    /// One provider, or [`StoreError::NotFound`].
    fn get(&self, pack_id: &PackId, provider_id: &ProviderId) -> Result<ProviderRecord>;
    /// Every installed provider with this id, one per pack, by pack id. Used to
    /// resolve a provider-scoped call without a pack id, or to name the candidates
    /// when it is ambiguous.
    fn find_by_provider_id(&self, provider_id: &ProviderId) -> Result<Vec<ProviderRecord>>;
    /// Providers whose manifest `base_url` equals `base_url`.
    fn find_by_base_url(&self, base_url: &str) -> Result<Vec<ProviderRecord>>;
    /// Sets the pack-level status of a provider.
    fn set_status(
        &self,
        pack_id: &PackId,
        provider_id: &ProviderId,
        status: ProviderStatus,
    ) -> Result<ProviderRecord>;
}

/// SQLite implementation of [`PackRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqlitePacks<'s> {
    store: &'s Store,
}

impl<'s> SqlitePacks<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqlitePacks { store }
    }
}

/// SQLite implementation of [`ProviderRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteProviders<'s> {
    store: &'s Store,
}

impl<'s> SqliteProviders<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteProviders { store }
    }
}

const PACK_COLUMNS: &str = "pack_id, version, name, description, host_compat, source_digest, \
                            source_kind, source_path, overlays, installed_at, updated_at";

const PROVIDER_COLUMNS: &str =
    "pack_id, provider_id, display_name, base_url, manifest, status, created_at, updated_at";

fn pack_row(row: &Row<'_>) -> DbResult<PackRecord> {
    Ok(PackRecord {
        pack_id: PackId(row.get(0)?),
        version: row.get(1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        host_compat: row.get(4)?,
        source_digest: row.get(5)?,
        source_kind: parsed(row, 6)?,
        source_path: row.get(7)?,
        overlays: json(row, 8)?,
        installed_at: ts(row, 9)?,
        updated_at: ts(row, 10)?,
    })
}

fn provider_row(row: &Row<'_>) -> DbResult<ProviderRecord> {
    Ok(ProviderRecord {
        pack_id: PackId(row.get(0)?),
        provider_id: ProviderId(row.get(1)?),
        display_name: row.get(2)?,
        base_url: row.get(3)?,
        manifest: json(row, 4)?,
        status: parsed(row, 5)?,
        created_at: ts(row, 6)?,
        updated_at: ts(row, 7)?,
    })
}

fn find_pack(conn: &Conn<'_>, pack_id: &PackId) -> Result<Option<PackRecord>> {
    Ok(conn
        .query_row(
            &format!("SELECT {PACK_COLUMNS} FROM packs WHERE pack_id = ?1"),
            [&pack_id.0],
            pack_row,
        )
        .optional()?)
}

fn providers_of(conn: &Conn<'_>, pack_id: &PackId) -> Result<Vec<ProviderRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {PROVIDER_COLUMNS} FROM providers WHERE pack_id = ?1 ORDER BY provider_id"
    ))?;
    let rows = stmt.query_map([&pack_id.0], provider_row)?;
    Ok(rows.collect::<DbResult<Vec<_>>>()?)
}

fn get_provider(
    conn: &Conn<'_>,
    pack_id: &PackId,
    provider_id: &ProviderId,
) -> Result<ProviderRecord> {
    conn.query_row(
        &format!(
            "SELECT {PROVIDER_COLUMNS} FROM providers WHERE pack_id = ?1 AND provider_id = ?2"
        ),
        [&pack_id.0, &provider_id.0],
        provider_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found("provider", format!("{pack_id}/{provider_id}")))
}

/// Counts what references a provider of a pack (`provider_id = None`: any provider).
fn provider_references(
    conn: &Conn<'_>,
    pack_id: &PackId,
    provider_id: Option<&ProviderId>,
) -> Result<Vec<String>> {
    let mut refs = Vec::new();
    for (table, label) in [
        ("provider_installs", "host installs"),
        ("import_batches", "import batches"),
        ("managed_resources", "managed resources"),
        ("reconcile_runs", "reconcile runs"),
    ] {
        let n: i64 = conn.query_row(
            &format!(
                "SELECT COUNT(*) FROM {table}
                 WHERE pack_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR provider_id = ?2)"
            ),
            params![pack_id.0, provider_id.map(|p| p.0.as_str())],
            |r| r.get(0),
        )?;
        if n > 0 {
            refs.push(format!("{n} {label}"));
        }
    }
    Ok(refs)
}

fn to_json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

impl PackRepository for SqlitePacks<'_> {
    fn install(&self, pack: &NewPack) -> Result<InstalledPack> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            tx.execute(
                "INSERT INTO packs (pack_id, version, name, description, host_compat, source_digest,
                                    source_kind, source_path, overlays, installed_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
                 ON CONFLICT (pack_id) DO UPDATE SET
                     version = excluded.version, name = excluded.name,
                     description = excluded.description, host_compat = excluded.host_compat,
                     source_digest = excluded.source_digest, source_kind = excluded.source_kind,
                     source_path = excluded.source_path, overlays = excluded.overlays,
                     updated_at = excluded.updated_at",
                params![
                    pack.pack_id.0,
                    pack.version,
                    pack.name,
                    pack.description,
                    pack.host_compat,
                    pack.source_digest,
                    pack.source_kind.as_str(),
                    pack.source_path,
                    to_json_text(&pack.overlays),
                    now
                ],
            )?;
            let mut kept = std::collections::BTreeSet::new();
            for p in &pack.providers {
                if !kept.insert(p.provider_id.0.as_str()) {
                    return Err(StoreError::Conflict {
                        what: format!(
                            "provider `{}` appears twice in pack `{}`",
                            p.provider_id, pack.pack_id
                        ),
                    });
                }
                tx.execute(
                    "INSERT INTO providers (pack_id, provider_id, display_name, base_url, manifest,
                                            status, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                     ON CONFLICT (pack_id, provider_id) DO UPDATE SET
                         display_name = excluded.display_name, base_url = excluded.base_url,
                         manifest = excluded.manifest, status = excluded.status,
                         updated_at = excluded.updated_at",
                    params![
                        pack.pack_id.0,
                        p.provider_id.0,
                        p.display_name,
                        p.base_url,
                        to_json_text(&p.manifest),
                        p.status.as_str(),
                        now
                    ],
                )?;
            }
            let mut removed = Vec::new();
            for existing in providers_of(tx, &pack.pack_id)? {
                if kept.contains(existing.provider_id.0.as_str()) {
                    continue;
                }
                let refs = provider_references(tx, &pack.pack_id, Some(&existing.provider_id))?;
                if !refs.is_empty() {
                    return Err(StoreError::InUse {
                        kind: "provider",
                        id: format!("{}/{}", pack.pack_id, existing.provider_id),
                        references: format!(
                            "{} (the new pack version no longer contains it)",
                            refs.join(", ")
                        ),
                    });
                }
                tx.execute(
                    "DELETE FROM providers WHERE pack_id = ?1 AND provider_id = ?2",
                    [&pack.pack_id.0, &existing.provider_id.0],
                )?;
                removed.push(existing.provider_id);
            }
            let record = find_pack(tx, &pack.pack_id)?
                .ok_or_else(|| StoreError::not_found("pack", &pack.pack_id))?;
            Ok(InstalledPack {
                pack: record,
                providers: providers_of(tx, &pack.pack_id)?,
                removed,
            })
        })
    }

    fn get(&self, pack_id: &PackId) -> Result<PackRecord> {
        self.find(pack_id)?
            .ok_or_else(|| StoreError::not_found("pack", pack_id))
    }

    fn find(&self, pack_id: &PackId) -> Result<Option<PackRecord>> {
        self.store.read(|conn| find_pack(conn, pack_id))
    }

    fn list(&self) -> Result<Vec<PackRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {PACK_COLUMNS} FROM packs ORDER BY pack_id"
            ))?;
            let rows = stmt.query_map([], pack_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn delete(&self, pack_id: &PackId) -> Result<()> {
        self.store.write(|tx| {
            if find_pack(tx, pack_id)?.is_none() {
                return Err(StoreError::not_found("pack", pack_id));
            }
            let refs = provider_references(tx, pack_id, None)?;
            if !refs.is_empty() {
                return Err(StoreError::InUse {
                    kind: "pack",
                    id: pack_id.to_string(),
                    references: refs.join(", "),
                });
            }
            tx.execute("DELETE FROM packs WHERE pack_id = ?1", [&pack_id.0])?;
            Ok(())
        })
    }
}

impl ProviderRepository for SqliteProviders<'_> {
    fn list_by_pack(&self, pack_id: &PackId) -> Result<Vec<ProviderRecord>> {
        self.store.read(|conn| providers_of(conn, pack_id))
    }

    fn list(&self) -> Result<Vec<ProviderRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY pack_id, provider_id"
            ))?;
            let rows = stmt.query_map([], provider_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn get(&self, pack_id: &PackId, provider_id: &ProviderId) -> Result<ProviderRecord> {
        self.store
            .read(|conn| get_provider(conn, pack_id, provider_id))
    }

    fn find_by_provider_id(&self, provider_id: &ProviderId) -> Result<Vec<ProviderRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {PROVIDER_COLUMNS} FROM providers WHERE provider_id = ?1 ORDER BY pack_id"
            ))?;
            let rows = stmt.query_map([&provider_id.0], provider_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn find_by_base_url(&self, base_url: &str) -> Result<Vec<ProviderRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {PROVIDER_COLUMNS} FROM providers WHERE base_url = ?1
                 ORDER BY pack_id, provider_id"
            ))?;
            let rows = stmt.query_map([base_url], provider_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn set_status(
        &self,
        pack_id: &PackId,
        provider_id: &ProviderId,
        status: ProviderStatus,
    ) -> Result<ProviderRecord> {
        self.store.write(|tx| {
            let n = tx.execute(
                "UPDATE providers SET status = ?3, updated_at = ?4
                 WHERE pack_id = ?1 AND provider_id = ?2",
                params![
                    pack_id.0,
                    provider_id.0,
                    status.as_str(),
                    Timestamp::now().0
                ],
            )?;
            if n == 0 {
                return Err(StoreError::not_found(
                    "provider",
                    format!("{pack_id}/{provider_id}"),
                ));
            }
            get_provider(tx, pack_id, provider_id)
        })
    }
}
