//! Reading a model file: TOML into the raw shape, then every check, each problem a diagnostic.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;

use toml::Spanned;

use super::raw::{self, Name, OneOrMany, RawField, RawModel, StringOr};
use super::*;
use crate::rule::{self, RuleKind, Scope};

/// A model file that cannot be used: every problem found, each with file, line and column.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ModelError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {d}")?;
        }
        Ok(())
    }
}

/// Names of tables offboard keeps for itself.
const RESERVED_TABLES: [&str; 2] = [CUSTOMERS_TABLE, "offboard"];

struct Loader<'a> {
    file: &'a str,
    src: &'a str,
    errors: Vec<Diagnostic>,
}

impl Loader<'_> {
    fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.errors
            .push(Diagnostic::at(self.file, self.src, span, msg));
    }

    /// Checks that `name` is a lower-case identifier usable as a table or column name.
    fn ident(&mut self, name: &Name, what: &str) -> bool {
        let s = name.get_ref();
        let ok = s.len() <= 48
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            self.err(
                name.span(),
                format!(
                    "{what} `{s}` must start with a-z and use only a-z, 0-9 and _ (at most 48)"
                ),
            );
        }
        ok
    }

    fn one_of<T: Copy>(
        &mut self,
        value: &Option<Spanned<String>>,
        options: &[(&str, T)],
        default: T,
        what: &str,
    ) -> T {
        let Some(v) = value else { return default };
        match options.iter().find(|(n, _)| n == v.get_ref()) {
            Some((_, t)) => *t,
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.err(
                    v.span(),
                    format!(
                        "unknown {what} `{}`; expected one of: {}",
                        v.get_ref(),
                        names.join(", ")
                    ),
                );
                default
            }
        }
    }

    fn field(&mut self, name: &Name, spec: &Spanned<StringOr<RawField>>) -> Option<Field> {
        if !self.ident(name, "field name") {
            return None;
        }
        let (ty_name, values, demo, label, personal, identifying) = match spec.get_ref() {
            StringOr::Str(t) => (
                t.as_str(),
                None,
                raw::RawFieldDemo::default(),
                None,
                false,
                false,
            ),
            StringOr::Table(t) => (
                t.ty.as_str(),
                t.values.clone(),
                t.demo.clone().unwrap_or_default(),
                t.label.clone(),
                t.personal,
                t.identifying,
            ),
        };
        if label.as_deref().is_some_and(|l| l.trim().is_empty()) {
            self.err(
                spec.span(),
                format!("`label` of `{}` is empty", name.get_ref()),
            );
        }
        let Some(ty) = FieldType::parse(ty_name) else {
            let names: Vec<&str> = FieldType::ALL.iter().map(|t| t.name()).collect();
            self.err(
                spec.span(),
                format!(
                    "field `{}` has unknown type `{ty_name}`; expected one of: {}",
                    name.get_ref(),
                    names.join(", ")
                ),
            );
            return None;
        };
        if values.as_ref().is_some_and(|v| v.is_empty()) {
            self.err(
                spec.span(),
                format!(
                    "`values` of `{}` is empty: list the values the field may hold, or leave `values` out",
                    name.get_ref()
                ),
            );
        }
        if values.is_some() && ty != FieldType::Text {
            self.err(
                spec.span(),
                format!(
                    "`values` applies to text fields; `{}` is {ty}",
                    name.get_ref()
                ),
            );
        }
        Some(Field {
            name: name.get_ref().clone(),
            label: label.filter(|l| !l.trim().is_empty()),
            ty,
            values,
            // An identifying value is personal too.
            personal: personal || identifying,
            identifying,
            demo: FieldDemo {
                values: demo.values.unwrap_or_default(),
                weights: demo.weights.unwrap_or_default(),
                min: demo.min,
                max: demo.max,
                zero: demo.zero.unwrap_or(0.0),
                null: demo.null.unwrap_or(0.0),
                gen: demo.gen,
            },
        })
    }

    fn kinds_in(&mut self, list: &Option<Vec<Name>>, kinds: &[String], what: &str) -> Vec<String> {
        let mut out = Vec::new();
        for k in list.iter().flatten() {
            if kinds.contains(k.get_ref()) {
                out.push(k.get_ref().clone());
            } else {
                self.err(
                    k.span(),
                    format!(
                        "{what}: unknown customer kind `{}`; kinds are: {}",
                        k.get_ref(),
                        kinds.join(", ")
                    ),
                );
            }
        }
        out
    }
}

/// Where a TOML string's text starts, given the span of the whole string value.
fn content_start(src: &str, span: &Range<usize>) -> usize {
    let rest = &src[span.start.min(src.len())..];
    if rest.starts_with("'''") || rest.starts_with("\"\"\"") {
        let after = span.start + 3;
        match src[after..].chars().next() {
            Some('\n') => after + 1,
            _ if src[after..].starts_with("\r\n") => after + 2,
            _ => after,
        }
    } else {
        span.start + 1
    }
}

/// The fields a rule may name: one table's columns, and qualified ones of a second kind.
struct TableScope {
    kind: String,
    columns: Vec<(String, FieldType)>,
    qualified: Option<(String, Vec<(String, FieldType)>)>,
}

impl TableScope {
    fn new(kind: &str, cols: Vec<Column>) -> Self {
        TableScope {
            kind: kind.to_string(),
            columns: cols.into_iter().map(|c| (c.name, c.ty)).collect(),
            qualified: None,
        }
    }

