//! Customers: create, read, update, list with views, search and paging, sequential numbers.

use serde::Serialize;

use offboard_model::model::{Column, Model, Status, View, CUSTOMERS_TABLE};
use offboard_model::rule::Dialect;
use offboard_model::{DateTime, FieldType, Value};

use crate::db::{ph, q, Db};
use crate::error::StoreError;
use crate::Store;

/// A customer as lists and `show` return it: the core columns, then the model's links
/// (`company_id`) and extra fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub name: String,
    pub status: Status,
    pub email: Option<String>,
    pub created_at: Value,
    pub deactivated_on: Value,
    pub deactivation_reason: Option<String>,
    pub deleted_at: Value,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Customer {
    /// Its value of a list's sort column: where a keyset page after it starts (`None` when the
    /// list is sorted by id, which the id alone says).
    pub fn sort_value(&self, key: SortKey) -> Option<Value> {
        match key {
            SortKey::Id => None,
            SortKey::Number => Some(Value::Text(self.number.clone())),
            SortKey::Name => Some(Value::Text(self.name.clone())),
            SortKey::Status => Some(Value::Text(self.status.name().into())),
            SortKey::CreatedAt => Some(self.created_at.clone()),
            SortKey::DeletedAt => Some(if self.deleted_at.is_null() {
                self.created_at.clone()
            } else {
                self.deleted_at.clone()
            }),
        }
    }
}

/// The columns a customer is read with, in order.
fn read_columns(model: &Model) -> Vec<Column> {
    model
        .customer
        .columns()
        .into_iter()
        .filter(|c| c.name != "status_before_delete")
        .collect()
}

fn select_list(cols: &[Column], alias: &str) -> String {
    cols.iter()
        .map(|c| format!("{alias}.{}", q(&c.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn from_row(cols: &[Column], row: Vec<Value>) -> Customer {
    let mut c = Customer {
        id: 0,
        number: String::new(),
        kind: String::new(),
        name: String::new(),
        status: Status::Active,
        email: None,
        created_at: Value::Null,
        deactivated_on: Value::Null,
        deactivation_reason: None,
        deleted_at: Value::Null,
        fields: serde_json::Map::new(),
    };
    for (col, v) in cols.iter().zip(row) {
        match col.name.as_str() {
            "id" => c.id = v.as_i64().unwrap_or(0),
            "number" => c.number = text(&v).unwrap_or_default(),
            "kind" => c.kind = text(&v).unwrap_or_default(),
            "name" => c.name = text(&v).unwrap_or_default(),
            "status" => c.status = v.as_str().and_then(Status::parse).unwrap_or(Status::Active),
            "email" => c.email = text(&v),
            "created_at" => c.created_at = v,
            "deactivated_on" => c.deactivated_on = v,
            "deactivation_reason" => c.deactivation_reason = text(&v),
            "deleted_at" => c.deleted_at = v,
            other => {
                let json = serde_json::to_value(&v).unwrap_or(serde_json::Value::Null);
                c.fields.insert(other.to_string(), json);
            }
        }
    }
    c
}

/// What `customers list` asks for.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub view: View,
    /// Matches a name or email containing it (any case), or a number containing it (`2014` finds K002014).
    pub search: Option<String>,
    pub kind: Option<String>,
    /// At most this many (`None`: every match).
    pub limit: Option<u64>,
    pub offset: u64,
    /// The order of the list.
    pub sort: Sort,
    /// Keyset paging: only customers after this one in the list's order — its id, and (when
    /// the list is not sorted by id) its value of the sort column.
    pub after: Option<i64>,
    pub after_value: Option<Value>,
    /// Only these customers (a selection of ticked rows).
    pub ids: Option<Vec<i64>>,
}

/// What a list is sorted by (then by id, so the order is total).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Id,
    Number,
    Name,
    CreatedAt,
    Status,
    /// When it was deleted (the recycle bin's order); one deleted without a known date sorts
    /// by when it was created.
    DeletedAt,
}

impl SortKey {
    pub const NAMES: &'static str =
        "id, number, name, created_at, status, deleted_at (a leading - sorts descending)";

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::Number => "number",
            SortKey::Name => "name",
            SortKey::CreatedAt => "created_at",
            SortKey::Status => "status",
            SortKey::DeletedAt => "deleted_at",
        }
    }

    /// What the list is ordered by, in SQL over `customers c`.
    fn expr(self) -> String {
        match self {
            SortKey::DeletedAt => "COALESCE(c.deleted_at, c.created_at)".into(),
            k => format!("c.{}", q(k.name())),
        }
    }

    /// Whether an index of its own serves the order (SQLite then walks it).
    fn indexed(self) -> bool {
        !matches!(self, SortKey::Id | SortKey::DeletedAt)
    }

    /// The column's type, for a cursor's value.
    pub fn field_type(self) -> FieldType {
        match self {
            SortKey::Id => FieldType::Int,
            SortKey::CreatedAt | SortKey::DeletedAt => FieldType::DateTime,
            _ => FieldType::Text,
        }
    }
}

