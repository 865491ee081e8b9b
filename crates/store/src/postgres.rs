//! The PostgreSQL backend (the synchronous `postgres` client), with binary COPY for bulk loads.

use std::error::Error;

use bytes::BytesMut;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use offboard_model::rule::Dialect;
use offboard_model::{Date, DateTime, FieldType, Value};

use crate::db::{coerce, q, BulkSink, Db};
use crate::error::StoreError;

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_SECS: i64 = 946_684_800;

pub struct PgDb {
    client: Client,
    depth: u32,
    audit_op: Option<i64>,
    /// Statements prepared on this connection, by their text: a statement run again is
    /// bound and executed in one round trip instead of parsed first in another.
    prepared: std::collections::HashMap<String, postgres::Statement>,
}

/// Most statements a connection keeps prepared (texts with values written in, such as a
/// page's LIMIT, would otherwise grow it without end).
const PREPARED: usize = 256;

impl PgDb {
    pub fn connect(url: &str) -> Result<PgDb, StoreError> {
        let mut client = Client::connect(url, NoTls)?;
        client.batch_execute("SET client_min_messages = WARNING")?;
        Ok(PgDb {
            client,
            depth: 0,
            audit_op: None,
            prepared: std::collections::HashMap::new(),
        })
    }

    /// The prepared statement for `sql`, prepared now if it is not yet.
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, StoreError> {
        if let Some(st) = self.prepared.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql)?;
        if self.prepared.len() >= PREPARED {
            self.prepared.clear();
        }
        self.prepared.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

type BoxError = Box<dyn Error + Sync + Send>;

#[derive(Debug)]
struct P<'a>(&'a Value);

impl ToSql for P<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Int(i) | Value::Money(i) => match *ty {
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => i.to_sql(&Type::INT8, out),
            },
            Value::Bool(b) => match *ty {
                Type::INT8 => i64::from(*b).to_sql(ty, out),
                _ => b.to_sql(&Type::BOOL, out),
            },
            Value::Date(d) => match *ty {
                Type::TIMESTAMP => pg_timestamp(d.at_midnight()).to_sql(&Type::INT8, out),
                _ => (d.days() - PG_EPOCH_DAYS).to_sql(&Type::INT4, out),
            },
            Value::DateTime(d) => match *ty {
                Type::DATE => (d.date().days() - PG_EPOCH_DAYS).to_sql(&Type::INT4, out),
                _ => pg_timestamp(*d).to_sql(&Type::INT8, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn pg_timestamp(d: DateTime) -> i64 {
    (d.seconds() - PG_EPOCH_SECS) * 1_000_000
}

struct R(Value);

impl<'a> FromSql<'a> for R {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<R, BoxError> {
        Ok(R(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::DATE => Value::Date(Date::from_days(
                i32::from_sql(&Type::INT4, raw)? + PG_EPOCH_DAYS,
            )),
            Type::TIMESTAMP => {
                let micros = i64::from_sql(&Type::INT8, raw)?;
                Value::DateTime(DateTime::from_seconds(
                    micros.div_euclid(1_000_000) + PG_EPOCH_SECS,
                ))
            }
            _ => Value::Text(<&str>::from_sql(&Type::TEXT, raw)?.to_string()),
        }))
    }

    fn from_sql_null(_: &Type) -> Result<R, BoxError> {
        Ok(R(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn params(values: &[Value]) -> Vec<P<'_>> {
    values.iter().map(P).collect()
}

impl Db for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        // A schema change may change what a prepared statement reads or returns: prepare
        // anew after one. (Transactions and temporary sets, the usual batches, keep them.)
        if sql.contains("ALTER ") || sql.contains("DROP TABLE") || sql.contains("DROP INDEX") {
            self.prepared.clear();
        }
        crate::db::trace(sql, || Ok(self.client.batch_execute(sql)?))
    }

    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64, StoreError> {
        crate::db::trace(sql, || {
            let st = self.statement(sql)?;
            crate::db::no_nul(values)?;
            let ps = params(values);
            let refs: Vec<&(dyn ToSql + Sync)> =
                ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            Ok(self.client.execute(&st, &refs)?)
        })
    }

    fn query_each(
        &mut self,
        sql: &str,
        values: &[Value],
        types: &[FieldType],
        each: &mut dyn FnMut(Vec<Value>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        crate::db::trace(sql, || {
            let st = self.statement(sql)?;
            crate::db::no_nul(values)?;
            let ps = params(values);
            let refs = ps.iter().map(|p| p as &dyn ToSql);
            let mut rows = self.client.query_raw(&st, refs)?;
            while let Some(row) = rows.next()? {
                let mut out = Vec::with_capacity(types.len());
                for (i, ty) in types.iter().enumerate() {
                    let R(v) = row.try_get(i)?;
                    out.push(coerce(v, *ty));
                }
                each(out)?;
            }
            Ok(())
        })
    }

    fn depth(&mut self) -> &mut u32 {
        &mut self.depth
    }

    fn audit_op(&mut self) -> &mut Option<i64> {
        &mut self.audit_op
    }

    fn bulk<'a>(
        &'a mut self,
        table: &str,
        columns: &[(String, FieldType)],
    ) -> Result<Box<dyn BulkSink + 'a>, StoreError> {
        let names: Vec<String> = columns.iter().map(|(c, _)| q(c)).collect();
        let types: Vec<Type> = columns
            .iter()
            .map(|(_, t)| match t {
                FieldType::Text => Type::TEXT,
                FieldType::Int | FieldType::Money => Type::INT8,
                FieldType::Bool => Type::BOOL,
                FieldType::Date => Type::DATE,
                FieldType::DateTime => Type::TIMESTAMP,
            })
            .collect();
        let sql = format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            q(table),
            names.join(", ")
        );
        let writer = self.client.copy_in(&sql)?;
        Ok(Box::new(PgSink {
            writer: BinaryCopyInWriter::new(writer, &types),
        }))
    }
}

struct PgSink<'a> {
    writer: BinaryCopyInWriter<'a>,
}

impl BulkSink for PgSink<'_> {
    fn write(&mut self, row: &[Value]) -> Result<(), StoreError> {
        crate::db::no_nul(row)?;
        let ps = params(row);
        let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.writer.write(&refs)?)
    }

    fn finish(self: Box<Self>) -> Result<u64, StoreError> {
        Ok(self.writer.finish()?)
    }
}
