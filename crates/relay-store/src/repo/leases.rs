//! Leases: named work held by one server at a time, across every server on the
//! database.
//!
//! A lease is taken when it is free (never taken, released, or expired), renewed by
//! its holder while the work goes on, and released when the work ends. Each take
//! increments the lease's generation: a holder renews (and fences its writes) with
//! the generation it took, so a holder whose lease expired and was taken over learns
//! it on its next renewal instead of writing beside the new holder. Times are the
//! servers' clocks (keep them in sync).

use std::time::Duration;

use crate::db::{params, Conn, DbResult, OptionalExtension, Row};
use crate::error::Result;
use crate::records::Timestamp;
use crate::sql::ts;
use crate::Store;

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What it is for, e.g. `provider/<host>/<pack>/<provider>`.
    pub name: String,
    /// The worker id of the server holding it.
    pub owner: String,
    /// The fencing token: incremented by every take.
    pub generation: i64,
    /// When it was taken.
    pub acquired_at: Timestamp,
    /// When it lapses unless renewed.
    pub expires_at: Timestamp,
}

impl Lease {
    /// True while it has not lapsed at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at.0 > now.0
    }
}

/// The answer to [`LeaseRepository::acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// Taken: the caller holds it until `expires_at` (renew before).
    Taken(Lease),
    /// Another holder has it (or this owner already does).
    Held(Lease),
}

/// Leases of work shared by several servers.
pub trait LeaseRepository {
    /// Takes `name` for `owner` for `ttl` when it is free or lapsed; otherwise
    /// answers its live holder (also when that is `owner` itself: a lease is not
    /// re-entrant).
    fn acquire(&self, name: &str, owner: &str, ttl: Duration) -> Result<Acquired>;
    /// Extends a held lease by `ttl` from now; `None` when it is no longer held with
    /// that generation (it lapsed and was taken over, or was released).
    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>>;
    /// Gives a held lease up (a no-op when it is no longer held with that
    /// generation).
    fn release(&self, lease: &Lease) -> Result<()>;
    /// The live holder of `name`, if any.
    fn holder(&self, name: &str) -> Result<Option<Lease>>;
    /// Lapses every lease of `owner` at once (a restarted server frees what its
    /// previous process held); returns how many.
    fn release_owner(&self, owner: &str) -> Result<usize>;
}

/// SQL implementation of [`LeaseRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteLeases<'s> {
    store: &'s Store,
}

impl<'s> SqliteLeases<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteLeases { store }
    }
}

const LEASE_COLUMNS: &str = "name, owner, generation, acquired_at, expires_at";

fn lease_row(row: &Row<'_>) -> DbResult<Lease> {
    Ok(Lease {
        name: row.get(0)?,
        owner: row.get(1)?,
        generation: row.get(2)?,
        acquired_at: ts(row, 3)?,
        expires_at: ts(row, 4)?,
    })
}

fn get_lease(conn: &Conn<'_>, name: &str) -> Result<Option<Lease>> {
    Ok(conn
        .query_row(
            &format!("SELECT {LEASE_COLUMNS} FROM leases WHERE name = ?1"),
            [name],
            lease_row,
        )
        .optional()?)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl LeaseRepository for SqliteLeases<'_> {
    fn acquire(&self, name: &str, owner: &str, ttl: Duration) -> Result<Acquired> {
        self.store.write(|tx| {
            let now = Timestamp::now();
            let expires = now.0.saturating_add(millis(ttl));
            match get_lease(tx, name)? {
                Some(current) if current.is_live(now) => Ok(Acquired::Held(current)),
                Some(current) => {
                    tx.execute(
                        "UPDATE leases SET owner = ?2, generation = ?3, acquired_at = ?4,
                                           expires_at = ?5
                         WHERE name = ?1",
                        params![name, owner, current.generation + 1, now.0, expires],
                    )?;
                    Ok(Acquired::Taken(Lease {
                        name: name.to_string(),
                        owner: owner.to_string(),
                        generation: current.generation + 1,
                        acquired_at: now,
                        expires_at: Timestamp(expires),
                    }))
                }
                None => {
                    tx.execute(
                        "INSERT INTO leases (name, owner, generation, acquired_at, expires_at)
                         VALUES (?1, ?2, 1, ?3, ?4)",
                        params![name, owner, now.0, expires],
                    )?;
                    Ok(Acquired::Taken(Lease {
                        name: name.to_string(),
                        owner: owner.to_string(),
                        generation: 1,
                        acquired_at: now,
                        expires_at: Timestamp(expires),
                    }))
                }
            }
        })
    }

    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>> {
        self.store.write(|tx| {
            let now = Timestamp::now();
            let expires = now.0.saturating_add(millis(ttl));
            // A lapsed lease nobody took yet is still this holder's: nothing else
            // ran under it (a take increments the generation).
            let n = tx.execute(
                "UPDATE leases SET expires_at = ?4
                 WHERE name = ?1 AND owner = ?2 AND generation = ?3",
                params![lease.name, lease.owner, lease.generation, expires],
            )?;
            Ok((n == 1).then(|| Lease {
                expires_at: Timestamp(expires),
                ..lease.clone()
            }))
        })
    }

    fn release(&self, lease: &Lease) -> Result<()> {
        self.store.write(|tx| {
            tx.execute(
                "UPDATE leases SET expires_at = 0
                 WHERE name = ?1 AND owner = ?2 AND generation = ?3",
                params![lease.name, lease.owner, lease.generation],
            )?;
            Ok(())
        })
    }

    fn holder(&self, name: &str) -> Result<Option<Lease>> {
        let now = Timestamp::now();
        Ok(self
            .store
            .read(|conn| get_lease(conn, name))?
            .filter(|l| l.is_live(now)))
    }

    fn release_owner(&self, owner: &str) -> Result<usize> {
        self.store.write(|tx| {
            Ok(tx.execute(
                "UPDATE leases SET expires_at = 0 WHERE owner = ?1 AND expires_at > 0",
                [owner],
            )?)
        })
    }
}