/// A list's order: a key and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    /// `name`, `-name` (descending), ...
    pub fn parse(s: &str) -> Option<Sort> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let key = [
            SortKey::Id,
            SortKey::Number,
            SortKey::Name,
            SortKey::CreatedAt,
            SortKey::Status,
            SortKey::DeletedAt,
        ]
        .into_iter()
        .find(|k| k.name() == name)?;
        Some(Sort { key, descending })
    }

    /// As `parse` reads it.
    pub fn name(self) -> String {
        format!(
            "{}{}",
            if self.descending { "-" } else { "" },
            self.key.name()
        )
    }
}

impl ListQuery {
    pub fn view(view: View) -> Self {
        ListQuery {
            view,
            search: None,
            kind: None,
            limit: None,
            offset: 0,
            sort: Sort::default(),
            after: None,
            after_value: None,
            ids: None,
        }
    }
}

/// A new customer: kind and name, optional number (the next free one when `None`), email and
/// other fields as text cells (`company_id = "17"`).
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub kind: String,
    pub name: String,
    pub number: Option<String>,
    pub email: Option<String>,
    pub fields: Vec<(String, String)>,
}

const NUMBER_SEQUENCE: &str = "customer_number";

/// Whether a SQLite listing can be driven by its search's full-text matches in id order (a
/// search of three characters or more, sorted by id, that is not a customer's number): the
/// index yields matches in id order and the query stops at the page's end, instead of
/// gathering every match first.
fn fts_driven(db: &mut dyn Db, query: &ListQuery) -> Result<bool, StoreError> {
    let Some(text) = query.search.as_deref() else {
        return Ok(false);
    };
    if db.dialect() != Dialect::Sqlite || query.sort.key != SortKey::Id || text.chars().count() < 3
    {
        return Ok(false);
    }
    let is_number = db.query_i64(
        "SELECT count(*) FROM customers WHERE number = ?1",
        &[Value::Text(text.to_string())],
    )?;
    Ok(is_number == 0)
}

/// A listing's query: `columns` of the matching customers in the query's order, paged.
fn list_sql_for(
    db: &mut dyn Db,
    query: &ListQuery,
    columns: &str,
) -> Result<(String, Vec<Value>), StoreError> {
    if !fts_driven(db, query)? {
        return Ok(list_sql(db.dialect(), query, columns));
    }
    let text = query.search.as_deref().unwrap_or_default();
    let (filter, mut params) = list_filter(
        Dialect::Sqlite,
        &ListQuery {
            search: None,
            ..query.clone()
        },
    );
    let found = crate::search::index_match(text, "c", &["number", "name", "email"], &mut params);
    let dir = if query.sort.descending { "DESC" } else { "ASC" };
    let mut sql = format!(
        "SELECT {columns} FROM customers_search s JOIN customers c ON c.id = s.rowid WHERE {found} AND {filter} ORDER BY s.rowid {dir}"
    );
    if let Some(limit) = query.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    } else if query.offset > 0 {
        sql.push_str(" LIMIT -1");
    }
    if query.offset > 0 {
        sql.push_str(&format!(" OFFSET {}", query.offset));
    }
    Ok((sql, params))
}

/// A listing's query: `columns` of the matching customers in the query's order, paged.
fn list_sql(dialect: Dialect, query: &ListQuery, columns: &str) -> (String, Vec<Value>) {
    // Sorted by a column of its own, SQLite walks that column's index and filters the status
    // as it goes (`+c.status`): with the status index it would sort every customer of the view.
    // (A search drives the query from its matches instead.)
    let by_index = dialect == Dialect::Sqlite && query.sort.key.indexed() && query.search.is_none();
    let (filter, params) = list_filter_as(dialect, query, by_index);
    let dir = if query.sort.descending { "DESC" } else { "ASC" };
    let order = match query.sort.key {
        SortKey::Id => format!("c.id {dir}"),
        k => format!("{} {dir}, c.id {dir}", k.expr()),
    };
    let mut sql = format!("SELECT {columns} FROM customers c WHERE {filter} ORDER BY {order}");
    if let Some(limit) = query.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    } else if query.offset > 0 && dialect == Dialect::Sqlite {
        sql.push_str(" LIMIT -1");
    }
    if query.offset > 0 {
        sql.push_str(&format!(" OFFSET {}", query.offset));
    }
    (sql, params)
}

