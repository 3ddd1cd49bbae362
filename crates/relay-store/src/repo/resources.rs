//! The managed resource journal.
//!
//! Before every create call the caller journals an *intent* (type + deterministic
//! name, no host id). Right after the call it attaches the host id, which moves the
//! record to `created` (or `adopted` when crash recovery finds the object by name).
//! An intent the host never completed is marked `absent`. Because every object is
//! journaled before it exists, a crash never leaks an unrecorded host object.

use crate::db::{params, Conn, DbResult, OptionalExtension, Row};
use relay_domain::{BatchId, Fingerprint, HostId, PackId, ProviderId, ResourceState, ResourceType};
use serde_json::Value;

use crate::error::{Result, StoreError};
use crate::records::{NewResource, ResourceRecord, Timestamp};
use crate::sql::{fingerprint_opt, json, parsed, ts};
use crate::Store;

/// The managed resource journal.
pub trait ResourceRepository {
    /// Journals an intent (state `intent`, no host id) before a create call.
    fn record_intent(&self, resource: &NewResource) -> Result<ResourceRecord>;
    /// Records an object that already exists on the host (state `reused` or
    /// `adopted`). A second record of the same host object is a
    /// [`StoreError::Conflict`].
    fn record_existing(
        &self,
        resource: &NewResource,
        host_resource_id: i64,
        state: ResourceState,
    ) -> Result<ResourceRecord>;
    /// Attaches the host id to an intent and moves it to `state` (`created` or
    /// `adopted`). Refused with [`StoreError::InvalidState`] when the record is
    /// not an intent.
    fn attach_host_id(
        &self,
        id: i64,
        host_resource_id: i64,
        state: ResourceState,
    ) -> Result<ResourceRecord>;
    /// Sets the state (`absent`, `deleted`, `retired`, …). Live states need a host id.
    fn set_state(&self, id: i64, state: ResourceState) -> Result<ResourceRecord>;
    /// Replaces the details JSON.
    fn set_details(&self, id: i64, details: &Value) -> Result<ResourceRecord>;
    /// One record, or [`StoreError::NotFound`].
    fn get(&self, id: i64) -> Result<ResourceRecord>;
    /// The record of a host object, if any.
    fn find_by_host_resource(
        &self,
        host_id: &HostId,
        resource_type: ResourceType,
        host_resource_id: i64,
    ) -> Result<Option<ResourceRecord>>;
    /// Records of one batch, in journal order.
    fn list_by_batch(&self, batch_id: &BatchId) -> Result<Vec<ResourceRecord>>;
    /// Records of a provider on a host, in journal order.
    fn list_for_provider(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<Vec<ResourceRecord>>;
    /// Unresolved intents (crash recovery), optionally of one host, in journal order.
    fn list_intents(&self, host_id: Option<&HostId>) -> Result<Vec<ResourceRecord>>;
    /// The live (`created`/`adopted`/`reused`) account of a provider on a host with
    /// this key fingerprint, newest first — already-imported detection.
    fn find_live_account(
        &self,
        host_id: &HostId,
        provider_id: &ProviderId,
        fingerprint: &Fingerprint,
    ) -> Result<Option<ResourceRecord>>;
}

/// SQLite implementation of [`ResourceRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteResources<'s> {
    store: &'s Store,
}

impl<'s> SqliteResources<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteResources { store }
    }
}

const RESOURCE_COLUMNS: &str = "id, host_id, pack_id, provider_id, batch_id, resource_type, \
     host_resource_id, logical_key, state, fingerprint, details, created_at, updated_at";

fn resource_row(row: &Row<'_>) -> DbResult<ResourceRecord> {
    Ok(ResourceRecord {
        id: row.get(0)?,
        host_id: HostId::new(row.get::<_, String>(1)?),
        pack_id: PackId(row.get(2)?),
        provider_id: ProviderId(row.get(3)?),
        batch_id: row.get::<_, Option<String>>(4)?.map(BatchId::new),
        resource_type: parsed(row, 5)?,
        host_resource_id: row.get(6)?,
        logical_key: row.get(7)?,
        state: parsed(row, 8)?,
        fingerprint: fingerprint_opt(row, 9)?,
        details: json(row, 10)?,
        created_at: ts(row, 11)?,
        updated_at: ts(row, 12)?,
    })
}

fn get_resource(conn: &Conn<'_>, id: i64) -> Result<ResourceRecord> {
    conn.query_row(
        &format!("SELECT {RESOURCE_COLUMNS} FROM managed_resources WHERE id = ?1"),
        [id],
        resource_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found("managed resource", id))
}

pub(crate) fn query_resources(
    conn: &Conn<'_>,
    where_sql: &str,
    params: impl crate::db::Params,
) -> Result<Vec<ResourceRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {RESOURCE_COLUMNS} FROM managed_resources WHERE {where_sql}"
    ))?;
    let rows = stmt.query_map(params, resource_row)?;
    Ok(rows.collect::<DbResult<Vec<_>>>()?)
}

