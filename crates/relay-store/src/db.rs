//! The backend-neutral connection the repositories run their SQL on.
//!
//! Repositories write one dialect: SQLite's, with numbered `?N` placeholders, and
//! only constructs both backends share (`ON CONFLICT`, `RETURNING`, `COALESCE`,
//! `CASE`, `CAST(… AS TEXT|BIGINT)`). [`Conn`] runs it on SQLite (rusqlite) or on
//! PostgreSQL (the `postgres` crate), where the placeholders become `$N`. Values
//! cross the boundary as [`Value`]: integers (timestamps, 0/1 flags, counts), text
//! (ids, statuses, JSON documents, sealed values), reals and blobs. On PostgreSQL an
//! integer binds to whichever integer (or boolean) type the server infers for its
//! parameter, and integer, boolean and text columns read back as the same values as
//! on SQLite, so a query and its row decoder are written once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;

use postgres::types::{IsNull, Type};

/// A value read from a column (or bound to a parameter).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer (PostgreSQL `SMALLINT`/`INTEGER`/`BIGINT`; booleans as 0/1).
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// A text.
    Text(String),
    /// Bytes (PostgreSQL `BYTEA`).
    Blob(Vec<u8>),
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

/// A borrowed value bound to a parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// A text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
}

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded SQLite database.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Errors of the connection layer.
#[derive(Debug)]
pub enum DbError {
    /// SQLite failed.
    Sqlite(rusqlite::Error),
    /// PostgreSQL failed.
    Postgres(postgres::Error),
    /// `query_row` found no row.
    NoRows,
    /// A column holds a value its decoder cannot take.
    Conversion {
        /// Column index.
        idx: usize,
        /// What is wrong.
        what: String,
    },
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "sqlite: {e}"),
            DbError::Postgres(e) => {
                // The server's message (and detail) says what failed; the driver's
                // Display of a database error is only "db error".
                match e.as_db_error() {
                    Some(db) => {
                        write!(f, "postgres: {}", db.message())?;
                        if let Some(detail) = db.detail() {
                            write!(f, " ({detail})")?;
                        }
                        Ok(())
                    }
                    None => write!(f, "postgres: {e}"),
                }
            }
            DbError::NoRows => f.write_str("query returned no rows"),
            DbError::Conversion { idx, what } => write!(f, "column {idx}: {what}"),
        }
    }
}

impl StdError for DbError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            DbError::Sqlite(e) => Some(e),
            DbError::Postgres(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => DbError::NoRows,
            other => DbError::Sqlite(other),
        }
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError::Postgres(e)
    }
}

impl DbError {
    /// A column value its decoder refused (`e` says why).
    pub(crate) fn conversion(idx: usize, e: impl fmt::Display) -> DbError {
        DbError::Conversion {
            idx,
            what: e.to_string(),
        }
    }
}

/// Result of the connection layer.
pub(crate) type DbResult<T> = std::result::Result<T, DbError>;

/// A value that binds to a statement parameter.
pub(crate) trait ToSql {
    /// The value to bind.
    fn to_value(&self) -> ValueRef<'_>;
}

macro_rules! int_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> ValueRef<'_> {
                // Counts and timestamps are far below i64::MAX.
                ValueRef::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_to_sql!(i64, i32, i16, u8, u16, u32, u64, usize);

impl ToSql for bool {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::from(*self))
    }
}

impl ToSql for f64 {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl ToSql for str {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for String {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for [u8] {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for Value {
    fn to_value(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> ValueRef<'_> {
        (**self).to_value()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.to_value(),
            None => ValueRef::Null,
        }
    }
}

/// The parameters of one statement.
pub(crate) trait Params {
    /// The values, in placeholder order.
    fn values(&self) -> Vec<ValueRef<'_>>;
}

impl Params for [&dyn ToSql; 0] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        Vec::new()
    }
}

impl Params for &[&dyn ToSql] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn values(&self) -> Vec<ValueRef<'_>> {
                self.iter().map(ToSql::to_value).collect()
            }
        }
    )*};
}
array_params!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);

/// Parameters from an iterator over borrowed values (a query built at run time).
#[derive(Debug, Clone)]
pub(crate) struct ParamsFromIter<'x>(Vec<ValueRef<'x>>);

/// The values `iter` borrows as a statement's parameters.
pub(crate) fn params_from_iter<'x, T, I>(iter: I) -> ParamsFromIter<'x>
where
    T: ToSql + 'x,
    I: Iterator<Item = &'x T>,
{
    ParamsFromIter(iter.map(|v| v.to_value()).collect())
}