impl Store {
    /// Reads customer `id`.
    pub fn customer(&mut self, id: i64) -> Result<Customer, StoreError> {
        self.find_customer(id)?
            .ok_or_else(|| StoreError::NotFound(format!("there is no customer with id {id}")))
    }

    /// Reads customer `id`, if it exists.
    pub fn find_customer(&mut self, id: i64) -> Result<Option<Customer>, StoreError> {
        self.customer_where("id", Value::Int(id))
    }

    /// Reads a customer by its number.
    pub fn customer_by_number(&mut self, number: &str) -> Result<Option<Customer>, StoreError> {
        self.customer_where("number", Value::Text(number.into()))
    }

    /// The customer whose unique column `col` holds `value`.
    fn customer_where(&mut self, col: &str, value: Value) -> Result<Option<Customer>, StoreError> {
        let (model, db) = self.parts();
        let cols = read_columns(model);
        let sql = format!(
            "SELECT {} FROM customers c WHERE c.{} = {}",
            select_list(&cols, "c"),
            q(col),
            ph(db.dialect(), 1)
        );
        let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
        let row = db.query(&sql, &[value], &types)?.into_iter().next();
        Ok(row.map(|r| from_row(&cols, r)))
    }

    /// Lists customers in id order, calling `each` per customer (streamed, never all in memory).
    pub fn list_customers(
        &mut self,
        query: &ListQuery,
        each: &mut dyn FnMut(Customer) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let (model, db) = self.parts();
        let cols = read_columns(model);
        let (sql, params) = list_sql_for(db, query, &select_list(&cols, "c"))?;
        let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
        db.query_each(&sql, &params, &types, &mut |row| each(from_row(&cols, row)))
    }

    /// The customers that link to customer `id`, per customer link of the model (a company's
    /// contact persons by `company`, its subsidiaries by `parent`, who it is bill-to for):
    /// (link name, at most `limit` of them by name, how many in all).
    pub fn linked_customers(
        &mut self,
        id: i64,
        limit: u64,
    ) -> Result<Vec<(String, Vec<Customer>, i64)>, StoreError> {
        let (model, db) = self.parts();
        let cols = read_columns(model);
        let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
        let p = ph(db.dialect(), 1);
        let links: Vec<(String, String)> = model
            .customer
            .links
            .iter()
            .map(|l| (l.link.name.clone(), l.link.column.clone()))
            .collect();
        let mut out = Vec::new();
        for (name, column) in links {
            let col = q(&column);
            let total = db.query_i64(
                &format!("SELECT count(*) FROM customers WHERE {col} = {p} AND id <> {p}"),
                &[Value::Int(id)],
            )?;
            if total == 0 {
                continue;
            }
            let list: Vec<Customer> = db
                .query(
                    &format!(
                        "SELECT {} FROM customers c WHERE c.{col} = {p} AND c.id <> {p} ORDER BY c.name, c.id LIMIT {limit}",
                        select_list(&cols, "c")
                    ),
                    &[Value::Int(id)],
                    &types,
                )?
                .into_iter()
                .map(|r| from_row(&cols, r))
                .collect();
            out.push((name, list, total));
        }
        Ok(out)
    }

    /// The header of [`view_rows`](Self::view_rows): every customer column, then
    /// `<kind>_count` per record kind.
    pub fn view_header(&self) -> Vec<String> {
        let model = self.model();
        let mut names: Vec<String> = read_columns(model).into_iter().map(|c| c.name).collect();
        names.extend(model.records.iter().map(|k| format!("{}_count", k.name)));
        names
    }

    /// The customers a query matches (its paging ignored), each row with every customer
    /// column and then its number of records per kind ([`view_header`](Self::view_header)),
    /// streamed to `each`. Returns the rows written.
    pub fn view_rows(
        &mut self,
        query: &ListQuery,
        each: &mut dyn FnMut(&[Value]) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let (model, db) = self.parts();
        let cols = read_columns(model);
        let mut columns = select_list(&cols, "c");
        for kind in &model.records {
            let (from, cust) = crate::records::customer_path(model, kind);
            columns.push_str(&format!(
                ", (SELECT count(*) FROM {from} WHERE {cust} = c.id)"
            ));
        }
        let mut types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
        types.extend(model.records.iter().map(|_| FieldType::Int));
        let whole = ListQuery {
            limit: None,
            offset: 0,
            after: None,
            after_value: None,
            ..query.clone()
        };
        let (sql, params) = list_sql_for(db, &whole, &columns)?;
        let mut n = 0;
        db.query_each(&sql, &params, &types, &mut |row| {
            n += 1;
            each(&row)
        })?;
        Ok(n)
    }