/// Inserts a journal row; `details` is the (redacted) JSON text of `r.details`.
fn insert(
    conn: &Conn<'_>,
    r: &NewResource,
    details: &str,
    host_resource_id: Option<i64>,
    state: ResourceState,
) -> Result<ResourceRecord> {
    let now = Timestamp::now().0;
    let id: i64 = conn.query_row(
        "INSERT INTO managed_resources (host_id, pack_id, provider_id, batch_id, resource_type,
                                        host_resource_id, logical_key, state, fingerprint,
                                        details, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) RETURNING id",
        params![
            r.host_id.as_str(),
            r.pack_id.0,
            r.provider_id.0,
            r.batch_id.as_ref().map(|b| b.as_str()),
            r.resource_type.as_str(),
            host_resource_id,
            r.logical_key,
            state.as_str(),
            r.fingerprint.as_ref().map(|f| f.as_str()),
            details,
            now
        ],
        |r| r.get(0),
    )?;
    get_resource(conn, id)
}

impl ResourceRepository for SqliteResources<'_> {
    fn record_intent(&self, resource: &NewResource) -> Result<ResourceRecord> {
        let details = self.store.scrub_json(&resource.details);
        self.store
            .write(|tx| insert(tx, resource, &details, None, ResourceState::Intent))
    }

    fn record_existing(
        &self,
        resource: &NewResource,
        host_resource_id: i64,
        state: ResourceState,
    ) -> Result<ResourceRecord> {
        if !matches!(state, ResourceState::Reused | ResourceState::Adopted) {
            return Err(StoreError::InvalidState {
                what: format!(
                    "an existing host object is recorded as reused or adopted, not {state}"
                ),
            });
        }
        let details = self.store.scrub_json(&resource.details);
        self.store
            .write(|tx| insert(tx, resource, &details, Some(host_resource_id), state))
    }

    fn attach_host_id(
        &self,
        id: i64,
        host_resource_id: i64,
        state: ResourceState,
    ) -> Result<ResourceRecord> {
        if !matches!(state, ResourceState::Created | ResourceState::Adopted) {
            return Err(StoreError::InvalidState {
                what: format!("an intent resolves to created or adopted, not {state}"),
            });
        }
        self.store.write(|tx| {
            let current = get_resource(tx, id)?;
            if current.state != ResourceState::Intent {
                return Err(StoreError::InvalidState {
                    what: format!("managed resource {id} is {}, not an intent", current.state),
                });
            }
            tx.execute(
                "UPDATE managed_resources SET host_resource_id = ?2, state = ?3, updated_at = ?4
                 WHERE id = ?1",
                params![id, host_resource_id, state.as_str(), Timestamp::now().0],
            )?;
            get_resource(tx, id)
        })
    }

    fn set_state(&self, id: i64, state: ResourceState) -> Result<ResourceRecord> {
        self.store.write(|tx| {
            let current = get_resource(tx, id)?;
            let needs_id = state.is_owned_live() || state == ResourceState::Reused;
            if needs_id && current.host_resource_id.is_none() {
                return Err(StoreError::InvalidState {
                    what: format!("managed resource {id} has no host id; attach it first"),
                });
            }
            tx.execute(
                "UPDATE managed_resources SET state = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, state.as_str(), Timestamp::now().0],
            )?;
            get_resource(tx, id)
        })
    }

    fn set_details(&self, id: i64, details: &Value) -> Result<ResourceRecord> {
        let details = self.store.scrub_json(details);
        self.store.write(|tx| {
            let n = tx.execute(
                "UPDATE managed_resources SET details = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, details, Timestamp::now().0],
            )?;
            if n == 0 {
                return Err(StoreError::not_found("managed resource", id));
            }
            get_resource(tx, id)
        })
    }

    fn get(&self, id: i64) -> Result<ResourceRecord> {
        self.store.read(|conn| get_resource(conn, id))
    }

    fn find_by_host_resource(
        &self,
        host_id: &HostId,
        resource_type: ResourceType,
        host_resource_id: i64,
    ) -> Result<Option<ResourceRecord>> {
        self.store.read(|conn| {
            Ok(query_resources(
                conn,
                "host_id = ?1 AND resource_type = ?2 AND host_resource_id = ?3",
                params![host_id.as_str(), resource_type.as_str(), host_resource_id],
            )?
            .into_iter()
            .next())
        })
    }

    fn list_by_batch(&self, batch_id: &BatchId) -> Result<Vec<ResourceRecord>> {
        self.store
            .read(|conn| query_resources(conn, "batch_id = ?1 ORDER BY id", [batch_id.as_str()]))
    }

    fn list_for_provider(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<Vec<ResourceRecord>> {
        self.store.read(|conn| {
            query_resources(
                conn,
                "host_id = ?1 AND pack_id = ?2 AND provider_id = ?3 ORDER BY id",
                [host_id.as_str(), &pack_id.0, &provider_id.0],
            )
        })
    }

    fn list_intents(&self, host_id: Option<&HostId>) -> Result<Vec<ResourceRecord>> {
        self.store.read(|conn| {
            query_resources(
                conn,
                "state = 'intent' AND (CAST(?1 AS TEXT) IS NULL OR host_id = ?1) ORDER BY id",
                [host_id.map(|h| h.as_str())],
            )
        })
    }

    fn find_live_account(
        &self,
        host_id: &HostId,
        provider_id: &ProviderId,
        fingerprint: &Fingerprint,
    ) -> Result<Option<ResourceRecord>> {
        self.store.read(|conn| {
            Ok(query_resources(
                conn,
                "host_id = ?1 AND provider_id = ?2 AND fingerprint = ?3
                 AND resource_type = 'account' AND state IN ('created', 'adopted', 'reused')
                 ORDER BY id DESC LIMIT 1",
                [host_id.as_str(), &provider_id.0, fingerprint.as_str()],
            )?
            .into_iter()
            .next())
        })
    }
}