impl Params for ParamsFromIter<'_> {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.0.clone()
    }
}

/// Statement parameters from a list of expressions, each bound by reference:
/// `params![id, name, now]`.
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::db::ToSql]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::db::ToSql),+] as &[&dyn $crate::db::ToSql]
    };
}
pub(crate) use params;

/// A value a column decodes into.
pub(crate) trait FromSql: Sized {
    /// Decodes `value` (of column `idx`, for the error).
    fn from_sql(value: &Value, idx: usize) -> DbResult<Self>;
}

fn wrong_type(idx: usize, expected: &str, found: &Value) -> DbError {
    let found = match found {
        Value::Null => "NULL",
        Value::Integer(_) => "an integer",
        Value::Real(_) => "a real",
        Value::Text(_) => "a text",
        Value::Blob(_) => "a blob",
    };
    DbError::conversion(idx, format!("expected {expected}, found {found}"))
}

impl FromSql for i64 {
    fn from_sql(value: &Value, idx: usize) -> DbResult<Self> {
        match value {
            Value::Integer(v) => Ok(*v),
            other => Err(wrong_type(idx, "an integer", other)),
        }
    }
}

macro_rules! narrow_int_from_sql {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_sql(value: &Value, idx: usize) -> DbResult<Self> {
                let v = i64::from_sql(value, idx)?;
                <$t>::try_from(v).map_err(|_| DbError::conversion(idx, format!("value {v} out of range")))
            }
        }
    )*};
}
narrow_int_from_sql!(i32, u16, u32, u64, usize);

impl FromSql for bool {
    fn from_sql(value: &Value, idx: usize) -> DbResult<Self> {
        i64::from_sql(value, idx).map(|v| v != 0)
    }
}

impl FromSql for f64 {
    fn from_sql(value: &Value, idx: usize) -> DbResult<Self> {
        match value {
            Value::Real(v) => Ok(*v),
            Value::Integer(v) => Ok(*v as f64),
            other => Err(wrong_type(idx, "a real", other)),
        }
    }
}

impl FromSql for String {
    fn from_sql(value: &Value, idx: usize) -> DbResult<Self> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            other => Err(wrong_type(idx, "a text", other)),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(value: &Value, idx: usize) -> DbResult<Self> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(wrong_type(idx, "a blob", other)),
        }
    }
}

impl FromSql for Value {
    fn from_sql(value: &Value, _idx: usize) -> DbResult<Self> {
        Ok(value.clone())
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(value: &Value, idx: usize) -> DbResult<Self> {
        match value {
            Value::Null => Ok(None),
            other => T::from_sql(other, idx).map(Some),
        }
    }
}

/// A column index (columns are addressed by position).
pub(crate) trait RowIndex {
    /// The position.
    fn index(&self) -> usize;
}

impl RowIndex for usize {
    fn index(&self) -> usize {
        *self
    }
}

/// One result row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row<'r> {
    values: &'r [Value],
}

impl<'r> Row<'r> {
    /// Column `idx` decoded as `T`.
    pub(crate) fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> DbResult<T> {
        let idx = idx.index();
        match self.values.get(idx) {
            Some(v) => T::from_sql(v, idx),
            None => Err(DbError::conversion(idx, "no such column")),
        }
    }
}

/// `query_row` answers without a row turned into `None`.
pub(crate) trait OptionalExtension<T> {
    /// `Ok(None)` for [`DbError::NoRows`].
    fn optional(self) -> DbResult<Option<T>>;
}

impl<T> OptionalExtension<T> for DbResult<T> {
    fn optional(self) -> DbResult<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A connection inside a transaction, on either backend.
pub enum Conn<'a> {
    /// A SQLite connection (its transaction was begun by the store).
    Sqlite(&'a rusqlite::Connection),
    /// A PostgreSQL connection (its transaction was begun by the store).
    Postgres(RefCell<&'a mut PgConnection>),
}

impl fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Conn").field(&self.dialect()).finish()
    }
}