    fn cols(&self, qualifier: Option<&str>) -> Option<&[(String, FieldType)]> {
        match qualifier {
            None => Some(&self.columns),
            Some(q) => match &self.qualified {
                Some((name, cols)) if name == q => Some(cols),
                _ => None,
            },
        }
    }
}

impl Scope for TableScope {
    fn field(&self, qualifier: Option<&str>, name: &str) -> Option<FieldType> {
        self.cols(qualifier)?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }

    fn field_names(&self, qualifier: Option<&str>) -> Vec<String> {
        self.cols(qualifier)
            .map(|c| c.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    fn kind_name(&self, qualifier: Option<&str>) -> String {
        qualifier.unwrap_or(&self.kind).to_string()
    }
}

impl Model {
    /// Reads a model file from disk.
    pub fn load(path: &std::path::Path) -> Result<Model, ModelError> {
        let file = path.display().to_string();
        let one = |line: usize, column: usize, message: String| ModelError {
            diagnostics: vec![Diagnostic {
                file: file.clone(),
                line,
                column,
                message,
                snippet: String::new(),
            }],
        };
        let bytes = std::fs::read(path)
            .map_err(|e| one(0, 0, format!("cannot read the model file: {e}")))?;
        let src = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                // Where the first byte that is not UTF-8 text is.
                let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = 1 + good.iter().filter(|b| **b == b'\n').count();
                let column = 1 + good.iter().rev().take_while(|b| **b != b'\n').count();
                return Err(one(
                    line,
                    column,
                    "this is not a text file: a model file is UTF-8 TOML (is it the database?)"
                        .into(),
                ));
            }
        };
        Model::parse(&file, &src)
    }

    /// Parses and checks a model file's text; `file` names it in diagnostics.
    pub fn parse(file: &str, src: &str) -> Result<Model, ModelError> {
        let mut l = Loader {
            file,
            src,
            errors: Vec::new(),
        };
        let raw: RawModel = match toml::from_str(src) {
            Ok(r) => r,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message = match e.message().trim() {
                    "" => {
                        // Some parse errors carry their words only in the full text, after
                        // the snippet; the last line that is not part of it.
                        let full = e.to_string();
                        full.lines()
                            .rev()
                            .map(str::trim)
                            .find(|l| {
                                !l.is_empty()
                                    && !l.contains('|')
                                    && !l.starts_with("TOML parse error")
                            })
                            .map(str::to_string)
                            .unwrap_or_else(|| {
                                "this is not valid TOML here (a value is missing?)".into()
                            })
                    }
                    m => m.to_string(),
                };
                l.err(span, message);
                return Err(ModelError {
                    diagnostics: l.errors,
                });
            }
        };
        let model = build(&mut l, raw);
        if l.errors.is_empty() {
            Ok(Model {
                source: src.to_string(),
                ..model
            })
        } else {
            Err(ModelError {
                diagnostics: l.errors,
            })
        }
    }
}

fn build(l: &mut Loader, raw: RawModel) -> Model {
    let m = &raw.model;
    let delete = l.one_of(
        &m.delete,
        &[
            ("soft", DeleteMode::Soft),
            ("hard", DeleteMode::Hard),
            ("deactivate", DeleteMode::Deactivate),
        ],
        DeleteMode::Soft,
        "delete mode",
    );
    let purge = l.one_of(
        &m.purge,
        &[
            ("per-customer", PurgeMode::PerCustomer),
            ("all-or-nothing", PurgeMode::AllOrNothing),
            ("none", PurgeMode::None),
        ],
        PurgeMode::PerCustomer,
        "purge mode",
    );
    let views = [
        ("active", View::Active),
        ("deactivated", View::Deactivated),
        ("current", View::Current),
        ("deleted", View::Deleted),
        ("all", View::All),
    ];
    let default_view = l.one_of(&m.default_view, &views, View::Active, "view");

    let customer = build_customer(l, &raw.customer);
    let records = build_records(l, &raw.record, &customer);
    let currency = m.currency.as_ref().and_then(|c| {
        let code = c.get_ref().trim();
        if code.is_empty() || code.chars().count() > 8 {
            l.err(
                c.span(),
                format!("`currency` is `{code}`; give a currency code such as EUR or USD"),
            );
            None
        } else {
            Some(code.to_string())
        }
    });
    let mut model = Model {
        name: m.name.get_ref().clone(),
        currency,
        delete,
        purge,
        purge_retention_days: m.purge_retention_days,
        default_view,
        customer,
        records,
        rules: Vec::new(),
        permissions: Permissions {
            allowed: Vec::new(),
        },
        tombstone: Vec::new(),
        keep_requests_days: DEFAULT_KEEP_REQUESTS_DAYS,
        schedules: Vec::new(),
        source: String::new(),
    };
    model.rules = build_rules(l, &raw.rule, &model);
    model.permissions = build_permissions(l, &raw.permissions);
    model.tombstone = build_tombstone(l, raw.privacy.as_ref(), &model);
    if let Some(days) = raw
        .privacy
        .as_ref()
        .and_then(|p| p.get_ref().keep_requests_days.as_ref())
    {
        match u32::try_from(*days.get_ref()) {
            Ok(d) if (1..=3650).contains(&d) => model.keep_requests_days = d,
            _ => l.err(
                days.span(),
                format!(
                    "keep_requests_days is {}: a closed privacy request keeps its requester's contact for 1 to 3650 days",
                    days.get_ref()
                ),
            ),
        }
    }
    model.schedules = build_schedules(l, &raw.schedule, &model);
    model
}

