//! Per-host state of a provider (`provider_installs`).

use crate::db::{params, Conn, DbResult, OptionalExtension, Row};
use relay_domain::{
    AccessStatus, BatchId, HostId, PackId, ProviderEvent, ProviderId, ProviderStatus,
};

use crate::error::{Result, StoreError};
use crate::records::{ProviderInstallRecord, Timestamp};
use crate::sql::{parsed, ts, ts_opt, Filter};
use crate::Store;

/// Per-host provider state: health status, access status, last batch, last reconcile.
pub trait InstallRepository {
    /// The install of a provider on a host, created with status `installed` when
    /// absent.
    fn ensure(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<ProviderInstallRecord>;
    /// The install, if any.
    fn find(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<Option<ProviderInstallRecord>>;
    /// Installs filtered by host, pack and provider (`None`: any).
    fn list(
        &self,
        host_id: Option<&HostId>,
        pack_id: Option<&PackId>,
        provider_id: Option<&ProviderId>,
    ) -> Result<Vec<ProviderInstallRecord>>;
    /// Every install the reconcile scheduler should visit (not `disabled`).
    fn list_reconcilable(&self) -> Result<Vec<ProviderInstallRecord>>;
    /// Applies a [`ProviderEvent`] through [`ProviderStatus::transition`]; an
    /// illegal move is [`StoreError::InvalidTransition`] and changes nothing.
    fn apply_event(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        event: ProviderEvent,
        message: Option<&str>,
    ) -> Result<ProviderInstallRecord>;
    /// Sets the access status.
    fn set_access_status(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        access_status: AccessStatus,
    ) -> Result<ProviderInstallRecord>;
    /// Records the latest batch of the provider on the host.
    fn set_last_batch(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        batch_id: &BatchId,
    ) -> Result<ProviderInstallRecord>;
    /// Records when the provider was last reconciled.
    fn mark_reconciled(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        at: Timestamp,
    ) -> Result<ProviderInstallRecord>;
}

/// SQLite implementation of [`InstallRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteInstalls<'s> {
    store: &'s Store,
}

impl<'s> SqliteInstalls<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteInstalls { store }
    }
}

const INSTALL_COLUMNS: &str = "host_id, pack_id, provider_id, status, access_status, \
     status_message, last_batch_id, last_reconcile_at, disabled, created_at, updated_at";

fn install_row(row: &Row<'_>) -> DbResult<ProviderInstallRecord> {
    Ok(ProviderInstallRecord {
        host_id: HostId::new(row.get::<_, String>(0)?),
        pack_id: PackId(row.get(1)?),
        provider_id: ProviderId(row.get(2)?),
        status: parsed(row, 3)?,
        access_status: parsed(row, 4)?,
        status_message: row.get(5)?,
        last_batch_id: row.get::<_, Option<String>>(6)?.map(BatchId::new),
        last_reconcile_at: ts_opt(row, 7)?,
        disabled: row.get(8)?,
        created_at: ts(row, 9)?,
        updated_at: ts(row, 10)?,
    })
}

fn find_install(
    conn: &Conn<'_>,
    host_id: &HostId,
    pack_id: &PackId,
    provider_id: &ProviderId,
) -> Result<Option<ProviderInstallRecord>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {INSTALL_COLUMNS} FROM provider_installs
                 WHERE host_id = ?1 AND pack_id = ?2 AND provider_id = ?3"
            ),
            [host_id.as_str(), &pack_id.0, &provider_id.0],
            install_row,
        )
        .optional()?)
}

fn get_install(
    conn: &Conn<'_>,
    host_id: &HostId,
    pack_id: &PackId,
    provider_id: &ProviderId,
) -> Result<ProviderInstallRecord> {
    find_install(conn, host_id, pack_id, provider_id)?.ok_or_else(|| {
        StoreError::not_found(
            "provider install",
            format!("{host_id}/{pack_id}/{provider_id}"),
        )
    })
}

/// Inserts the install of a provider on a host with status `installed`, unless it
/// exists (the write of [`InstallRepository::ensure`], inside a caller's transaction).
pub(crate) fn insert_install_if_absent(
    conn: &Conn<'_>,
    host_id: &HostId,
    pack_id: &PackId,
    provider_id: &ProviderId,
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO provider_installs (host_id, pack_id, provider_id, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (host_id, pack_id, provider_id) DO NOTHING",
        params![
            host_id.as_str(),
            pack_id.0,
            provider_id.0,
            ProviderStatus::Installed.as_str(),
            now
        ],
    )?;
    Ok(())
}