impl<'a> Conn<'a> {
    /// The backend's dialect.
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement; returns the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: impl Params) -> DbResult<usize> {
        let values = params.values();
        match self {
            Conn::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(values.iter()))?)
            }
            Conn::Postgres(conn) => {
                let bound: Vec<PgParam<'_>> = values.iter().map(|v| PgParam(*v)).collect();
                let mut conn = conn.borrow_mut();
                let statement = conn.statement(sql)?;
                let n = conn.client.execute(&statement, &pg_refs(&bound))?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs several statements separated by `;`, without parameters (schema).
    pub(crate) fn execute_batch(&self, sql: &str) -> DbResult<()> {
        match self {
            Conn::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Conn::Postgres(conn) => Ok(conn.borrow_mut().client.batch_execute(sql)?),
        }
    }

    /// Every row of a query, as values.
    pub(crate) fn query_values(&self, sql: &str, params: impl Params) -> DbResult<Vec<Vec<Value>>> {
        let values = params.values();
        match self {
            Conn::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let columns = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut vals = Vec::with_capacity(columns);
                    for i in 0..columns {
                        vals.push(sqlite_value(row.get_ref(i)?));
                    }
                    out.push(vals);
                }
                Ok(out)
            }
            Conn::Postgres(conn) => {
                let bound: Vec<PgParam<'_>> = values.iter().map(|v| PgParam(*v)).collect();
                let mut conn = conn.borrow_mut();
                let statement = conn.statement(sql)?;
                let rows = conn.client.query(&statement, &pg_refs(&bound))?;
                rows.iter()
                    .map(|row| (0..row.len()).map(|i| pg_value(row, i)).collect())
                    .collect()
            }
        }
    }

    /// The first row of a query through `f`; [`DbError::NoRows`] when there is none.
    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<T> {
        let rows = self.query_values(sql, params)?;
        match rows.first() {
            Some(values) => f(&Row { values }),
            None => Err(DbError::NoRows),
        }
    }

    /// A statement to run (possibly several times).
    pub(crate) fn prepare<'c>(&'c self, sql: &str) -> DbResult<Statement<'c, 'a>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_string(),
        })
    }

    /// True when the table exists (in the connection's schema).
    pub(crate) fn table_exists(&self, table: &str) -> DbResult<bool> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1"
            }
            Dialect::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = CAST(?1 AS TEXT)"
            }
        };
        let n: i64 = self.query_row(sql, [table], |r| r.get(0))?;
        Ok(n > 0)
    }
}

/// A statement of a [`Conn`].
#[derive(Debug)]
pub(crate) struct Statement<'c, 'a> {
    conn: &'c Conn<'a>,
    sql: String,
}

impl Statement<'_, '_> {
    /// Every row through `f`.
    pub(crate) fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<std::vec::IntoIter<DbResult<T>>> {
        let rows = self.conn.query_values(&self.sql, params)?;
        Ok(rows
            .iter()
            .map(|values| f(&Row { values }))
            .collect::<Vec<_>>()
            .into_iter())
    }

    /// The rows, to step through.
    pub(crate) fn query(&mut self, params: impl Params) -> DbResult<Rows> {
        Ok(Rows {
            rows: self.conn.query_values(&self.sql, params)?,
            next: 0,
        })
    }

    /// Runs the statement; returns the number of rows it changed.
    pub(crate) fn execute(&mut self, params: impl Params) -> DbResult<usize> {
        self.conn.execute(&self.sql, params)
    }
}

/// The rows of a query.
#[derive(Debug)]
pub(crate) struct Rows {
    rows: Vec<Vec<Value>>,
    next: usize,
}

impl Rows {
    /// The next row, `None` after the last.
    pub(crate) fn next(&mut self) -> DbResult<Option<Row<'_>>> {
        let row = self.rows.get(self.next).map(|values| Row { values });
        self.next += 1;
        Ok(row)
    }
}

impl rusqlite::ToSql for ValueRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as V};
        Ok(ToSqlOutput::Borrowed(match *self {
            ValueRef::Null => V::Null,
            ValueRef::Integer(i) => V::Integer(i),
            ValueRef::Real(r) => V::Real(r),
            ValueRef::Text(s) => V::Text(s.as_bytes()),
            ValueRef::Blob(b) => V::Blob(b),
        }))
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef as V;
    match v {
        V::Null => Value::Null,
        V::Integer(i) => Value::Integer(i),
        V::Real(r) => Value::Real(r),
        V::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        V::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Statements a PostgreSQL connection keeps prepared, at most: SQL built at run
/// time (filters, `LIMIT`s) would otherwise grow the cache without end.
const STATEMENT_CACHE: usize = 256;

/// A pooled PostgreSQL connection and the statements it prepared (each prepared
/// once per connection: a query is one round trip instead of two).
pub struct PgConnection {
    pub(crate) client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnection")
            .field("prepared", &self.statements.len())
            .finish_non_exhaustive()
    }
}