    /// The ids a query matches, in id order (a bulk operation's selection: only the ids are
    /// read).
    pub fn customer_ids(&mut self, query: &ListQuery) -> Result<Vec<i64>, StoreError> {
        let db = self.db();
        let (sql, params) = list_sql_for(db, query, "c.id")?;
        let mut ids = Vec::new();
        db.query_each(&sql, &params, &[FieldType::Int], &mut |row| {
            ids.extend(row.first().and_then(Value::as_i64));
            Ok(())
        })?;
        Ok(ids)
    }

    /// Suggestions for a picker: at most `limit` customers of `view` whose number starts with
    /// `text` or whose name or email contains it, best first (indexed: see `search.rs`).
    pub fn suggest_customers(
        &mut self,
        text: &str,
        view: View,
        limit: u32,
    ) -> Result<Vec<Customer>, StoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let statuses: Vec<&str> = view.statuses().iter().map(|s| s.name()).collect();
        let ids = crate::search::suggest(self.db(), text, &statuses, limit.clamp(1, 50))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The suggested customers in one query, then in the suggestion's order.
        let (model, db) = self.parts();
        let cols = read_columns(model);
        let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
        let marks: Vec<String> = (1..=ids.len()).map(|n| ph(db.dialect(), n)).collect();
        let params: Vec<Value> = ids.iter().map(|id| Value::Int(*id)).collect();
        let mut out: Vec<Customer> = db
            .query(
                &format!(
                    "SELECT {} FROM customers c WHERE c.id IN ({})",
                    select_list(&cols, "c"),
                    marks.join(", ")
                ),
                &params,
                &types,
            )?
            .into_iter()
            .map(|r| from_row(&cols, r))
            .collect();
        out.sort_by_key(|c| ids.iter().position(|id| *id == c.id));
        Ok(out)
    }

    /// How many customers a query matches, ignoring paging, counting at most `cap`: (the
    /// count, whether it is exact). Past the cap a list says "more than" instead of counting a
    /// million rows for every page.
    pub fn count_customers_capped(
        &mut self,
        query: &ListQuery,
        cap: i64,
    ) -> Result<(i64, bool), StoreError> {
        let db = self.db();
        // The matches counted as they come, up to the cap (a search that every customer
        // matches stops there rather than gathering a million matches first).
        let whole = ListQuery {
            limit: Some(cap.max(0) as u64 + 1),
            offset: 0,
            sort: Sort::default(),
            after: None,
            after_value: None,
            ..query.clone()
        };
        let (rows, params) = list_sql_for(db, &whole, "1")?;
        let n = db.query_i64(&format!("SELECT count(*) FROM ({rows}) x"), &params)?;
        Ok((n.min(cap), n <= cap))
    }

    /// How many customers a query matches, ignoring paging.
    pub fn count_customers(&mut self, query: &ListQuery) -> Result<i64, StoreError> {
        let db = self.db();
        let (filter, params) = list_filter(db.dialect(), query);
        db.query_i64(
            &format!("SELECT count(*) FROM customers c WHERE {filter}"),
            &params,
        )
    }

    /// Creates a customer; the number is the next in sequence unless given, and a number in use
    /// is refused.
    pub fn create_customer(&mut self, new: NewCustomer) -> Result<Customer, StoreError> {
        let (model, db) = self.parts();
        if !model.customer.kinds.contains(&new.kind) {
            return Err(StoreError::Invalid(format!(
                "unknown customer kind `{}`; kinds are: {}",
                new.kind,
                model.customer.kinds.join(", ")
            )));
        }
        if new.name.trim().is_empty() {
            return Err(StoreError::Invalid("a customer needs a name".into()));
        }
        // `--set email=...` is the email too.
        let mut email = new.email.clone();
        let mut fields = Vec::new();
        for (k, v) in &new.fields {
            match k.as_str() {
                "email" => email = Some(v.clone()).filter(|v| !v.is_empty()),
                _ => fields.push((k.clone(), v.clone())),
            }
        }
        if let Some(e) = &email {
            check_email(e)?;
        }
        let mut cols = vec![
            ("kind".to_string(), Value::Text(new.kind.clone())),
            ("name".to_string(), Value::Text(new.name.clone())),
            (
                "status".to_string(),
                Value::Text(Status::Active.name().into()),
            ),
            ("email".to_string(), email.map_or(Value::Null, Value::Text)),
            ("created_at".to_string(), Value::DateTime(DateTime::now())),
        ];
        cols.extend(customer_cells(model, db, &new.kind, &fields)?);
        let id = db.transaction(|tx| {
            // No resurrection of an erased or forgotten person's email (or other identifying
            // value).
            let checker = crate::blocklist::Checker::new(model, tx)?;
            for (col, v) in &cols {
                if let Value::Text(t) = v {
                    checker.check(tx, col, t)?;
                }
            }
            let number = match &new.number {
                Some(n) => {
                    ensure_number_free(tx, n, None)?;
                    n.clone()
                }
                None => next_number(model, tx)?,
            };
            cols.push(("number".into(), Value::Text(number)));
            insert_returning_id(tx, CUSTOMERS_TABLE, &cols)
        })?;
        self.customer(id)
    }

    /// Changes a customer's fields (name, email, kind, number, links, extra fields), given as
    /// text cells. Deleted customers stay editable; status changes go through the lifecycle.
    pub fn update_customer(
        &mut self,
        id: i64,
        changes: &[(String, String)],
    ) -> Result<Customer, StoreError> {
        self.refresh_settings()?;
        let current = self.customer(id)?;
        let (model, db) = self.parts();
        let mut sets = Vec::new();
        let mut extra = Vec::new();
        for (k, v) in changes {
            match k.as_str() {
                "name" if v.trim().is_empty() => {
                    return Err(StoreError::Invalid("a customer needs a name".into()))
                }
                "email" if !v.is_empty() && check_email(v).is_err() => check_email(v)?,
                "name" | "email" => sets.push((
                    k.clone(),
                    if v.is_empty() {
                        Value::Null
                    } else {
                        Value::Text(v.clone())
                    },
                )),
                "kind" if !model.customer.kinds.contains(v) => {
                    return Err(StoreError::Invalid(format!(
                        "unknown customer kind `{v}`; kinds are: {}",
                        model.customer.kinds.join(", ")
                    )))
                }
                "kind" => sets.push((k.clone(), Value::Text(v.clone()))),
                "number" => {
                    ensure_number_free(db, v, Some(id))?;
                    sets.push((k.clone(), Value::Text(v.clone())));
                }
                "id"
                | "status"
                | "created_at"
                | "deactivated_on"
                | "deactivation_reason"
                | "deleted_at"
                | "status_before_delete" => {
                    return Err(StoreError::Invalid(format!(
                        "`{k}` cannot be edited; the lifecycle commands change it"
                    )))
                }
                _ => extra.push((k.clone(), v.clone())),
            }
        }
        let kind = sets
            .iter()
            .find(|(k, _)| k == "kind")
            .and_then(|(_, v)| v.as_str().map(str::to_string))
            .unwrap_or(current.kind.clone());
        let linked = customer_cells(model, db, &kind, &extra)?;
        if kind != current.kind {
            kind_fits_links(model, db, &current, &kind, &linked)?;
            if let Some(r) = &current.deactivation_reason {
                let list = model.customer.reasons_for(&kind);
                if !list.is_empty() && !list.contains(r) {
                    return Err(StoreError::Refused(format!(
                        "customer {} cannot become a {kind}: its deactivation reason {r:?} is not one for a {kind} ({}); reactivate it first",
                        current.id,
                        list.join(", ")
                    )));
                }
            }
        }
        for (col, v) in &linked {
            let hierarchy = model
                .customer
                .links
                .iter()
                .any(|l| &l.link.column == col && l.is_hierarchy());
            if let (true, Some(target)) = (hierarchy, v.as_i64()) {
                no_loop(db, id, col, target)?;
            }
        }
        if linked
            .iter()
            .any(|(c, v)| v.as_i64() == Some(id) && c.ends_with("_id"))
        {
            return Err(StoreError::Invalid(format!(
                "customer {id} cannot link to itself"
            )));
        }
        sets.extend(linked);
        if sets.is_empty() {
            return Ok(current);
        }
        let d = db.dialect();
        let assigns: Vec<String> = sets
            .iter()
            .enumerate()
            .map(|(i, (c, _))| format!("{} = {}", q(c), ph(d, i + 1)))
            .collect();
        let changed: Vec<(String, String)> = sets
            .iter()
            .filter_map(|(c, v)| v.as_str().map(|t| (c.clone(), t.to_string())))
            .collect();
        let mut params: Vec<Value> = sets.into_iter().map(|(_, v)| v).collect();
        params.push(Value::Int(id));
        let sql = format!(
            "UPDATE customers SET {} WHERE id = {}",
            assigns.join(", "),
            ph(d, params.len())
        );
        db.transaction(|tx| {
            // No resurrection through an edit either.
            let checker = crate::blocklist::Checker::new(model, tx)?;
            for (col, text) in &changed {
                checker.check(tx, col, text)?;
            }
            tx.execute(&sql, &params)
        })?;
        self.customer(id)
    }
}