/// Records the latest batch of an existing install (the write of
/// [`InstallRepository::set_last_batch`], inside a caller's transaction).
pub(crate) fn set_last_batch_in(
    conn: &Conn<'_>,
    host_id: &HostId,
    pack_id: &PackId,
    provider_id: &ProviderId,
    batch_id: &BatchId,
    now: i64,
) -> Result<()> {
    let n = conn.execute(
        "UPDATE provider_installs SET last_batch_id = ?4, updated_at = ?5
         WHERE host_id = ?1 AND pack_id = ?2 AND provider_id = ?3",
        params![
            host_id.as_str(),
            pack_id.0,
            provider_id.0,
            batch_id.as_str(),
            now
        ],
    )?;
    if n == 0 {
        return Err(StoreError::not_found(
            "provider install",
            format!("{host_id}/{pack_id}/{provider_id}"),
        ));
    }
    Ok(())
}

impl SqliteInstalls<'_> {
    /// Runs one `UPDATE provider_installs SET <set> …` for the key and returns the row.
    fn update(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        set: &str,
        value: &dyn crate::db::ToSql,
    ) -> Result<ProviderInstallRecord> {
        self.store.write(|tx| {
            let sql = format!(
                "UPDATE provider_installs SET {set}, updated_at = ?5
                 WHERE host_id = ?1 AND pack_id = ?2 AND provider_id = ?3"
            );
            let n = tx.execute(
                &sql,
                params![
                    host_id.as_str(),
                    pack_id.0,
                    provider_id.0,
                    value,
                    Timestamp::now().0
                ],
            )?;
            if n == 0 {
                return Err(StoreError::not_found(
                    "provider install",
                    format!("{host_id}/{pack_id}/{provider_id}"),
                ));
            }
            get_install(tx, host_id, pack_id, provider_id)
        })
    }
}

impl InstallRepository for SqliteInstalls<'_> {
    fn ensure(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<ProviderInstallRecord> {
        self.store.write(|tx| {
            insert_install_if_absent(tx, host_id, pack_id, provider_id, Timestamp::now().0)?;
            get_install(tx, host_id, pack_id, provider_id)
        })
    }

    fn find(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<Option<ProviderInstallRecord>> {
        self.store
            .read(|conn| find_install(conn, host_id, pack_id, provider_id))
    }

    fn list(
        &self,
        host_id: Option<&HostId>,
        pack_id: Option<&PackId>,
        provider_id: Option<&ProviderId>,
    ) -> Result<Vec<ProviderInstallRecord>> {
        let mut filter = Filter::default();
        filter
            .eq("host_id", host_id.map(|h| h.as_str()))
            .eq("pack_id", pack_id.map(|p| p.0.as_str()))
            .eq("provider_id", provider_id.map(|p| p.0.as_str()));
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {INSTALL_COLUMNS} FROM provider_installs {}
                 ORDER BY host_id, pack_id, provider_id",
                filter.where_clause()
            ))?;
            let rows = stmt.query_map(filter.params(), install_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn list_reconcilable(&self) -> Result<Vec<ProviderInstallRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {INSTALL_COLUMNS} FROM provider_installs WHERE disabled = 0
                 ORDER BY host_id, pack_id, provider_id"
            ))?;
            let rows = stmt.query_map([], install_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn apply_event(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        event: ProviderEvent,
        message: Option<&str>,
    ) -> Result<ProviderInstallRecord> {
        let message = self.store.scrub_opt(message);
        self.store.write(|tx| {
            let current = get_install(tx, host_id, pack_id, provider_id)?;
            let next = current.status.transition(event)?;
            tx.execute(
                "UPDATE provider_installs
                 SET status = ?5, disabled = ?6, status_message = ?7, updated_at = ?8
                 WHERE host_id = ?1 AND pack_id = ?2 AND provider_id = ?3 AND status = ?4",
                params![
                    host_id.as_str(),
                    pack_id.0,
                    provider_id.0,
                    current.status.as_str(),
                    next.as_str(),
                    next == ProviderStatus::Disabled,
                    message,
                    Timestamp::now().0
                ],
            )?;
            get_install(tx, host_id, pack_id, provider_id)
        })
    }

    fn set_access_status(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        access_status: AccessStatus,
    ) -> Result<ProviderInstallRecord> {
        self.update(
            host_id,
            pack_id,
            provider_id,
            "access_status = ?4",
            &access_status.as_str(),
        )
    }

    fn set_last_batch(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        batch_id: &BatchId,
    ) -> Result<ProviderInstallRecord> {
        self.update(
            host_id,
            pack_id,
            provider_id,
            "last_batch_id = ?4",
            &batch_id.as_str(),
        )
    }

    fn mark_reconciled(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        at: Timestamp,
    ) -> Result<ProviderInstallRecord> {
        self.update(
            host_id,
            pack_id,
            provider_id,
            "last_reconcile_at = ?4",
            &at.0,
        )
    }
}
