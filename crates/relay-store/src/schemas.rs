//! PostgreSQL schemas for throw-away stores: the acceptance runner and the test
//! suites give each scenario (or data directory) a schema of its own in one test
//! database, and read every row back to scan it for secrets. The store's SQL stays
//! in this crate.

use crate::db::DbError;
use crate::error::Result;

/// `url` with `schema` as the search path of every connection made with it (the
/// schema is created when missing). `schema` must be a plain lowercase identifier
/// (letters, digits, `_`).
pub fn postgres_schema_url(url: &str, schema: &str) -> Result<String> {
    check_identifier(schema)?;
    let mut client = connect(url)?;
    client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .map_err(DbError::from)?;
    Ok(url_with_search_path(url, schema))
}

/// `url` with `schema` as its connections' search path (nothing is created).
pub fn url_with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Drops `schema` with everything in it.
pub fn postgres_drop_schema(url: &str, schema: &str) -> Result<()> {
    check_identifier(schema)?;
    connect(url)?
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .map_err(DbError::from)?;
    Ok(())
}

/// Every row of every table of the connection's current schema (the one `url`'s
/// search path names), as `(table, row as text)`, tables by name. Sealed values are
/// read as stored: this is what a scan for plain secrets must look at.
pub fn postgres_rows(url: &str) -> Result<Vec<(String, String)>> {
    let mut client = connect(url)?;
    let tables = client
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             ORDER BY table_name",
            &[],
        )
        .map_err(DbError::from)?;
    let mut out = Vec::new();
    for t in tables {
        let table: String = t.get(0);
        let sql = format!("SELECT t::text FROM \"{}\" t", table.replace('"', "\"\""));
        for row in client.query(sql.as_str(), &[]).map_err(DbError::from)? {
            out.push((table.clone(), row.get(0)));
        }
    }
    Ok(out)
}

fn connect(url: &str) -> Result<postgres::Client> {
    Ok(postgres::Client::connect(url, postgres::NoTls).map_err(DbError::from)?)
}

fn check_identifier(schema: &str) -> Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(crate::StoreError::Unsupported {
            what: "a schema name other than lowercase letters, digits and _ (at most 63)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_path_is_added_as_an_option_of_the_url() {
        assert_eq!(
            url_with_search_path("postgres://u:p@127.0.0.1:5432/db", "s1"),
            "postgres://u:p@127.0.0.1:5432/db?options=-c%20search_path%3Ds1"
        );
        assert_eq!(
            url_with_search_path("postgres://u:p@h/db?sslmode=disable", "s1"),
            "postgres://u:p@h/db?sslmode=disable&options=-c%20search_path%3Ds1"
        );
        assert!(check_identifier("relay_acc_1_2_x").is_ok());
        for bad in ["", "A", "a-b", "a;drop", "1a"] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }
}