/// `[[schedule]]`s: each checked — a known operation and period, a customer condition in the
/// rule language, an age counted from a date column — so a schedule never fails at 3 a.m.
/// for what the model file could have said at load.
fn build_schedules(
    l: &mut Loader,
    raw: &[Spanned<raw::RawSchedule>],
    model: &Model,
) -> Vec<Schedule> {
    let customer_cols = model.customer.columns();
    let scope = TableScope::new("customer", customer_cols.clone());
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for spanned in raw {
        let r = spanned.get_ref();
        let id = r.id.get_ref().clone();
        if !seen.insert(id.clone()) {
            l.err(r.id.span(), format!("schedule `{id}` is defined twice"));
            continue;
        }
        let Some(run) = ScheduleRun::parse(r.run.get_ref()) else {
            let names: Vec<&str> = ScheduleRun::ALL.iter().map(|x| x.name()).collect();
            l.err(
                r.run.span(),
                format!(
                    "schedule `{id}`: `{}` is not an operation a schedule runs; use {}",
                    r.run.get_ref(),
                    names.join(", ")
                ),
            );
            continue;
        };
        let every = match &r.every {
            None => Every::Day,
            Some(e) => match Every::parse(e.get_ref()) {
                Some(e) => e,
                None => {
                    l.err(
                        e.span(),
                        format!(
                            "schedule `{id}`: `every = \"{}\"` is not a period; use hour, day, week or month",
                            e.get_ref()
                        ),
                    );
                    Every::Day
                }
            },
        };
        let customers = r.customers.as_ref().and_then(|t| {
            match rule::compile(t.get_ref(), &scope, RuleKind::Row) {
                Ok(rule) => Some(rule),
                Err(e) => {
                    let start = content_start(l.src, &t.span());
                    l.err(
                        start + e.span.start..start + e.span.end,
                        format!("schedule `{id}`: {}", e.message),
                    );
                    None
                }
            }
        });
        let older_than = r.older_than.as_ref().and_then(|t| match Age::parse(t.get_ref()) {
            Some(a) => Some(a),
            None => {
                l.err(
                    t.span(),
                    format!(
                        "schedule `{id}`: `older_than = \"{}\"` is not a length of time; write it as \"7 years\", \"6 months\", \"2 weeks\" or \"90 days\"",
                        t.get_ref()
                    ),
                );
                None
            }
        });
        let since = match (&r.since, &r.older_than) {
            (Some(s), _) => match customer_cols.iter().find(|c| &c.name == s.get_ref()) {
                Some(c) if matches!(c.ty, FieldType::Date | FieldType::DateTime) => {
                    Some(c.name.clone())
                }
                Some(c) => {
                    l.err(
                        s.span(),
                        format!(
                            "schedule `{id}`: `since` must be a date or date-time column; `{}` is {}",
                            c.name, c.ty
                        ),
                    );
                    None
                }
                None => {
                    let dates: Vec<&str> = customer_cols
                        .iter()
                        .filter(|c| matches!(c.ty, FieldType::Date | FieldType::DateTime))
                        .map(|c| c.name.as_str())
                        .collect();
                    l.err(
                        s.span(),
                        format!(
                            "schedule `{id}`: customers have no column `{}`; date columns are: {}",
                            s.get_ref(),
                            dates.join(", ")
                        ),
                    );
                    None
                }
            },
            (None, Some(t)) => {
                l.err(
                    t.span(),
                    format!("schedule `{id}`: `older_than` counts from a date; name it with `since = \"deactivated_on\"` (or another date column)"),
                );
                None
            }
            (None, None) => None,
        };
        if r.since.is_some() && r.older_than.is_none() {
            l.err(
                r.id.span(),
                format!("schedule `{id}`: `since` needs `older_than` (how long ago)"),
            );
        }
        if run.selects() {
            if r.customers.is_none() && r.older_than.is_none() {
                l.err(
                    r.id.span(),
                    format!(
                        "schedule `{id}` would {} every customer; say which with `customers = \"...\"` and/or `older_than` and `since`",
                        run.name()
                    ),
                );
            }
        } else {
            for (present, key) in [
                (r.customers.is_some(), "customers"),
                (r.older_than.is_some(), "older_than"),
                (r.since.is_some(), "since"),
            ] {
                if present {
                    let what = if run == ScheduleRun::Purge {
                        "a purge takes the recycle bin past the model's `purge_retention_days` (and forgotten customers); to erase other customers on a schedule use run = \"erase\""
                    } else {
                        "a compaction rewrites the tables, it takes no customers"
                    };
                    l.err(
                        r.run.span(),
                        format!("schedule `{id}` has `{key}`, but {what}"),
                    );
                }
            }
        }
        let reason = r.reason.as_ref().map(|t| t.get_ref().clone());
        if let Some(t) = &r.reason {
            if run != ScheduleRun::Deactivate {
                l.err(
                    t.span(),
                    format!("schedule `{id}`: only a deactivation takes a `reason`"),
                );
            }
        } else if run == ScheduleRun::Deactivate
            && model
                .customer
                .reasons
                .iter()
                .any(|(_, list)| !list.is_empty())
        {
            l.err(
                r.id.span(),
                format!(
                    "schedule `{id}` deactivates, so it needs a `reason` from the model's list"
                ),
            );
        }
        let mut roles_from = |name: &Option<Name>| match name {
            None => Vec::new(),
            Some(role) => match Role::parse(role.get_ref()) {
                Some(min) => Role::ALL.into_iter().filter(|x| *x >= min).collect(),
                None => {
                    l.err(
                        role.span(),
                        format!(
                            "schedule `{id}`: unknown role `{}`; roles are: viewer, clerk, manager, admin",
                            role.get_ref()
                        ),
                    );
                    Vec::new()
                }
            },
        };
        let review = roles_from(&r.review);
        let force = roles_from(&r.force);
        if !review.is_empty() && run == ScheduleRun::Compact {
            l.err(
                r.id.span(),
                format!("schedule `{id}`: a compaction changes no customer, so there is nothing to review"),
            );
        }
        out.push(Schedule {
            label: r.label.clone().unwrap_or_else(|| id.clone()),
            id,
            run,
            every,
            customers,
            older_than,
            since,
            reason,
            review,
            force,
        });
    }
    out
}

