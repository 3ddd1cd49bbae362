//! Hosts and their capability snapshots.

use std::collections::BTreeMap;

use crate::db::{params, Conn, DbError, DbResult, OptionalExtension, Row};
use relay_domain::{HostId, HostStatus, Secret};

use crate::error::{Result, StoreError};
use crate::records::{
    CapabilitySnapshot, HostAuthKind, HostRecord, NewCapabilitySnapshot, NewHost, Timestamp,
};
use crate::sql::{parsed, ts, ts_opt};
use crate::Store;

/// Registered hosts. Admin secrets are sealed at rest and bound to the host id.
pub trait HostRepository {
    /// Registers a host. A second host with the same name is a [`StoreError::Conflict`].
    fn create(&self, host: &NewHost) -> Result<HostRecord>;
    /// The host with this id, or [`StoreError::NotFound`].
    fn get(&self, id: &HostId) -> Result<HostRecord>;
    /// The host with this name, if any.
    fn find_by_name(&self, name: &str) -> Result<Option<HostRecord>>;
    /// Every host, by name.
    fn list(&self) -> Result<Vec<HostRecord>>;
    /// Sets status and detected version.
    fn update_status(
        &self,
        id: &HostId,
        status: HostStatus,
        version: Option<&str>,
    ) -> Result<HostRecord>;
    /// Replaces the admin credentials: the auth kind, the admin e-mail (login
    /// only; `None` for an API key) and the sealed secret, in one write.
    fn update_credentials(
        &self,
        id: &HostId,
        auth_kind: HostAuthKind,
        admin_email: Option<&str>,
        secret: &Secret,
    ) -> Result<HostRecord>;
    /// Opens the sealed admin credential.
    fn admin_secret(&self, id: &HostId) -> Result<Secret>;
    /// Deletes a host with everything derived from it. Refused with
    /// [`StoreError::InUse`] while import batches, managed resources or reconcile
    /// runs reference it.
    fn delete(&self, id: &HostId) -> Result<()>;
    /// Records a capability snapshot and updates the host's status, version and
    /// `last_probe_at` from it.
    fn record_snapshot(
        &self,
        id: &HostId,
        snapshot: &NewCapabilitySnapshot,
    ) -> Result<CapabilitySnapshot>;
    /// The newest capability snapshot of the host.
    fn latest_snapshot(&self, id: &HostId) -> Result<Option<CapabilitySnapshot>>;
}

/// SQLite implementation of [`HostRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteHosts<'s> {
    store: &'s Store,
}

impl<'s> SqliteHosts<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteHosts { store }
    }
}

/// Associated data binding a host's admin secret to its row.
pub(crate) fn admin_aad(id: &HostId) -> String {
    format!("hosts:{id}:admin_secret")
}

const HOST_COLUMNS: &str = "id, name, base_url, auth_kind, admin_email, version, status, \
                            last_probe_at, created_at, updated_at";

fn host_row(row: &Row<'_>) -> DbResult<HostRecord> {
    Ok(HostRecord {
        id: HostId::new(row.get::<_, String>(0)?),
        name: row.get(1)?,
        base_url: row.get(2)?,
        auth_kind: parsed(row, 3)?,
        admin_email: row.get(4)?,
        version: row.get(5)?,
        status: parsed(row, 6)?,
        last_probe_at: ts_opt(row, 7)?,
        created_at: ts(row, 8)?,
        updated_at: ts(row, 9)?,
    })
}

fn get_host(conn: &Conn<'_>, id: &HostId) -> Result<HostRecord> {
    conn.query_row(
        &format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = ?1"),
        [id.as_str()],
        host_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found("host", id))
}

fn snapshot_row(row: &Row<'_>) -> DbResult<CapabilitySnapshot> {
    let caps: String = row.get(3)?;
    let capabilities: BTreeMap<String, bool> =
        serde_json::from_str(&caps).map_err(|e| DbError::conversion(3, e))?;
    Ok(CapabilitySnapshot {
        host_id: HostId::new(row.get::<_, String>(0)?),
        taken_at: ts(row, 1)?,
        version: row.get(2)?,
        capabilities,
        status: parsed(row, 4)?,
    })
}

/// Counts what still references a host; empty when nothing does.
pub(crate) fn host_references(conn: &Conn<'_>, id: &HostId) -> Result<Vec<String>> {
    let mut refs = Vec::new();
    for (table, label) in [
        ("import_batches", "import batches"),
        ("managed_resources", "managed resources"),
        ("reconcile_runs", "reconcile runs"),
    ] {
        let n: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM {table} WHERE host_id = ?1"),
            [id.as_str()],
            |r| r.get(0),
        )?;
        if n > 0 {
            refs.push(format!("{n} {label}"));
        }
    }
    Ok(refs)
}