/// The WHERE clause and parameters of a list query.
fn list_filter(d: Dialect, query: &ListQuery) -> (String, Vec<Value>) {
    list_filter_as(d, query, false)
}

/// [`list_filter`], with `+c.status` (no index on it) when `by_index`.
fn list_filter_as(d: Dialect, query: &ListQuery, by_index: bool) -> (String, Vec<Value>) {
    let mut params: Vec<Value> = Vec::new();
    let push = |params: &mut Vec<Value>, v: Value| {
        params.push(v);
        ph(d, params.len())
    };
    let statuses: Vec<String> = query
        .view
        .statuses()
        .iter()
        .map(|s| push(&mut params, Value::Text(s.name().into())))
        .collect();
    let mut filter = format!(
        "{}c.status IN ({})",
        if by_index { "+" } else { "" },
        statuses.join(", ")
    );
    if let Some(kind) = &query.kind {
        let p = push(&mut params, Value::Text(kind.clone()));
        filter.push_str(&format!(" AND c.kind = {p}"));
    }
    if let Some(ids) = &query.ids {
        let list: Vec<String> = ids
            .iter()
            .map(|id| push(&mut params, Value::Int(*id)))
            .collect();
        if list.is_empty() {
            filter.push_str(" AND 1 = 0");
        } else {
            filter.push_str(&format!(" AND c.id IN ({})", list.join(", ")));
        }
    }
    if let Some(s) = query.search.as_deref().filter(|s| !s.is_empty()) {
        let cond = crate::search::condition(d, s, true, &mut params);
        filter.push_str(&format!(" AND {cond}"));
    }
    if let Some(after) = query.after {
        let cmp = if query.sort.descending { "<" } else { ">" };
        match (query.sort.key, &query.after_value) {
            (SortKey::Id, _) | (_, None) => {
                let p = push(&mut params, Value::Int(after));
                filter.push_str(&format!(" AND c.id {cmp} {p}"));
            }
            (k, Some(v)) => {
                let pv = push(&mut params, v.clone());
                let pid = push(&mut params, Value::Int(after));
                filter.push_str(&format!(" AND ({}, c.id) {cmp} ({pv}, {pid})", k.expr()));
            }
        }
    }
    (filter, params)
}