/// How long a closed privacy request keeps the requester's contact when the model does not say.
pub const DEFAULT_KEEP_REQUESTS_DAYS: u32 = 365;

/// `[privacy] tombstone`: customer columns an erased customer keeps besides id, number and
/// kind — its name, a field or a link column of its own.
fn build_tombstone(
    l: &mut Loader,
    raw: Option<&Spanned<raw::RawPrivacy>>,
    model: &Model,
) -> Vec<String> {
    let Some(p) = raw else {
        return Vec::new();
    };
    let mut known: Vec<String> = vec!["name".into(), "email".into()];
    known.extend(model.customer.fields.iter().map(|f| f.name.clone()));
    known.extend(model.customer.links.iter().map(|k| k.link.column.clone()));
    let mut out = Vec::new();
    for n in &p.get_ref().tombstone {
        if ["id", "number", "kind"].contains(&n.get_ref().as_str()) {
            continue;
        }
        if !known.contains(n.get_ref()) {
            l.err(
                n.span(),
                format!(
                    "the tombstone keeps `{}`, which is not a customer column; columns: {}",
                    n.get_ref(),
                    known.join(", ")
                ),
            );
        } else if !out.contains(n.get_ref()) {
            out.push(n.get_ref().clone());
        }
    }
    out
}

fn build_customer(l: &mut Loader, raw: &Spanned<raw::RawCustomer>) -> CustomerModel {
    let c = raw.get_ref();
    let mut kinds = Vec::new();
    for k in &c.kinds {
        if l.ident(k, "customer kind") {
            if kinds.contains(k.get_ref()) {
                l.err(
                    k.span(),
                    format!("customer kind `{}` is listed twice", k.get_ref()),
                );
            }
            kinds.push(k.get_ref().clone());
        }
    }
    if kinds.is_empty() {
        l.err(
            raw.span(),
            "[customer] needs at least one kind, e.g. kinds = [\"company\", \"person\"]",
        );
    }
    let mut taken: HashSet<String> = CUSTOMER_CORE_COLUMNS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let mut links = Vec::new();
    for (name, spec) in &c.links {
        if !l.ident(name, "link name") {
            continue;
        }
        let s = spec.get_ref();
        let column = format!("{}_id", name.get_ref());
        if !taken.insert(column.clone()) {
            l.err(
                name.span(),
                format!(
                    "link `{}` makes column `{column}`, which exists already",
                    name.get_ref()
                ),
            );
        }
        let on_erase = l.one_of(
            &s.on_erase,
            &[("block", LinkErase::Block), ("detach", LinkErase::Detach)],
            LinkErase::Block,
            "on_erase for a customer link",
        );
        links.push(CustomerLink {
            link: Link {
                name: name.get_ref().clone(),
                column,
                target: Target::Customer,
                on_erase,
                demo: s.demo.unwrap_or(0.0),
            },
            label: s.label.clone().filter(|t| !t.trim().is_empty()),
            kinds: l.kinds_in(&s.kinds, &kinds, "kinds"),
            target_kinds: l.kinds_in(&s.target_kinds, &kinds, "target_kinds"),
        });
    }
    let mut fields = Vec::new();
    for (name, spec) in &c.fields {
        if !taken.insert(name.get_ref().clone()) {
            l.err(
                name.span(),
                format!(
                    "customer field `{}` clashes with a built-in column or link",
                    name.get_ref()
                ),
            );
            continue;
        }
        fields.extend(l.field(name, spec));
    }
    let mut reasons = Vec::new();
    for (kind, list) in &c.reasons {
        if !kinds.contains(kind.get_ref()) {
            l.err(
                kind.span(),
                format!(
                    "reasons for unknown customer kind `{}`; kinds are: {}",
                    kind.get_ref(),
                    kinds.join(", ")
                ),
            );
        }
        reasons.push((kind.get_ref().clone(), list.clone()));
    }
    // Personal data among the built-in columns: the name and the email.
    let core = |l: &mut Loader, list: &[Name], what: &str| -> Vec<String> {
        let mut out = Vec::new();
        for n in list {
            if n.get_ref() != "name" && n.get_ref() != "email" {
                l.err(
                    n.span(),
                    format!(
                        "`{}` in [customer] {what} is not a built-in column that holds personal data; built-in: name, email (mark a field of your own with `{what} = true`)",
                        n.get_ref()
                    ),
                );
            } else if !out.contains(n.get_ref()) {
                out.push(n.get_ref().clone());
            }
        }
        out
    };
    let identifying = core(l, &c.identifying, "identifying");
    let mut personal = core(l, &c.personal, "personal");
    for i in &identifying {
        if !personal.contains(i) {
            personal.push(i.clone());
        }
    }
    let (prefix, width) = c.number.as_ref().map_or((String::from("C"), 8), |n| {
        (n.prefix.clone(), n.width.clamp(1, 18))
    });
    let demo = c.demo.as_ref();
    CustomerModel {
        demo_kinds: demo
            .map(|d| d.kinds.iter().map(|(k, w)| (k.clone(), *w)).collect())
            .filter(|v: &Vec<_>| !v.is_empty())
            .unwrap_or_else(|| kinds.iter().map(|k| (k.clone(), 1)).collect()),
        demo_status: demo
            .map(|d| d.status.iter().map(|(k, w)| (k.clone(), *w)).collect())
            .filter(|v: &Vec<_>| !v.is_empty())
            .unwrap_or_else(|| {
                vec![
                    ("active".into(), 85),
                    ("deactivated".into(), 5),
                    ("deleted".into(), 10),
                ]
            }),
        kinds,
        number_prefix: prefix,
        number_width: width,
        fields,
        links,
        reasons,
        personal,
        identifying,
    }
}

