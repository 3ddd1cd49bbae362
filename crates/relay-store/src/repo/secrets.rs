//! Managed subscribers (sealed passwords) and other sealed secrets.

use crate::db::{params, Conn, DbResult, OptionalExtension, Row};
use relay_domain::{mask, Fingerprint, HostId, Secret};

use crate::error::{Result, StoreError};
use crate::records::{SecretInfo, SecretSlot, SubscriberRecord, Timestamp};
use crate::sql::{fingerprint, parsed, ts};
use crate::Store;

/// Host users the manager created or found for subscription access.
pub trait SubscriberRepository {
    /// Records a subscriber (or replaces the password and host user id of an existing
    /// one with the same e-mail on the host).
    fn upsert(
        &self,
        host_id: &HostId,
        email: &str,
        password: &Secret,
        host_user_id: Option<i64>,
    ) -> Result<SubscriberRecord>;
    /// The subscriber with this e-mail on the host, if any.
    fn find_by_email(&self, host_id: &HostId, email: &str) -> Result<Option<SubscriberRecord>>;
    /// Every subscriber on a host, by e-mail.
    fn list_by_host(&self, host_id: &HostId) -> Result<Vec<SubscriberRecord>>;
    /// Sets the host user id once the host created the user.
    fn set_host_user_id(&self, id: i64, host_user_id: i64) -> Result<SubscriberRecord>;
    /// Opens the sealed password.
    fn password(&self, id: i64) -> Result<Secret>;
}

/// Other sealed secrets: operator-supplied probe keys, user keys created for managed
/// subscribers. Each is stored with its fingerprint and mask for display.
pub trait SecretRepository {
    /// Seals and stores (or replaces) the secret of a slot.
    fn put(&self, slot: &SecretSlot, secret: &Secret) -> Result<SecretInfo>;
    /// Opens the secret of a slot, if stored.
    fn get(&self, slot: &SecretSlot) -> Result<Option<Secret>>;
    /// Public facts of a slot's secret (fingerprint, mask), if stored.
    fn info(&self, slot: &SecretSlot) -> Result<Option<SecretInfo>>;
    /// Removes a slot's secret; true when one was removed.
    fn delete(&self, slot: &SecretSlot) -> Result<bool>;
}

/// SQLite implementation of [`SubscriberRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteSubscribers<'s> {
    store: &'s Store,
}

impl<'s> SqliteSubscribers<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteSubscribers { store }
    }
}

/// SQLite implementation of [`SecretRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteSecrets<'s> {
    store: &'s Store,
}

impl<'s> SqliteSecrets<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteSecrets { store }
    }
}

/// Associated data of a subscriber password: host and e-mail (the natural key).
pub(crate) fn password_aad(host_id: &str, email: &str) -> String {
    format!("managed_subscribers:{host_id}:{email}:password")
}

/// Associated data of a sealed secret: its whole slot.
fn slot_aad(slot: &SecretSlot) -> String {
    sealed_secret_aad(&slot.owner_kind.to_string(), &slot.owner_id, &slot.purpose)
}

/// Associated data of a sealed secret from its stored slot columns.
pub(crate) fn sealed_secret_aad(owner_kind: &str, owner_id: &str, purpose: &str) -> String {
    format!("sealed_secrets:{owner_kind}:{owner_id}:{purpose}")
}

const SUBSCRIBER_COLUMNS: &str = "id, host_id, email, host_user_id, created_at, updated_at";

fn subscriber_row(row: &Row<'_>) -> DbResult<SubscriberRecord> {
    Ok(SubscriberRecord {
        id: row.get(0)?,
        host_id: HostId::new(row.get::<_, String>(1)?),
        email: row.get(2)?,
        host_user_id: row.get(3)?,
        created_at: ts(row, 4)?,
        updated_at: ts(row, 5)?,
    })
}

fn get_subscriber(conn: &Conn<'_>, id: i64) -> Result<SubscriberRecord> {
    conn.query_row(
        &format!("SELECT {SUBSCRIBER_COLUMNS} FROM managed_subscribers WHERE id = ?1"),
        [id],
        subscriber_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found("managed subscriber", id))
}

const SECRET_COLUMNS: &str =
    "owner_kind, owner_id, purpose, fingerprint, mask, created_at, updated_at";

fn info_row(row: &Row<'_>) -> DbResult<SecretInfo> {
    Ok(SecretInfo {
        owner_kind: parsed(row, 0)?,
        owner_id: row.get(1)?,
        purpose: row.get(2)?,
        fingerprint: fingerprint(row, 3)?,
        mask: row.get(4)?,
        created_at: ts(row, 5)?,
        updated_at: ts(row, 6)?,
    })
}

fn find_info(conn: &Conn<'_>, slot: &SecretSlot) -> Result<Option<SecretInfo>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {SECRET_COLUMNS} FROM sealed_secrets
                 WHERE owner_kind = ?1 AND owner_id = ?2 AND purpose = ?3"
            ),
            [slot.owner_kind.as_str(), &slot.owner_id, &slot.purpose],
            info_row,
        )
        .optional()?)
}

/// A secret sealed for its slot, ready to be written inside a transaction (sealing
/// happens before the transaction opens).
pub(crate) struct SealedSlot<'a> {
    slot: &'a SecretSlot,
    sealed: String,
    fingerprint: Fingerprint,
    mask: String,
}