/// Refuses a link that would close a loop: following `col` up from `target` must not come
/// back to `id` (a company that is its own grandparent).
fn no_loop(db: &mut dyn Db, id: i64, col: &str, target: i64) -> Result<(), StoreError> {
    let d = db.dialect();
    let mut at = target;
    for _ in 0..1000 {
        if at == id {
            return Err(StoreError::Invalid(format!(
                "`{col}`: customer {target} is already under customer {id} through `{col}`; the link would make a loop"
            )));
        }
        let next = db
            .query_value(
                &format!("SELECT {} FROM customers WHERE id = {}", q(col), ph(d, 1)),
                &[Value::Int(at)],
                FieldType::Int,
            )?
            .and_then(|v| v.as_i64());
        match next {
            Some(n) => at = n,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// A customer's kind may change only where its links still fit: the links it holds are
/// for the new kind (a person's company), and the customers linking to it may point at
/// that kind (contacts point at a company).
fn kind_fits_links(
    model: &Model,
    db: &mut dyn Db,
    current: &Customer,
    kind: &str,
    changed: &[(String, Value)],
) -> Result<(), StoreError> {
    let d = db.dialect();
    for cl in &model.customer.links {
        let col = &cl.link.column;
        let held = match changed.iter().find(|(c, _)| c == col) {
            Some((_, v)) => !matches!(v, Value::Null),
            None => current.fields.get(col).is_some_and(|v| !v.is_null()),
        };
        if held && !cl.kinds.is_empty() && !cl.kinds.iter().any(|k| k == kind) {
            return Err(StoreError::Refused(format!(
                "customer {} cannot become a {kind}: a {kind} has no `{}` link (only {}); clear `{col}` first",
                current.id,
                cl.link.name,
                cl.kinds.join(", ")
            )));
        }
        if cl.target_kinds.is_empty() || cl.target_kinds.iter().any(|k| k == kind) {
            continue;
        }
        let n = db.query_i64(
            &format!(
                "SELECT count(*) FROM customers WHERE {} = {}",
                q(col),
                ph(d, 1)
            ),
            &[Value::Int(current.id)],
        )?;
        if n > 0 {
            return Err(StoreError::Refused(format!(
                "customer {} cannot become a {kind}: {n} customer(s) link to it as their {}, which must be a {}",
                current.id,
                cl.link.name,
                cl.target_kinds.join(" or ")
            )));
        }
    }
    Ok(())
}

/// Refuses what cannot be an email address: one `@`, something before it, a domain with a
/// dot after it, no spaces.
pub fn check_email(text: &str) -> Result<(), StoreError> {
    let ok = match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "`email`: {text:?} is not an email address (like name@example.com)"
        )))
    }
}

