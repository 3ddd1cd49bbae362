//! The SQLite and PostgreSQL migrations build the same schema: every table with the
//! same columns in the same order (types translated: INTEGER → bigint, TEXT → text
//! in the "C" collation, a rowid id → an identity), the same nullability and
//! defaults, primary keys, uniques, references with their ON DELETE, CHECKs (by
//! their text, after PostgreSQL's rewriting is undone), indexes (columns, order,
//! uniqueness, partial predicate) and triggers. Runs when `RELAY_TEST_DATABASE_URL`
//! names a PostgreSQL database (`.ci/run` starts one); the migrations are applied to
//! an in-memory SQLite database and to a fresh schema of that database, which is
//! dropped afterwards.

use std::collections::{BTreeMap, BTreeSet};

use relay_store::migrate::MIGRATIONS;
use rusqlite::Connection;

use crate::common::test_database_url;

#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    /// (name, type, not null, default); an identity id's default reads `IDENTITY`.
    columns: Vec<(String, String, bool, Option<String>)>,
    primary_key: Vec<String>,
    uniques: BTreeSet<Vec<String>>,
    /// (referenced table, columns, referenced columns, ON DELETE).
    foreign_keys: BTreeSet<(String, Vec<String>, Vec<String>, String)>,
    checks: BTreeSet<String>,
    /// (name, unique, columns with ` DESC` where descending, predicate).
    indexes: BTreeSet<(String, bool, Vec<String>, Option<String>)>,
    triggers: BTreeSet<String>,
}

type Schema = BTreeMap<String, Table>;