fn build_records(
    l: &mut Loader,
    raw: &BTreeMap<Name, Spanned<raw::RawRecord>>,
    customer: &CustomerModel,
) -> Vec<RecordKind> {
    let names: Vec<&String> = raw.keys().map(|k| k.get_ref()).collect();
    let target = |l: &mut Loader, t: &Name| -> Option<Target> {
        if t.get_ref() == "customer" {
            Some(Target::Customer)
        } else if names.contains(&t.get_ref()) {
            Some(Target::Record(t.get_ref().clone()))
        } else {
            let list: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
            l.err(
                t.span(),
                format!(
                    "unknown kind `{}`: a link points at \"customer\" or a record kind ({})",
                    t.get_ref(),
                    list.join(", ")
                ),
            );
            None
        }
    };
    let mut kinds = Vec::new();
    let mut spans = BTreeMap::new();
    if let Some((name, _)) = raw.iter().nth(MAX_KINDS) {
        l.err(
            name.span(),
            format!(
                "a model has at most {MAX_KINDS} record kinds; this one has {}",
                raw.len()
            ),
        );
    }
    for (name, rec) in raw {
        if !l.ident(name, "record kind") {
            continue;
        }
        let columns = 1 + rec.get_ref().links.len() + rec.get_ref().fields.len();
        if columns > MAX_COLUMNS {
            l.err(
                name.span(),
                format!(
                    "record kind `{}` has {columns} columns; a table has at most {MAX_COLUMNS}",
                    name.get_ref()
                ),
            );
        }
        if RESERVED_TABLES
            .iter()
            .any(|r| name.get_ref() == r || name.get_ref().starts_with("offboard_"))
        {
            l.err(
                name.span(),
                format!(
                    "`{}` is reserved for offboard's own tables; choose another name",
                    name.get_ref()
                ),
            );
            continue;
        }
        let r = rec.get_ref();
        let mut taken: HashSet<String> = HashSet::from(["id".to_string()]);
        let Some(owner_target) = target(l, &r.owner) else {
            continue;
        };
        let owner_name = r.owner_link.as_ref().map_or_else(
            || {
                if owner_target == Target::Customer {
                    "customer".to_string()
                } else {
                    r.owner.get_ref().clone()
                }
            },
            |n| n.get_ref().clone(),
        );
        let owner = Link {
            column: format!("{owner_name}_id"),
            name: owner_name,
            target: owner_target,
            on_erase: LinkErase::Block,
            demo: 1.0,
        };
        taken.insert(owner.column.clone());
        let mut links = Vec::new();
        for (lname, spec) in &r.links {
            if !l.ident(lname, "link name") {
                continue;
            }
            let (t, on_erase, demo) = match spec.get_ref() {
                StringOr::Str(s) => (Spanned::new(spec.span(), s.clone()), None, 1.0),
                StringOr::Table(t) => (t.target.clone(), t.on_erase.clone(), t.demo.unwrap_or(1.0)),
            };
            let Some(t) = target(l, &t) else { continue };
            let column = format!("{}_id", lname.get_ref());
            if !taken.insert(column.clone()) {
                l.err(
                    lname.span(),
                    format!(
                        "link `{}` makes column `{column}`, which exists already",
                        lname.get_ref()
                    ),
                );
            }
            let on_erase = l.one_of(
                &on_erase,
                &[("block", LinkErase::Block), ("detach", LinkErase::Detach)],
                LinkErase::Block,
                "on_erase for a link",
            );
            links.push(Link {
                name: lname.get_ref().clone(),
                column,
                target: t,
                on_erase,
                demo,
            });
        }
        let mut fields = Vec::new();
        for (fname, spec) in &r.fields {
            if !taken.insert(fname.get_ref().clone()) {
                l.err(
                    fname.span(),
                    format!(
                        "field `{}` of `{}` is declared twice or clashes with a link column",
                        fname.get_ref(),
                        name.get_ref()
                    ),
                );
                continue;
            }
            fields.extend(l.field(fname, spec));
        }
        let on_erase = l.one_of(
            &r.on_erase,
            &[
                ("block", OnErase::Block),
                ("cascade", OnErase::Cascade),
                ("detach", OnErase::Detach),
            ],
            OnErase::Block,
            "on_erase",
        );
        let mut order_by = Vec::new();
        for f in r.order_by.iter().flatten() {
            if f.get_ref() == "id" || fields.iter().any(|x: &Field| &x.name == f.get_ref()) {
                order_by.push(f.get_ref().clone());
            } else {
                l.err(
                    f.span(),
                    format!(
                        "order_by: `{}` has no field `{}`",
                        name.get_ref(),
                        f.get_ref()
                    ),
                );
            }
        }
        let numbered = r.numbered.as_ref().and_then(|n| {
            let nr = n.get_ref();
            let per_owner = match nr.per.as_ref().map(|p| p.get_ref().as_str()) {
                None | Some("all") => false,
                Some("owner") => true,
                Some(other) => {
                    l.err(
                        n.span(),
                        format!("numbered.per must be \"owner\" or \"all\", not `{other}`"),
                    );
                    false
                }
            };
            match fields.iter().find(|f| &f.name == nr.field.get_ref()) {
                Some(f)
                    if f.ty == FieldType::Int && (nr.prefix.is_some() || nr.width.is_some()) =>
                {
                    l.err(
                        n.span(),
                        format!(
                            "numbered field `{}` is an int: a prefix and width need a text field",
                            f.name
                        ),
                    );
                    None
                }
                Some(f) if matches!(f.ty, FieldType::Int | FieldType::Text) => Some(Numbered {
                    field: f.name.clone(),
                    per_owner,
                    text: f.ty == FieldType::Text,
                    prefix: nr.prefix.clone().unwrap_or_default(),
                    width: nr.width.unwrap_or(1).clamp(1, 18),
                    reuse: nr.reuse.unwrap_or(false),
                }),
                Some(f) => {
                    l.err(
                        nr.field.span(),
                        format!(
                            "numbered field `{}` must be int or text, not {}",
                            f.name, f.ty
                        ),
                    );
                    None
                }
                None => {
                    l.err(
                        nr.field.span(),
                        format!(
                            "numbered: `{}` has no field `{}`",
                            name.get_ref(),
                            nr.field.get_ref()
                        ),
                    );
                    None
                }
            }
        });
        if r.transferable
            && owner.target == Target::Customer
            && numbered.as_ref().is_some_and(|n| n.per_owner)
        {
            l.err(
                r.owner.span(),
                format!(
                    "`{}` is numbered per customer and transferable: its numbers would meet the other customer's; number it across the kind (per = \"all\") or leave it with its customer",
                    name.get_ref()
                ),
            );
        }
        spans.insert(name.get_ref().clone(), r.owner.span());
        kinds.push(RecordKind {
            name: name.get_ref().clone(),
            label: r.label.clone().filter(|l| !l.trim().is_empty()),
            owner,
            links,
            fields,
            on_erase,
            transferable: r.transferable,
            order_by,
            numbered,
            permissions: {
                let p = build_permissions(l, &r.permissions);
                for (op, _) in p.allowed.iter().filter(|(o, _)| !o.is_record_op()) {
                    if let Some((name, _)) = r
                        .permissions
                        .iter()
                        .find(|(n, _)| Operation::parse(n.get_ref()) == Some(*op))
                    {
                        l.err(
                            name.span(),
                            format!(
                                "`{}` is not a record operation; a record kind's permissions are record_create, record_edit and record_delete",
                                name.get_ref()
                            ),
                        );
                    }
                }
                p.allowed.into_iter().filter(|(o, _)| o.is_record_op()).collect()
            },
            demo_weights: r
                .demo
                .as_ref()
                .map_or_else(|| vec![1, 1, 1], |d| d.weights.clone()),
        });
    }
    let _ = customer;
    order_kinds(l, kinds, &spans)
}