/// Checks and converts a customer's link and extra-field cells.
fn customer_cells(
    model: &Model,
    db: &mut dyn Db,
    kind: &str,
    cells: &[(String, String)],
) -> Result<Vec<(String, Value)>, StoreError> {
    let mut out = Vec::new();
    for (name, text) in cells {
        if let Some(link) = model
            .customer
            .links
            .iter()
            .find(|l| &l.link.column == name || &l.link.name == name)
        {
            let value = Value::parse_cell(FieldType::Int, text)
                .map_err(|e| StoreError::Invalid(format!("`{name}`: {e}")))?;
            if let Some(target_id) = value.as_i64() {
                if !link.kinds.is_empty() && !link.kinds.iter().any(|k| k == kind) {
                    return Err(StoreError::Invalid(format!(
                        "a {kind} has no `{}` link (only {})",
                        link.link.name,
                        link.kinds.join(", ")
                    )));
                }
                let d = db.dialect();
                let row = db.query(
                    &format!("SELECT kind, status FROM customers WHERE id = {}", ph(d, 1)),
                    &[Value::Int(target_id)],
                    &[FieldType::Text, FieldType::Text],
                )?;
                let Some([tkind, status]) = row
                    .into_iter()
                    .next()
                    .and_then(|r| <[Value; 2]>::try_from(r).ok())
                else {
                    return Err(StoreError::NotFound(format!(
                        "`{name}`: there is no customer with id {target_id}"
                    )));
                };
                if status.as_str().and_then(Status::parse) == Some(Status::Deleted) {
                    return Err(StoreError::Refused(format!(
                        "`{name}`: customer {target_id} is deleted; undelete it first or choose another"
                    )));
                }
                let tkind = tkind.as_str().unwrap_or_default();
                if !link.target_kinds.is_empty() && !link.target_kinds.iter().any(|k| k == tkind) {
                    return Err(StoreError::Invalid(format!(
                        "`{name}` must point at a {}, but customer {target_id} is a {tkind}",
                        link.target_kinds.join(" or ")
                    )));
                }
            }
            out.push((link.link.column.clone(), value));
        } else if let Some(field) = model.customer.fields.iter().find(|f| &f.name == name) {
            let value = Value::parse_cell(field.ty, text)
                .map_err(|e| StoreError::Invalid(format!("`{name}`: {e}")))?;
            out.push((field.name.clone(), value));
        } else {
            let mut names: Vec<&str> = vec!["name", "email", "kind", "number"];
            names.extend(model.customer.links.iter().map(|l| l.link.column.as_str()));
            names.extend(model.customer.fields.iter().map(|f| f.name.as_str()));
            return Err(StoreError::Invalid(format!(
                "customers have no field `{name}`; fields are: {}",
                names.join(", ")
            )));
        }
    }
    Ok(out)
}