/// An expression in a form both databases' texts reduce to: PostgreSQL's
/// `x = ANY (ARRAY['a'::text, …])` reads as SQLite's `x IN ('a', …)`, casts,
/// parentheses, brackets and blanks outside quotes are dropped, and case is folded.
fn normalize(expr: &str) -> String {
    let mut e = expr
        .replace("= ANY (ARRAY[", " IN (")
        .replace("<> ALL (ARRAY[", " NOT IN (");
    for cast in ["::text", "::bigint", "::integer", "::json"] {
        e = e.replace(cast, "");
    }
    let mut out = String::new();
    let mut quoted = false;
    for c in e.chars() {
        if c == '\'' {
            quoted = !quoted;
        }
        if quoted || c == '\'' {
            out.push(c);
        } else if !(c.is_whitespace() || "()[]".contains(c)) {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The bodies of the CHECK clauses of a SQLite `CREATE TABLE` text.
fn sqlite_checks(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut checks = Vec::new();
    let (mut i, mut quoted) = (0, false);
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted && c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if !quoted
            && (i == 0 || !chars[i - 1].is_alphanumeric() && chars[i - 1] != '_')
            && chars[i..]
                .iter()
                .take(5)
                .collect::<String>()
                .eq_ignore_ascii_case("check")
        {
            let mut j = i + 5;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if chars.get(j) == Some(&'(') {
                let (start, mut depth, mut q) = (j + 1, 1, false);
                j += 1;
                while depth > 0 {
                    match chars[j] {
                        '\'' => q = !q,
                        '(' if !q => depth += 1,
                        ')' if !q => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                checks.push(chars[start..j - 1].iter().collect());
                i = j;
                continue;
            }
        }
        i += 1;
    }
    checks
}

fn sqlite_schema(conn: &Connection) -> Schema {
    let strings = |sql: &str, arg: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([arg], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let mut schema = Schema::new();
    for name in strings(
        "SELECT name FROM sqlite_master WHERE type = ?1 AND name NOT LIKE 'sqlite_%'",
        "table",
    ) {
        let mut table = Table::default();
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = ?1",
                [&name],
                |r| r.get(0),
            )
            .unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) \
                 ORDER BY cid",
            )
            .unwrap();
        let columns: Vec<(String, String, bool, Option<String>, i64)> = stmt
            .query_map([&name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key_columns = columns.iter().filter(|c| c.4 > 0).count();
        let mut key = Vec::new();
        for (column, ty, not_null, default, pk) in columns {
            let ty = match ty.to_ascii_uppercase().as_str() {
                "INTEGER" => "bigint".to_string(),
                "TEXT" => "text".to_string(),
                "BLOB" => "bytea".to_string(),
                other => other.to_string(),
            };
            // An INTEGER PRIMARY KEY alone is the rowid: its PostgreSQL twin is an identity.
            let rowid = pk == 1 && key_columns == 1 && ty == "bigint";
            let default = if rowid {
                Some("IDENTITY".to_string())
            } else {
                default.map(|d| normalize(&d))
            };
            if pk > 0 {
                key.push((pk, column.clone()));
            }
            table
                .columns
                .push((column, ty, not_null || pk > 0, default));
        }
        key.sort();
        table.primary_key = key.into_iter().map(|(_, c)| c).collect();

        let mut stmt = conn
            .prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1)")
            .unwrap();
        let indexes: Vec<(String, bool, String)> = stmt
            .query_map([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (index, unique, origin) in indexes {
            let mut stmt = conn
                .prepare(
                    "SELECT name, \"desc\" FROM pragma_index_xinfo(?1) WHERE key ORDER BY seqno",
                )
                .unwrap();
            let columns: Vec<String> = stmt
                .query_map([&index], |r| {
                    let column: String = r.get(0)?;
                    let desc: bool = r.get(1)?;
                    Ok(if desc {
                        format!("{column} DESC")
                    } else {
                        column
                    })
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            match origin.as_str() {
                "u" => {
                    table.uniques.insert(columns);
                }
                "c" => {
                    let sql: String = conn
                        .query_row(
                            "SELECT sql FROM sqlite_master WHERE name = ?1",
                            [&index],
                            |r| r.get(0),
                        )
                        .unwrap();
                    let predicate = sql
                        .to_ascii_uppercase()
                        .find(" WHERE ")
                        .map(|at| normalize(&sql[at + 7..]));
                    table.indexes.insert((index, unique, columns, predicate));
                }
                _ => {}
            }
        }

        let mut stmt = conn
            .prepare(
                "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?1) \
                 ORDER BY id, seq",
            )
            .unwrap();
        let rows: Vec<(i64, String, String, String, String)> = stmt
            .query_map([&name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut keys: BTreeMap<i64, (String, Vec<String>, Vec<String>, String)> = BTreeMap::new();
        for (id, target, from, to, on_delete) in rows {
            let key = keys
                .entry(id)
                .or_insert_with(|| (target, Vec::new(), Vec::new(), on_delete.to_uppercase()));
            key.1.push(from);
            key.2.push(to);
        }
        table.foreign_keys = keys.into_values().collect();
        table.checks = sqlite_checks(&sql).iter().map(|c| normalize(c)).collect();
        table.triggers = strings(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1",
            &name,
        )
        .into_iter()
        .collect();
        schema.insert(name, table);
    }
    schema
}

fn postgres_schema(client: &mut postgres::Client) -> Schema {
    let mut schema = Schema::new();
    let tables = client
        .query(
            "SELECT relname::text FROM pg_class \
             WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace",
            &[],
        )
        .unwrap();
    for row in tables {
        let name: String = row.get(0);
        let mut table = Table::default();
        let oid = format!("'{name}'::regclass");
        for c in client
            .query(
                &format!(
                    "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                            a.attidentity::text, pg_get_expr(d.adbin, d.adrelid), co.collname::text
                     FROM pg_attribute a
                     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                     LEFT JOIN pg_collation co ON co.oid = a.attcollation
                     WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped
                     ORDER BY a.attnum"
                ),
                &[],
            )
            .unwrap()
        {
            let mut ty: String = c.get(1);
            let collation: Option<String> = c.get(5);
            if ty == "text" && collation.as_deref() != Some("C") {
                ty = format!("text COLLATE {}", collation.unwrap_or_default());
            }
            let identity: String = c.get(3);
            let default: Option<String> = c.get(4);
            let default = if identity == "d" {
                Some("IDENTITY".to_string())
            } else {
                default.map(|d| normalize(&d))
            };
            table.columns.push((c.get(0), ty, c.get(2), default));
        }
        let mut constraint_indexes = BTreeSet::new();
        for c in client
            .query(
                &format!(
                    "SELECT contype::text, pg_get_constraintdef(oid), conindid::bigint,
                        ARRAY(SELECT attname::text FROM unnest(conkey) WITH ORDINALITY k(n, o)
                              JOIN pg_attribute ON attrelid = conrelid AND attnum = k.n
                              ORDER BY k.o),
                        ARRAY(SELECT attname::text FROM unnest(confkey) WITH ORDINALITY k(n, o)
                              JOIN pg_attribute ON attrelid = confrelid AND attnum = k.n
                              ORDER BY k.o),
                        confrelid::regclass::text, confdeltype::text
                     FROM pg_constraint WHERE conrelid = {oid}"
                ),
                &[],
            )
            .unwrap()
        {
            let kind: String = c.get(0);
            let definition: String = c.get(1);
            let columns: Vec<String> = c.get(3);
            match kind.as_str() {
                "p" => table.primary_key = columns,
                "u" => {
                    table.uniques.insert(columns);
                }
                "f" => {
                    let on_delete = match c.get::<_, String>(6).as_str() {
                        "a" => "NO ACTION",
                        "r" => "RESTRICT",
                        "c" => "CASCADE",
                        "n" => "SET NULL",
                        "d" => "SET DEFAULT",
                        other => panic!("unknown ON DELETE {other}"),
                    };
                    table
                        .foreign_keys
                        .insert((c.get(5), columns, c.get(4), on_delete.to_string()));
                }
                "c" => {
                    let body = definition.strip_prefix("CHECK ").unwrap_or(&definition);
                    table.checks.insert(normalize(body));
                }
                _ => {}
            }
            if kind == "p" || kind == "u" {
                constraint_indexes.insert(c.get::<_, i64>(2));
            }
        }
        for i in client
            .query(
                &format!(
                    "SELECT i.indexrelid::bigint, c.relname::text, i.indisunique,
                        pg_get_expr(i.indpred, i.indrelid),
                        ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
                                  || CASE WHEN (i.indoption[k - 1] & 1) = 1 THEN ' DESC' ELSE '' END
                              FROM generate_series(1, i.indnkeyatts) k ORDER BY k)
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                     WHERE i.indrelid = {oid}"
                ),
                &[],
            )
            .unwrap()
        {
            if constraint_indexes.contains(&i.get::<_, i64>(0)) {
                continue;
            }
            let predicate: Option<String> = i.get(3);
            table.indexes.insert((
                i.get(1),
                i.get(2),
                i.get(4),
                predicate.map(|p| normalize(&p)),
            ));
        }
        table.triggers = client
            .query(
                &format!(
                    "SELECT tgname::text FROM pg_trigger WHERE tgrelid = {oid} AND NOT tgisinternal"
                ),
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        schema.insert(name, table);
    }
    schema
}

/// Every difference between the two schemas, one line each.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for name in sqlite
        .keys()
        .chain(postgres.keys())
        .collect::<BTreeSet<_>>()
    {
        match (sqlite.get(name), postgres.get(name)) {
            (Some(a), Some(b)) => {
                let mut field = |what: &str, x: String, y: String| {
                    if x != y {
                        out.push(format!(
                            "{name}.{what}:\n  sqlite:     {x}\n  postgresql: {y}"
                        ));
                    }
                };
                field(
                    "columns",
                    format!("{:?}", a.columns),
                    format!("{:?}", b.columns),
                );
                field(
                    "primary key",
                    format!("{:?}", a.primary_key),
                    format!("{:?}", b.primary_key),
                );
                field(
                    "uniques",
                    format!("{:?}", a.uniques),
                    format!("{:?}", b.uniques),
                );
                field(
                    "foreign keys",
                    format!("{:?}", a.foreign_keys),
                    format!("{:?}", b.foreign_keys),
                );
                field(
                    "checks",
                    format!("{:?}", a.checks),
                    format!("{:?}", b.checks),
                );
                field(
                    "indexes",
                    format!("{:?}", a.indexes),
                    format!("{:?}", b.indexes),
                );
                field(
                    "triggers",
                    format!("{:?}", a.triggers),
                    format!("{:?}", b.triggers),
                );
            }
            (Some(_), None) => out.push(format!("table {name} only in SQLite")),
            _ => out.push(format!("table {name} only in PostgreSQL")),
        }
    }
    out
}

#[test]
fn normalize_reads_both_databases_texts_alike() {
    assert_eq!(
        normalize("(status = ANY (ARRAY['a'::text, 'b c'::text]))"),
        normalize("status IN ('a', 'b c')")
    );
    assert_eq!(
        normalize("((report IS NULL) OR json_valid(report))"),
        normalize("report IS NULL OR json_valid(report)")
    );
    assert_eq!(normalize("'[]'::text"), "'[]'");
    assert_ne!(normalize("x IN ('a', 'b')"), normalize("x IN ('a', 'B')"));
    assert_ne!(
        normalize("x IN ('a', 'b')"),
        normalize("x NOT IN ('a', 'b')")
    );
    assert_eq!(
        sqlite_checks("CREATE TABLE t (a TEXT CHECK (a IN ('(', 'b')), -- check (x)\n b INTEGER,\n CHECK ((b = 1) = (a = 'b')))"),
        vec!["a IN ('(', 'b')".to_string(), "(b = 1) = (a = 'b')".to_string()]
    );
}

#[test]
fn sqlite_and_postgresql_migrations_build_the_same_schema() {
    let Some(url) = test_database_url() else {
        eprintln!("RELAY_TEST_DATABASE_URL is not set: the PostgreSQL schema is not compared");
        return;
    };
    let sqlite = Connection::open_in_memory().unwrap();
    for m in MIGRATIONS {
        sqlite.execute_batch(m.sql).unwrap();
    }
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("relay_parity_{}_{nanos}", std::process::id());
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema}"
        ))
        .unwrap();
    for m in MIGRATIONS {
        let mut tx = client.transaction().unwrap();
        tx.batch_execute(m.postgres_sql)
            .unwrap_or_else(|e| panic!("PostgreSQL migration {}: {e}", m.version));
        tx.commit().unwrap();
    }
    let (a, b) = (sqlite_schema(&sqlite), postgres_schema(&mut client));
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();

    let diffs = differences(&a, &b);
    assert!(
        diffs.is_empty(),
        "the schemas differ:\n{}",
        diffs.join("\n")
    );
    // The comparison saw the whole schema (a broken catalog query would compare nothing).
    assert!(a.len() >= 18, "{} tables", a.len());
    assert_eq!(
        a.values().map(|t| t.checks.len()).sum::<usize>(),
        b.values().map(|t| t.checks.len()).sum::<usize>()
    );
    assert!(a.values().all(|t| !t.columns.is_empty()));
    assert_eq!(b["import_run_item_events"].triggers.len(), 1);
}