impl<'a> SealedSlot<'a> {
    /// Seals `secret` for `slot` (the store remembers it for redaction).
    pub(crate) fn seal(store: &Store, slot: &'a SecretSlot, secret: &Secret) -> Result<Self> {
        Ok(SealedSlot {
            slot,
            sealed: store.seal(secret, &slot_aad(slot))?,
            fingerprint: Fingerprint::of(secret.expose()),
            mask: mask(secret.expose()),
        })
    }

    /// Stores (or replaces) the slot's sealed value.
    pub(crate) fn write(&self, conn: &Conn<'_>, now: i64) -> Result<()> {
        conn.execute(
            "INSERT INTO sealed_secrets (owner_kind, owner_id, purpose, fingerprint, mask,
                                         sealed_value, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON CONFLICT (owner_kind, owner_id, purpose) DO UPDATE SET
                 fingerprint = excluded.fingerprint, mask = excluded.mask,
                 sealed_value = excluded.sealed_value, updated_at = excluded.updated_at",
            params![
                self.slot.owner_kind.as_str(),
                self.slot.owner_id,
                self.slot.purpose,
                self.fingerprint.as_str(),
                self.mask,
                self.sealed,
                now
            ],
        )?;
        Ok(())
    }
}

impl SubscriberRepository for SqliteSubscribers<'_> {
    fn upsert(
        &self,
        host_id: &HostId,
        email: &str,
        password: &Secret,
        host_user_id: Option<i64>,
    ) -> Result<SubscriberRecord> {
        let sealed = self
            .store
            .seal(password, &password_aad(host_id.as_str(), email))?;
        self.store.write(|tx| {
            tx.execute(
                "INSERT INTO managed_subscribers (host_id, email, host_user_id, password_sealed,
                                                  created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (host_id, email) DO UPDATE SET
                     host_user_id = COALESCE(excluded.host_user_id, managed_subscribers.host_user_id),
                     password_sealed = excluded.password_sealed,
                     updated_at = excluded.updated_at",
                params![
                    host_id.as_str(),
                    email,
                    host_user_id,
                    sealed,
                    Timestamp::now().0
                ],
            )?;
            let id: i64 = tx.query_row(
                "SELECT id FROM managed_subscribers WHERE host_id = ?1 AND email = ?2",
                [host_id.as_str(), email],
                |r| r.get(0),
            )?;
            get_subscriber(tx, id)
        })
    }

    fn find_by_email(&self, host_id: &HostId, email: &str) -> Result<Option<SubscriberRecord>> {
        self.store.read(|conn| {
            Ok(conn
                .query_row(
                    &format!(
                        "SELECT {SUBSCRIBER_COLUMNS} FROM managed_subscribers
                         WHERE host_id = ?1 AND email = ?2"
                    ),
                    [host_id.as_str(), email],
                    subscriber_row,
                )
                .optional()?)
        })
    }

    fn list_by_host(&self, host_id: &HostId) -> Result<Vec<SubscriberRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {SUBSCRIBER_COLUMNS} FROM managed_subscribers WHERE host_id = ?1
                 ORDER BY email"
            ))?;
            let rows = stmt.query_map([host_id.as_str()], subscriber_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn set_host_user_id(&self, id: i64, host_user_id: i64) -> Result<SubscriberRecord> {
        self.store.write(|tx| {
            let n = tx.execute(
                "UPDATE managed_subscribers SET host_user_id = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, host_user_id, Timestamp::now().0],
            )?;
            if n == 0 {
                return Err(StoreError::not_found("managed subscriber", id));
            }
            get_subscriber(tx, id)
        })
    }

    fn password(&self, id: i64) -> Result<Secret> {
        let (host_id, email, sealed): (String, String, String) = self.store.read(|conn| {
            conn.query_row(
                "SELECT host_id, email, password_sealed FROM managed_subscribers WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::not_found("managed subscriber", id))
        })?;
        self.store
            .open_sealed(&sealed, &password_aad(&host_id, &email))
    }
}

impl SecretRepository for SqliteSecrets<'_> {
    fn put(&self, slot: &SecretSlot, secret: &Secret) -> Result<SecretInfo> {
        let sealed = SealedSlot::seal(self.store, slot, secret)?;
        self.store.write(|tx| {
            sealed.write(tx, Timestamp::now().0)?;
            find_info(tx, slot)?
                .ok_or_else(|| StoreError::not_found("sealed secret", &slot.purpose))
        })
    }

    fn get(&self, slot: &SecretSlot) -> Result<Option<Secret>> {
        let sealed: Option<String> = self.store.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT sealed_value FROM sealed_secrets
                     WHERE owner_kind = ?1 AND owner_id = ?2 AND purpose = ?3",
                    [slot.owner_kind.as_str(), &slot.owner_id, &slot.purpose],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        sealed
            .map(|s| self.store.open_sealed(&s, &slot_aad(slot)))
            .transpose()
    }

    fn info(&self, slot: &SecretSlot) -> Result<Option<SecretInfo>> {
        self.store.read(|conn| find_info(conn, slot))
    }

    fn delete(&self, slot: &SecretSlot) -> Result<bool> {
        self.store.write(|tx| {
            let n = tx.execute(
                "DELETE FROM sealed_secrets WHERE owner_kind = ?1 AND owner_id = ?2 AND purpose = ?3",
                [slot.owner_kind.as_str(), &slot.owner_id, &slot.purpose],
            )?;
            Ok(n > 0)
        })
    }
}