/// Refuses a customer number that another customer holds.
fn ensure_number_free(
    db: &mut dyn Db,
    number: &str,
    except: Option<i64>,
) -> Result<(), StoreError> {
    if number.trim().is_empty() {
        return Err(StoreError::Invalid(
            "a customer number cannot be empty".into(),
        ));
    }
    let d = db.dialect();
    let holder = db.query_value(
        &format!("SELECT id FROM customers WHERE number = {}", ph(d, 1)),
        &[Value::Text(number.into())],
        FieldType::Int,
    )?;
    match holder.and_then(|v| v.as_i64()) {
        Some(id) if Some(id) != except => {
            return Err(StoreError::Refused(format!(
                "customer number {number} is in use by customer {id}"
            )))
        }
        _ => {}
    }
    // A merged-away customer's number resolves to its survivor: it is not given again.
    if let Some(into) = db
        .query_value(
            &format!(
                "SELECT into_id FROM offboard_merged WHERE number = {}",
                ph(d, 1)
            ),
            &[Value::Text(number.into())],
            FieldType::Int,
        )?
        .and_then(|v| v.as_i64())
    {
        return Err(StoreError::Refused(format!(
            "customer number {number} belonged to a customer merged into customer {into}; it is not given again"
        )));
    }
    Ok(())
}

impl crate::Store {
    /// The customer a merged-away customer (by id) now resolves to.
    pub fn merged_into(&mut self, id: i64) -> Result<Option<i64>, StoreError> {
        let d = self.db().dialect();
        Ok(self
            .db()
            .query_value(
                &format!(
                    "SELECT into_id FROM offboard_merged WHERE id = {}",
                    ph(d, 1)
                ),
                &[Value::Int(id)],
                FieldType::Int,
            )?
            .and_then(|v| v.as_i64()))
    }

    /// The customer a merged-away customer (by number) now resolves to.
    pub fn merged_number_into(&mut self, number: &str) -> Result<Option<i64>, StoreError> {
        let d = self.db().dialect();
        Ok(self
            .db()
            .query_value(
                &format!(
                    "SELECT into_id FROM offboard_merged WHERE number = {}",
                    ph(d, 1)
                ),
                &[Value::Text(number.into())],
                FieldType::Int,
            )?
            .and_then(|v| v.as_i64()))
    }
}

/// Takes the next number from the customer sequence, skipping numbers given by hand.
fn next_number(model: &Model, db: &mut dyn Db) -> Result<String, StoreError> {
    let d = db.dialect();
    let mut n = db.query_i64(
        &format!(
            "SELECT next FROM offboard_sequences WHERE name = {}",
            ph(d, 1)
        ),
        &[Value::Text(NUMBER_SEQUENCE.into())],
    )?;
    if n == 0 {
        n = 1 + max_number(model, db)?;
    }
    loop {
        let number = model.customer.format_number(n);
        let taken = db.query_i64(
            &format!(
                "SELECT (SELECT count(*) FROM customers WHERE number = {0}) + (SELECT count(*) FROM offboard_merged WHERE number = {0})",
                ph(d, 1)
            ),
            &[Value::Text(number.clone())],
        )?;
        n += 1;
        if taken == 0 {
            set_sequence(db, NUMBER_SEQUENCE, n)?;
            return Ok(number);
        }
    }
}

/// The largest sequence part among customer numbers in the model's format.
pub(crate) fn max_number(model: &Model, db: &mut dyn Db) -> Result<i64, StoreError> {
    let mut max = 0;
    db.query_each(
        "SELECT number FROM customers",
        &[],
        &[FieldType::Text],
        &mut |r| {
            if let Some(n) = r[0].as_str().and_then(|s| model.customer.parse_number(s)) {
                max = max.max(n);
            }
            Ok(())
        },
    )?;
    Ok(max)
}

/// Sets a sequence's next value.
pub(crate) fn set_sequence(db: &mut dyn Db, name: &str, next: i64) -> Result<(), StoreError> {
    let d = db.dialect();
    db.execute(
        &format!(
            "INSERT INTO offboard_sequences (name, next) VALUES ({}, {}) ON CONFLICT (name) DO UPDATE SET next = excluded.next",
            ph(d, 1),
            ph(d, 2)
        ),
        &[Value::Text(name.into()), Value::Int(next)],
    )?;
    Ok(())
}

/// Inserts a row and returns its id.
pub(crate) fn insert_returning_id(
    db: &mut dyn Db,
    table: &str,
    cols: &[(String, Value)],
) -> Result<i64, StoreError> {
    let d = db.dialect();
    let names: Vec<String> = cols.iter().map(|(c, _)| q(c)).collect();
    let marks: Vec<String> = (1..=cols.len()).map(|i| ph(d, i)).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}) RETURNING id",
        q(table),
        names.join(", "),
        marks.join(", ")
    );
    let params: Vec<Value> = cols.iter().map(|(_, v)| v.clone()).collect();
    let id = db.query_i64(&sql, &params)?;
    Ok(id)
}