/// Orders kinds so that every kind comes after the kinds it links to; a cycle is an error.
fn order_kinds(
    l: &mut Loader,
    mut pending: Vec<RecordKind>,
    spans: &BTreeMap<String, Range<usize>>,
) -> Vec<RecordKind> {
    let mut done: Vec<RecordKind> = Vec::new();
    while !pending.is_empty() {
        let ready = |k: &RecordKind, done: &[RecordKind]| {
            k.all_links().all(|lk| match &lk.target {
                Target::Customer => true,
                Target::Record(t) => done.iter().any(|d| &d.name == t),
            })
        };
        let before = pending.len();
        let mut i = 0;
        while i < pending.len() {
            if ready(&pending[i], &done) {
                done.push(pending.remove(i));
            } else {
                i += 1;
            }
        }
        if pending.len() == before {
            let names: Vec<&str> = pending.iter().map(|k| k.name.as_str()).collect();
            let span = spans.get(&pending[0].name).cloned().unwrap_or(0..0);
            l.err(
                span,
                format!(
                    "ownership or links form a cycle among: {}",
                    names.join(", ")
                ),
            );
            break;
        }
    }
    done
}

fn build_rules(l: &mut Loader, raw: &[Spanned<raw::RawRule>], model: &Model) -> Vec<RuleDef> {
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    let customer_cols = model.customer.columns();
    for spanned in raw {
        let r = spanned.get_ref();
        let id = r.id.get_ref();
        if !ids.insert(id.clone()) {
            l.err(r.id.span(), format!("rule id `{id}` is used twice"));
        }
        let mut on = Vec::new();
        for o in &r.on {
            match Operation::parse(o.get_ref()) {
                Some(op @ (Operation::Deactivate | Operation::Delete | Operation::Purge | Operation::Transfer)) => on.push(op),
                _ => l.err(o.span(), format!("rule `{id}`: `{}` is not an operation rules apply to; use deactivate, delete, purge or transfer", o.get_ref())),
            }
        }
        // Which rows the rule reads, and the scope its expressions are checked against.
        let (subject, scope, kind) = match (&r.kind, &r.customers) {
            (Some(_), Some(c)) | (None, Some(c)) if r.kind.is_some() => {
                l.err(
                    c.span(),
                    format!("rule `{id}` names both `kind` and `customers`; give one"),
                );
                continue;
            }
            (None, Some(link)) => {
                if !model
                    .customer
                    .links
                    .iter()
                    .any(|cl| &cl.link.name == link.get_ref())
                {
                    let names: Vec<&str> = model
                        .customer
                        .links
                        .iter()
                        .map(|c| c.link.name.as_str())
                        .collect();
                    l.err(
                        link.span(),
                        format!(
                            "rule `{id}`: customers have no link `{}`; links are: {}",
                            link.get_ref(),
                            names.join(", ")
                        ),
                    );
                    continue;
                }
                (
                    RuleSubject::Customers {
                        link: link.get_ref().clone(),
                    },
                    TableScope::new("customer", customer_cols.clone()),
                    None,
                )
            }
            (Some(k), None) => {
                let Some(kind) = model.record(k.get_ref()) else {
                    let names: Vec<&str> = model.records.iter().map(|r| r.name.as_str()).collect();
                    l.err(
                        k.span(),
                        format!(
                            "rule `{id}`: unknown record kind `{}`; kinds are: {}",
                            k.get_ref(),
                            names.join(", ")
                        ),
                    );
                    continue;
                };
                let mut scope = TableScope::new(&kind.name, kind.columns());
                let subject = if let Some(rec) = &r.record {
                    let Some(subject_kind) = model.record(rec.get_ref()) else {
                        l.err(
                            rec.span(),
                            format!("rule `{id}`: unknown record kind `{}`", rec.get_ref()),
                        );
                        continue;
                    };
                    match r.scope.as_ref().map(|s| s.get_ref().as_str()) {
                        Some("siblings") if subject_kind.owner.target == kind.owner.target => {}
                        Some("siblings") => {
                            l.err(rec.span(), format!("rule `{id}`: `{}` and `{}` have different owners, so they are not siblings", subject_kind.name, kind.name));
                            continue;
                        }
                        _ => {
                            l.err(
                                spanned.span(),
                                format!(
                                    "rule `{id}` has `record`, so it needs scope = \"siblings\""
                                ),
                            );
                            continue;
                        }
                    }
                    scope.qualified = Some((
                        subject_kind.name.clone(),
                        subject_kind
                            .columns()
                            .into_iter()
                            .map(|c| (c.name, c.ty))
                            .collect(),
                    ));
                    RuleSubject::Siblings {
                        record: subject_kind.name.clone(),
                        kind: kind.name.clone(),
                    }
                } else {
                    let link = match &r.link {
                        Some(lk) => match kind.all_links().find(|x| &x.name == lk.get_ref()) {
                            Some(x) if x.target == Target::Customer => Some(x.name.clone()),
                            _ => {
                                l.err(
                                    lk.span(),
                                    format!(
                                        "rule `{id}`: `{}` has no link `{}` to customers",
                                        kind.name,
                                        lk.get_ref()
                                    ),
                                );
                                continue;
                            }
                        },
                        None => None,
                    };
                    RuleSubject::Records {
                        kind: kind.name.clone(),
                        link,
                    }
                };
                (subject, scope, Some(kind))
            }
            (None, None) => {
                l.err(
                    r.id.span(),
                    format!(
                        "rule `{id}` needs `kind = \"<record kind>\"` or `customers = \"<link>\"`"
                    ),
                );
                continue;
            }
            (Some(_), Some(_)) => continue,
        };
        let mut compile = |text: &Option<Spanned<String>>, rk: RuleKind| {
            let t = text.as_ref()?;
            match rule::compile(t.get_ref(), &scope, rk) {
                Ok(r) => Some(r),
                Err(e) => {
                    let start = content_start(l.src, &t.span());
                    l.err(
                        start + e.span.start..start + e.span.end,
                        format!("rule `{id}`: {}", e.message),
                    );
                    None
                }
            }
        };
        let when = compile(&r.when, RuleKind::Row);
        let having = compile(&r.having, RuleKind::Aggregate);
        if r.when.is_none() && r.having.is_none() && !matches!(subject, RuleSubject::Records { .. })
        {
            l.err(r.id.span(), format!("rule `{id}` needs a `when` condition"));
        }
        let amount = r.amount.as_ref().and_then(|a| {
            let ty = scope.field(None, a.get_ref());
            match ty {
                Some(FieldType::Money | FieldType::Int) => Some(a.get_ref().clone()),
                Some(t) => {
                    l.err(
                        a.span(),
                        format!(
                            "rule `{id}`: amount `{}` must be money, not {t}",
                            a.get_ref()
                        ),
                    );
                    None
                }
                None => {
                    l.err(
                        a.span(),
                        format!(
                            "rule `{id}`: `{}` has no field `{}`",
                            scope.kind,
                            a.get_ref()
                        ),
                    );
                    None
                }
            }
        });
        let resolve = r.resolve.as_ref().and_then(|res| {
            let Some(kind) = kind else {
                l.err(
                    res.span(),
                    format!("rule `{id}`: only rules on records can be resolved"),
                );
                return None;
            };
            let mut complete = Vec::new();
            for (f, v) in &res.get_ref().complete {
                let Some(field) = kind.field(f.get_ref()) else {
                    l.err(
                        f.span(),
                        format!(
                            "rule `{id}`: `{}` has no field `{}`",
                            kind.name,
                            f.get_ref()
                        ),
                    );
                    continue;
                };
                let text = match v.get_ref() {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => (if *b { "1" } else { "0" }).to_string(),
                    other => format!("{other:?}"),
                };
                match Value::parse_cell(field.ty, &text) {
                    Ok(val) => complete.push((field.name.clone(), val)),
                    Err(e) => l.err(v.span(), format!("rule `{id}`: {e}")),
                }
            }
            Some(Resolve { complete })
        });
        let mut customer_kinds = Vec::new();
        for k in r.customer_kinds.iter().flatten() {
            if model.customer.kinds.contains(k.get_ref()) {
                customer_kinds.push(k.get_ref().clone());
            } else {
                l.err(
                    k.span(),
                    format!("rule `{id}`: unknown customer kind `{}`", k.get_ref()),
                );
            }
        }
        if let Some(m) = &r.message {
            let sibling = match &subject {
                RuleSubject::Siblings { record, .. } => model.record(record),
                _ => None,
            };
            if let Err(why) = check_message(m.get_ref(), amount.is_some(), sibling) {
                l.err(m.span(), format!("rule `{id}`: {why}"));
            }
        }
        out.push(RuleDef {
            id: id.clone(),
            on,
            subject,
            customer_kinds,
            when,
            having,
            message: r
                .message
                .as_ref()
                .map(|m| m.get_ref().clone())
                .unwrap_or_else(|| format!("{{count}} {id}")),
            amount,
            resolve,
        });
    }
    out
}