impl HostRepository for SqliteHosts<'_> {
    fn create(&self, host: &NewHost) -> Result<HostRecord> {
        let sealed = self.store.seal(&host.admin_secret, &admin_aad(&host.id))?;
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            tx.execute(
                "INSERT INTO hosts (id, name, base_url, auth_kind, admin_email, admin_secret_sealed,
                                    version, status, last_probe_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?9)",
                params![
                    host.id.as_str(),
                    host.name,
                    host.base_url,
                    host.auth_kind.as_str(),
                    host.admin_email,
                    sealed,
                    host.version,
                    host.status.as_str(),
                    now
                ],
            )?;
            get_host(tx, &host.id)
        })
    }

    fn get(&self, id: &HostId) -> Result<HostRecord> {
        self.store.read(|conn| get_host(conn, id))
    }

    fn find_by_name(&self, name: &str) -> Result<Option<HostRecord>> {
        self.store.read(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {HOST_COLUMNS} FROM hosts WHERE name = ?1"),
                    [name],
                    host_row,
                )
                .optional()?)
        })
    }

    fn list(&self) -> Result<Vec<HostRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {HOST_COLUMNS} FROM hosts ORDER BY name, id"
            ))?;
            let rows = stmt.query_map([], host_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn update_status(
        &self,
        id: &HostId,
        status: HostStatus,
        version: Option<&str>,
    ) -> Result<HostRecord> {
        self.store.write(|tx| {
            let n = tx.execute(
                "UPDATE hosts SET status = ?2, version = ?3, updated_at = ?4 WHERE id = ?1",
                params![id.as_str(), status.as_str(), version, Timestamp::now().0],
            )?;
            if n == 0 {
                return Err(StoreError::not_found("host", id));
            }
            get_host(tx, id)
        })
    }

    fn update_credentials(
        &self,
        id: &HostId,
        auth_kind: HostAuthKind,
        admin_email: Option<&str>,
        secret: &Secret,
    ) -> Result<HostRecord> {
        if auth_kind == HostAuthKind::Login && admin_email.is_none() {
            return Err(StoreError::InvalidState {
                what: "login credentials need the admin e-mail".into(),
            });
        }
        let admin_email = match auth_kind {
            HostAuthKind::Login => admin_email,
            HostAuthKind::ApiKey => None,
        };
        let sealed = self.store.seal(secret, &admin_aad(id))?;
        self.store.write(|tx| {
            let n = tx.execute(
                "UPDATE hosts SET auth_kind = ?2, admin_email = ?3,
                                  admin_secret_sealed = ?4, updated_at = ?5
                 WHERE id = ?1",
                params![
                    id.as_str(),
                    auth_kind.as_str(),
                    admin_email,
                    sealed,
                    Timestamp::now().0
                ],
            )?;
            if n == 0 {
                return Err(StoreError::not_found("host", id));
            }
            get_host(tx, id)
        })
    }

    fn admin_secret(&self, id: &HostId) -> Result<Secret> {
        let sealed: String = self.store.read(|conn| {
            conn.query_row(
                "SELECT admin_secret_sealed FROM hosts WHERE id = ?1",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::not_found("host", id))
        })?;
        self.store.open_sealed(&sealed, &admin_aad(id))
    }

    fn delete(&self, id: &HostId) -> Result<()> {
        self.store.write(|tx| {
            get_host(tx, id)?;
            let refs = host_references(tx, id)?;
            if !refs.is_empty() {
                return Err(StoreError::InUse {
                    kind: "host",
                    id: id.to_string(),
                    references: refs.join(", "),
                });
            }
            // Sealed secrets have no foreign key (their owner is polymorphic).
            tx.execute(
                "DELETE FROM sealed_secrets
                 WHERE (owner_kind = 'host' AND owner_id = ?1)
                    OR (owner_kind = 'provider_install' AND substr(owner_id, 1, length(?1) + 1) = ?1 || '/')
                    OR (owner_kind = 'subscriber' AND owner_id IN
                        (SELECT CAST(id AS TEXT) FROM managed_subscribers WHERE host_id = ?1))",
                [id.as_str()],
            )?;
            tx.execute("DELETE FROM hosts WHERE id = ?1", [id.as_str()])?;
            Ok(())
        })
    }

    fn record_snapshot(
        &self,
        id: &HostId,
        snapshot: &NewCapabilitySnapshot,
    ) -> Result<CapabilitySnapshot> {
        let caps =
            serde_json::to_string(&snapshot.capabilities).map_err(|e| StoreError::Corrupt {
                what: format!("capabilities: {e}"),
            })?;
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            get_host(tx, id)?;
            tx.execute(
                "INSERT INTO host_capability_snapshots (host_id, taken_at, version, capabilities, status)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.as_str(), now, snapshot.version, caps, snapshot.status.as_str()],
            )?;
            tx.execute(
                "UPDATE hosts SET status = ?2, version = COALESCE(?3, version),
                                  last_probe_at = ?4, updated_at = ?4
                 WHERE id = ?1",
                params![id.as_str(), snapshot.status.as_str(), snapshot.version, now],
            )?;
            Ok(CapabilitySnapshot {
                host_id: id.clone(),
                taken_at: Timestamp(now),
                version: snapshot.version.clone(),
                capabilities: snapshot.capabilities.clone(),
                status: snapshot.status,
            })
        })
    }

    fn latest_snapshot(&self, id: &HostId) -> Result<Option<CapabilitySnapshot>> {
        self.store.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT host_id, taken_at, version, capabilities, status
                     FROM host_capability_snapshots WHERE host_id = ?1
                     ORDER BY taken_at DESC, id DESC LIMIT 1",
                    [id.as_str()],
                    snapshot_row,
                )
                .optional()?)
        })
    }
}