impl PgConnection {
    /// The prepared statement of `sql` (in the repositories' dialect).
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let prepared = self.client.prepare(&postgres_sql(sql))?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }
}

/// The pool's manager of [`PgConnection`]s.
#[derive(Debug)]
pub(crate) struct PgManager(pub(crate) r2d2_postgres::PostgresConnectionManager<postgres::NoTls>);

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConnection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConnection, postgres::Error> {
        Ok(PgConnection {
            client: self.0.connect()?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}

/// The parameters as the `postgres` crate takes them.
fn pg_refs<'p>(bound: &'p [PgParam<'_>]) -> Vec<&'p (dyn postgres::types::ToSql + Sync)> {
    bound
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

/// A value bound to a PostgreSQL parameter of whichever type the server inferred.
#[derive(Debug)]
struct PgParam<'a>(ValueRef<'a>);

type BoxError = Box<dyn StdError + Sync + Send>;

impl postgres::types::ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Integer(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                Type::FLOAT8 => (v as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    v.to_string().as_str().to_sql(ty, out)
                }
                _ => Err(format!("an integer does not bind to a parameter of type {ty}").into()),
            },
            ValueRef::Real(v) => match *ty {
                Type::FLOAT8 => v.to_sql(ty, out),
                Type::FLOAT4 => (v as f32).to_sql(ty, out),
                _ => Err(format!("a real does not bind to a parameter of type {ty}").into()),
            },
            ValueRef::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.to_sql(ty, out)
                }
                _ => Err(format!("a text does not bind to a parameter of type {ty}").into()),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(format!("bytes do not bind to a parameter of type {ty}").into()),
            },
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // Checked per value in `to_sql`, where the error names the mismatch.
        true
    }

    postgres::types::to_sql_checked!();
}

fn pg_value(row: &postgres::Row, i: usize) -> DbResult<Value> {
    let ty = row.columns()[i].type_().clone();
    let v = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Value::Integer(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map(|v| Value::Integer(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)?
            .map(|v| Value::Integer(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)?
            .map(|v| Value::Real(v.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            row.try_get::<_, Option<String>>(i)?.map(Value::Text)
        }
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
        other => {
            return Err(DbError::conversion(
                i,
                format!("unsupported PostgreSQL type {other} (cast it to BIGINT or TEXT)"),
            ))
        }
    };
    Ok(v.unwrap_or(Value::Null))
}

/// `sql` with SQLite's `?N` (and bare `?`) placeholders as PostgreSQL's `$N`;
/// quoted texts and identifiers are left alone.
pub(crate) fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut next_anon = 1usize;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next_anon.to_string());
                    next_anon += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_dollars_outside_quotes() {
        assert_eq!(
            postgres_sql("SELECT a FROM t WHERE b = ?1 AND c LIKE ?12 ESCAPE '\\' AND d = '?3'"),
            "SELECT a FROM t WHERE b = $1 AND c LIKE $12 ESCAPE '\\' AND d = '?3'"
        );
        assert_eq!(postgres_sql("VALUES (?, ?)"), "VALUES ($1, $2)");
        assert_eq!(
            postgres_sql("SELECT \"a?\" , 'it''s ?'"),
            "SELECT \"a?\" , 'it''s ?'"
        );
    }

    #[test]
    fn sqlite_values_round_trip_through_the_neutral_types() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let conn = Conn::Sqlite(&db);
        conn.execute_batch("CREATE TABLE t (i INTEGER, s TEXT, b BLOB, n TEXT)")
            .unwrap();
        let blob = vec![1u8, 2, 3];
        let none: Option<String> = None;
        conn.execute(
            "INSERT INTO t (i, s, b, n) VALUES (?1, ?2, ?3, ?4)",
            params![42i64, "x", blob, none],
        )
        .unwrap();
        let (i, s, b, n): (i64, String, Vec<u8>, Option<String>) = conn
            .query_row("SELECT i, s, b, n FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!((i, s.as_str(), b, n), (42, "x", vec![1, 2, 3], None));
        let err = conn
            .query_row("SELECT s FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert!(err.to_string().contains("expected an integer"), "{err}");
        assert!(matches!(
            conn.query_row("SELECT i FROM t WHERE i = 0", [], |r| r.get::<_, i64>(0)),
            Err(DbError::NoRows)
        ));
    }
}