/// Checks a rule's message template: braces close, and each `{...}` is `{count}`, `{amount}`
/// (when the rule sums an amount), `{one|many}` words, or, for a rule on deleting a record,
/// `{kind.field}` of that record.
fn check_message(
    template: &str,
    has_amount: bool,
    record: Option<&RecordKind>,
) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("message {template:?} has a `}}` without its `{{`"));
        }
        let Some(close) = rest[open + 1..].find(['{', '}']).map(|c| open + 1 + c) else {
            return Err(format!(
                "message {template:?} has a `{{` that is not closed"
            ));
        };
        if rest[close..].starts_with('{') {
            return Err(format!(
                "message {template:?} has a `{{` that is not closed"
            ));
        }
        let inner = &rest[open + 1..close];
        let ok = match inner {
            "count" => true,
            "amount" => {
                if !has_amount {
                    return Err(format!(
                        "message {template:?} uses {{amount}}, but the rule sums no amount (add `amount = \"FIELD\"`)"
                    ));
                }
                true
            }
            _ if inner.split('|').count() == 2 => true,
            _ => match (inner.split_once('.'), record) {
                (Some((k, f)), Some(r)) => k == r.name && r.field(f).is_some(),
                _ => false,
            },
        };
        if !ok {
            let mut known = "{count}, {amount}, {one|many} words".to_string();
            if let Some(r) = record {
                known.push_str(&format!(" and {{{}.FIELD}}", r.name));
            }
            return Err(format!(
                "message {template:?} has an unknown placeholder `{{{inner}}}`; a message may use {known}"
            ));
        }
        rest = &rest[close + 1..];
    }
    Ok(())
}

/// The most record kinds a model may have, and columns a table may have: beyond these the
/// databases refuse the schema when it is applied (PostgreSQL allows 1,600 columns and locks
/// every new table in the one transaction that makes them).
const MAX_KINDS: usize = 200;
const MAX_COLUMNS: usize = 1000;

fn build_permissions(l: &mut Loader, raw: &BTreeMap<Name, Spanned<OneOrMany>>) -> Permissions {
    let mut allowed = Vec::new();
    for (op, roles) in raw {
        let Some(operation) = Operation::parse(op.get_ref()) else {
            let names: Vec<&str> = Operation::ALL.iter().map(|o| o.name()).collect();
            l.err(
                op.span(),
                format!(
                    "unknown operation `{}`; operations are: {}",
                    op.get_ref(),
                    names.join(", ")
                ),
            );
            continue;
        };
        let parse = |l: &mut Loader, r: &str| {
            let role = Role::parse(r);
            if role.is_none() {
                l.err(
                    roles.span(),
                    format!("unknown role `{r}`; roles are: viewer, clerk, manager, admin"),
                );
            }
            role
        };
        let list = match roles.get_ref() {
            OneOrMany::One(r) => parse(l, r)
                .map(|min| Role::ALL.into_iter().filter(|x| *x >= min).collect())
                .unwrap_or_default(),
            OneOrMany::Many(rs) => rs.iter().filter_map(|r| parse(l, r)).collect(),
        };
        allowed.push((operation, list));
    }
    Permissions { allowed }
}
